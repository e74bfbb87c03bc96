// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import './adminjs-environment.ts';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ActionContext, ActionRequest, ParamsType, RecordActionResponse, ResourceWithOptions } from 'adminjs';
import { ValidationError } from 'adminjs';
import { organizationStream } from '../../domain/organizations/organization.ts';
import { planStream, type PlanLimits } from '../../domain/plans/plan.ts';
import { staffMay, type StaffPermission } from '../../domain/staff/staff-permissions.ts';
import { userStream } from '../../domain/users/user.ts';
import { workflowStream } from '../../domain/workflows/workflow.ts';
import { executionStream } from '../../domain/workflows/execution.ts';
import { staffStream } from '../../domain/staff/staff-member.ts';
import { parkedEventStream, readModelStream } from '../../domain/operations/operations.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { StaffConsole, StaffRequest } from '../../command-api/staff/staff-console.ts';
import type { SignedInStaff } from '../../command-api/staff/staff-accounts.ts';
import { OrganizationViewSchema } from '../../projectors/organizations/organization-view.ts';
import { PlanViewSchema } from '../../projectors/plans/plan-view.ts';
import { UserViewSchema } from '../../projectors/users/user-view.ts';
import { ExecutionViewSchema, WorkflowViewSchema } from '../../projectors/workflows/workflow-views.ts';
import { ParkedEventSchema } from '../../projectors/runner/runner-tables.ts';
import { StaffViewSchema } from '../../projectors/staff/staff-view.ts';
import { HistoryResource } from './history-resource.ts';
import { ProjectionsResource, type ProjectionsSource } from './projections-resource.ts';
import { commandOf, ReadModelResource, staffOf } from './read-model-resource.ts';

export interface ConsoleResourceDeps {
  orm: MikroORM;
  streams: { readStream(streamId: string): Promise<RecordedEvent[]> };
  staffConsole: StaffConsole;
  projections: ProjectionsSource;
  /** Waits for the named projections to reach a command's position (bounded). */
  settle(projections: readonly string[], position: string | null): Promise<void>;
  /** Keeps an impersonation token for one viewing by the staff member who asked; returns where to view it. */
  holdImpersonation(staff: SignedInStaff, grant: { organizationId: string; accessToken: string; expiresAt: string }): Promise<string>;
  /** Correlation id, IP and user agent of the console request that runs an action. */
  requestOf(context: ActionContext, staff: SignedInStaff): StaffRequest;
}

const may = (permission: StaffPermission) => ({ currentAdmin }: { currentAdmin?: unknown }) =>
  Boolean(currentAdmin && staffMay((currentAdmin as SignedInStaff).role, permission));

const readOnly = {
  new: { isAccessible: false },
  edit: { isAccessible: false },
  delete: { isAccessible: false },
  bulkDelete: { isAccessible: false },
};

const ROOT = '/admin';

/** The record action that opens a record's history: the events of its stream, newest first. */
function historyAction(streamOf: (id: string) => string) {
  return {
    actionType: 'record' as const,
    icon: 'Clock',
    component: false as const,
    isAccessible: may('console:read'),
    handler: async (_request: ActionRequest, _response: unknown, context: ActionContext): Promise<RecordActionResponse> => {
      const record = context.record!;
      const stream = streamOf(String(record.id()));
      return {
        record: record.toJSON(context.currentAdmin),
        redirectUrl: `${ROOT}/resources/History?filters.streamId=${encodeURIComponent(stream)}`,
      };
    },
  };
}

/** A record action that dispatches one staff command and reports the outcome as a notice. */
function commandAction(options: {
  permission: StaffPermission;
  icon: string;
  guard: string;
  isVisible?: (record: ParamsType) => boolean;
  run(context: ActionContext, staff: SignedInStaff, record: ParamsType): Promise<{ message: string; redirectUrl?: string }>;
}) {
  return {
    actionType: 'record' as const,
    icon: options.icon,
    component: false as const,
    guard: options.guard,
    isAccessible: may(options.permission),
    ...(options.isVisible ? { isVisible: ({ record }: { record?: { params: ParamsType } }) => !record || options.isVisible!(record.params) } : {}),
    // A refused command comes back as the console's error notice (AdminJS's action error handling).
    handler: async (_request: ActionRequest, _response: unknown, context: ActionContext): Promise<RecordActionResponse> => {
      const staff = staffOf(context);
      const record = context.record!;
      const outcome = await commandOf(() => options.run(context, staff, record.params));
      const fresh = (await context.resource.findOne(String(record.id()), context)) ?? record;
      return {
        record: fresh.toJSON(context.currentAdmin),
        notice: { message: outcome.message, type: 'success' },
        ...(outcome.redirectUrl ? { redirectUrl: outcome.redirectUrl } : {}),
      };
    },
  };
}

/** Form values arrive as strings: '' is "no value" (unlimited), anything else must be a whole number. */
function wholeNumberOrNull(value: unknown): number | null {
  if (value === undefined || value === null || value === '') return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : Number.NaN;
}

/** A date field as AdminJS hands it over (a Date, or the text typed): ISO text, or the text as typed. */
function dateParam(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString();
  return typeof value === 'string' ? value : '';
}

const limitPaths: Record<keyof PlanLimits, string> = {
  contacts: 'contactsLimit',
  activeWorkflows: 'activeWorkflowsLimit',
  executionsPerMonth: 'executionsPerMonthLimit',
  aiTokensPerMonth: 'aiTokensPerMonthLimit',
  seats: 'seatsLimit',
};

function limitsFrom(params: ParamsType, only?: ParamsType): Partial<PlanLimits> {
  const limits: Partial<PlanLimits> = {};
  for (const [name, path] of Object.entries(limitPaths) as [keyof PlanLimits, string][]) {
    if (path in params && (!only || wholeNumberOrNull(params[path]) !== wholeNumberOrNull(only[path]))) limits[name] = wholeNumberOrNull(params[path]);
  }
  return limits;
}

export function consoleResources(deps: ConsoleResourceDeps): ResourceWithOptions[] {
  const { orm, staffConsole } = deps;
  const settle = (projections: string[]) => (position: string | null) => deps.settle(projections, position);

  const organizations = new ReadModelResource({
    id: 'Organization',
    orm,
    entity: OrganizationViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'name', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'planId', type: 'reference', reference: 'Plan' },
      { path: 'trialEndsAt', type: 'datetime' },
      { path: 'timezone', type: 'string' },
      { path: 'ownerUserId', type: 'reference', reference: 'User' },
      { path: 'userCount', type: 'number' },
      { path: 'contactCount', type: 'number' },
      { path: 'createdAt', type: 'datetime' },
      { path: 'updatedAt', type: 'datetime' },
      { path: 'revision', type: 'number' },
    ],
    settle: settle(['organizations']),
    writes: {
      // The edit form changes the plan and the trial end: each change is its own command.
      async update(id, params, staff, current, context) {
        const request = deps.requestOf(context, staff);
        let position: string | null = null;
        const planId = typeof params.planId === 'string' ? params.planId : '';
        if (planId !== '' && planId !== current.planId) {
          position = (await staffConsole.changePlan(request, id, planId)).position ?? position;
        }
        const trialEndsAt = dateParam(params.trialEndsAt);
        if (trialEndsAt !== '' && Date.parse(trialEndsAt) !== Date.parse(String(current.trialEndsAt ?? ''))) {
          position = (await staffConsole.extendTrial(request, id, trialEndsAt)).position ?? position;
        }
        return { position };
      },
    },
  });

  const plans = new ReadModelResource({
    id: 'Plan',
    orm,
    entity: PlanViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'name', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'monthlyPriceCents', type: 'number', asText: true },
      { path: 'currency', type: 'string' },
      { path: 'contactsLimit', type: 'number', asText: true },
      { path: 'activeWorkflowsLimit', type: 'number', asText: true },
      { path: 'executionsPerMonthLimit', type: 'number', asText: true },
      { path: 'aiTokensPerMonthLimit', type: 'number', asText: true },
      { path: 'seatsLimit', type: 'number', asText: true },
      { path: 'createdAt', type: 'datetime' },
      { path: 'updatedAt', type: 'datetime' },
      { path: 'revision', type: 'number' },
    ],
    fieldNames: Object.fromEntries(Object.entries(limitPaths).map(([name, path]) => [`limits.${name}`, path])),
    settle: settle(['plans']),
    writes: {
      async create(params, staff, context) {
        const request = deps.requestOf(context, staff);
        const outcome = await staffConsole.draftPlan(request, {
          name: String(params.name ?? ''),
          monthlyPriceCents: wholeNumberOrNull(params.monthlyPriceCents) ?? Number.NaN,
          currency: String(params.currency || 'USD').toUpperCase(),
          limits: { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null, ...limitsFrom(params) },
        });
        let position = outcome.position;
        if (params.status === 'active') position = (await staffConsole.activatePlan(request, outcome.planId)).position ?? position;
        return { id: outcome.planId, position };
      },
      // Terms and status in one form: a revision, then the status move it asks for (activate or retire).
      async update(id, params, staff, current, context) {
        const request = deps.requestOf(context, staff);
        const price = 'monthlyPriceCents' in params ? wholeNumberOrNull(params.monthlyPriceCents) : undefined;
        const revised = await staffConsole.revisePlan(request, {
          planId: id,
          ...(typeof params.name === 'string' ? { name: params.name } : {}),
          ...(price !== undefined ? { monthlyPriceCents: price ?? Number.NaN } : {}),
          ...(typeof params.currency === 'string' && params.currency !== '' ? { currency: params.currency.toUpperCase() } : {}),
          limits: limitsFrom(params, current),
        });
        let position = revised.position;
        if (params.status === 'active' && current.status !== 'active') position = (await staffConsole.activatePlan(request, id)).position ?? position;
        if (params.status === 'retired' && current.status !== 'retired') position = (await staffConsole.retirePlan(request, id)).position ?? position;
        if (params.status === 'draft' && current.status !== 'draft') {
          throw new ValidationError({ status: { message: 'A plan cannot go back to draft' } }, { message: 'A plan cannot go back to draft' });
        }
        return { position };
      },
      // Plans are never deleted (organizations may be on them): deleting retires.
      async delete(id, staff, context) {
        return { position: (await staffConsole.retirePlan(deps.requestOf(context, staff), id)).position };
      },
    },
  });

  const users = new ReadModelResource({
    id: 'User',
    orm,
    entity: UserViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'email', type: 'string' },
      { path: 'name', type: 'string' },
      { path: 'organizationId', type: 'reference', reference: 'Organization' },
      { path: 'role', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'mfaEnabled', type: 'boolean' },
      { path: 'lastSignInAt', type: 'datetime' },
      { path: 'createdAt', type: 'datetime' },
    ],
  });

  const workflows = new ReadModelResource({
    id: 'Workflow',
    orm,
    entity: WorkflowViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'name', type: 'string' },
      { path: 'organizationId', type: 'reference', reference: 'Organization' },
      { path: 'status', type: 'string' },
      { path: 'version', type: 'number' },
      { path: 'triggerType', type: 'string' },
      { path: 'createdAt', type: 'datetime' },
      { path: 'updatedAt', type: 'datetime' },
    ],
  });

  const executions = new ReadModelResource({
    id: 'Execution',
    orm,
    entity: ExecutionViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'workflowId', type: 'reference', reference: 'Workflow' },
      { path: 'organizationId', type: 'reference', reference: 'Organization' },
      { path: 'status', type: 'string' },
      { path: 'currentStepId', type: 'string' },
      { path: 'error', type: 'mixed' },
      { path: 'stepCount', type: 'number' },
      { path: 'startedAt', type: 'datetime' },
      { path: 'endedAt', type: 'datetime' },
      { path: 'durationMs', type: 'number' },
    ],
  });

  const parked = new ReadModelResource({
    id: 'ParkedEvent',
    orm,
    entity: ParkedEventSchema,
    properties: [
      { path: 'id', type: 'number', isId: true },
      { path: 'projection', type: 'string' },
      { path: 'eventType', type: 'string' },
      { path: 'streamId', type: 'string' },
      { path: 'eventId', type: 'string' },
      { path: 'position', type: 'string' },
      { path: 'error', type: 'textarea' },
      { path: 'attempts', type: 'number' },
      { path: 'parkedAt', type: 'datetime' },
      { path: 'resolvedAt', type: 'datetime' },
    ],
  });

  const staff = new ReadModelResource({
    id: 'Staff',
    orm,
    entity: StaffViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'email', type: 'string' },
      { path: 'name', type: 'string' },
      { path: 'role', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'totpEnabled', type: 'boolean' },
      { path: 'lastSignInAt', type: 'datetime' },
      { path: 'createdAt', type: 'datetime' },
    ],
  });

  const tenants = { name: 'Tenants', icon: 'Briefcase' };
  const catalog = { name: 'Catalog', icon: 'ShoppingBag' };
  const activity = { name: 'Activity', icon: 'Activity' };
  const operations = { name: 'Operations', icon: 'Settings' };
  const enumOf = (...values: string[]) => ({ availableValues: values.map((value) => ({ value, label: value })) });
  const notEditable = { isVisible: { list: true, filter: true, show: true, edit: false } };
  const detailOnly = { isVisible: { list: false, filter: false, show: true, edit: false } };

  return [
    {
      resource: organizations,
      options: {
        navigation: tenants,
        listProperties: ['name', 'status', 'planId', 'trialEndsAt', 'userCount', 'contactCount', 'createdAt'],
        editProperties: ['planId', 'trialEndsAt'],
        properties: {
          status: { ...enumOf('active', 'suspended'), ...notEditable },
          name: notEditable,
          timezone: detailOnly,
          ownerUserId: detailOnly,
          revision: detailOnly,
          updatedAt: detailOnly,
          planId: { description: 'Only an active plan can be chosen' },
          trialEndsAt: { description: 'Must be later than the current trial end, and at most a year ahead' },
        },
        actions: {
          new: { isAccessible: false },
          delete: { isAccessible: false },
          bulkDelete: { isAccessible: false },
          // Support may extend trials through the form too; the plan field is refused for them by the command.
          edit: { isAccessible: ({ currentAdmin }: { currentAdmin?: unknown }) => may('tenants:extendTrial')({ currentAdmin }) },
          suspend: commandAction({
            permission: 'tenants:suspend',
            icon: 'Slash',
            guard: 'Suspend this organization? Its users can still sign in and read, but every write is refused until it is reactivated.',
            isVisible: (record) => record.status !== 'suspended',
            run: async (context, who, record) => {
              const outcome = await staffConsole.suspend(deps.requestOf(context, who), String(record.id), `suspended by ${who.email} from the staff console`);
              await deps.settle(['organizations'], outcome.position);
              return { message: `${String(record.name)} is suspended: its writes are refused` };
            },
          }),
          reactivate: commandAction({
            permission: 'tenants:suspend',
            icon: 'CheckCircle',
            guard: 'Reactivate this organization?',
            isVisible: (record) => record.status === 'suspended',
            run: async (context, who, record) => {
              const outcome = await staffConsole.reactivate(deps.requestOf(context, who), String(record.id));
              await deps.settle(['organizations'], outcome.position);
              return { message: `${String(record.name)} is active again` };
            },
          }),
          impersonate: commandAction({
            permission: 'tenants:impersonate',
            icon: 'Eye',
            guard: 'Open a read-only view of this organization? It is recorded in the organization’s history.',
            run: async (context, who, record) => {
              const grant = await staffConsole.impersonate(deps.requestOf(context, who), String(record.id), `support view opened by ${who.email}`);
              const url = await deps.holdImpersonation(who, { organizationId: String(record.id), accessToken: grant.accessToken, expiresAt: grant.expiresAt });
              return { message: `Read-only access until ${grant.expiresAt}`, redirectUrl: url };
            },
          }),
          history: historyAction(organizationStream),
        },
      },
    },
    {
      resource: users,
      options: {
        navigation: tenants,
        listProperties: ['email', 'name', 'organizationId', 'role', 'status', 'lastSignInAt'],
        actions: { ...readOnly, history: historyAction(userStream) },
      },
    },
    {
      resource: plans,
      options: {
        navigation: catalog,
        listProperties: ['name', 'status', 'monthlyPriceCents', 'currency', 'contactsLimit', 'seatsLimit', 'updatedAt'],
        editProperties: ['name', 'status', 'monthlyPriceCents', 'currency', 'contactsLimit', 'activeWorkflowsLimit', 'executionsPerMonthLimit', 'aiTokensPerMonthLimit', 'seatsLimit'],
        properties: {
          status: enumOf('draft', 'active', 'retired'),
          monthlyPriceCents: { description: 'In cents (the currency’s smallest unit)' },
          contactsLimit: { description: 'Empty: unlimited' },
          seatsLimit: { description: 'Empty: unlimited' },
          revision: detailOnly,
        },
        actions: {
          new: { isAccessible: may('plans:manage') },
          edit: { isAccessible: may('plans:manage') },
          delete: { isAccessible: may('plans:manage'), guard: 'Retire this plan? Organizations on it stay on it; no new one can be put on it.' },
          bulkDelete: { isAccessible: false },
          history: historyAction(planStream),
        },
      },
    },
    {
      resource: workflows,
      options: { navigation: activity, actions: { ...readOnly, history: historyAction(workflowStream) } },
    },
    {
      resource: executions,
      options: {
        navigation: activity,
        listProperties: ['id', 'workflowId', 'organizationId', 'status', 'startedAt', 'endedAt'],
        actions: { ...readOnly, history: historyAction(executionStream) },
      },
    },
    {
      resource: parked,
      options: {
        navigation: operations,
        listProperties: ['id', 'projection', 'eventType', 'attempts', 'parkedAt', 'resolvedAt'],
        sort: { sortBy: 'parkedAt', direction: 'desc' },
        actions: {
          ...readOnly,
          retry: commandAction({
            permission: 'parkedEvents:retry',
            icon: 'RefreshCw',
            guard: 'Apply this event to its projection again?',
            isVisible: (record) => !record.resolvedAt,
            run: async (context, who, record) => {
              const outcome = await staffConsole.retryParkedEvent(deps.requestOf(context, who), String(record.id));
              return { message: outcome.resolved ? `Applied: the parked event is resolved` : `Failed again: ${outcome.error}` };
            },
          }),
          history: historyAction(parkedEventStream),
        },
      },
    },
    {
      resource: new ProjectionsResource(deps.projections),
      options: {
        navigation: operations,
        actions: {
          ...readOnly,
          rebuild: commandAction({
            permission: 'projections:rebuild',
            icon: 'RotateCw',
            guard: 'Rebuild this read model from the whole log? The current generation keeps serving until the new one has caught up.',
            isVisible: (record) => record.rebuildable === true,
            run: async (context, who, record) => {
              await staffConsole.rebuild(deps.requestOf(context, who), String(record.readModel));
              return { message: `Rebuilding ${String(record.readModel)}: progress shows in the list` };
            },
          }),
          history: historyAction((name) => readModelStream(name.split('@')[0]!)),
        },
      },
    },
    {
      resource: staff,
      options: {
        navigation: operations,
        actions: {
          ...readOnly,
          list: { isAccessible: may('staff:read') },
          show: { isAccessible: may('staff:read') },
          search: { isAccessible: may('staff:read') },
          history: { ...historyAction(staffStream), isAccessible: may('staff:read') },
        },
      },
    },
    {
      resource: new HistoryResource(deps.streams),
      options: {
        navigation: operations,
        listProperties: ['occurredAt', 'type', 'actor', 'revision', 'data'],
        showProperties: ['streamId', 'revision', 'type', 'occurredAt', 'actor', 'data', 'version', 'position', 'correlationId', 'causationId', 'eventId'],
        filterProperties: ['streamId', 'type'],
        properties: { data: { type: 'textarea' } },
        actions: readOnly,
      },
    },
  ];
}
