import type { ResourceWithOptions } from 'adminjs';
import { organizationStream } from '../../../domain/organizations/organization.ts';
import { OrganizationViewSchema } from '../../../projectors/organizations/organization-view.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { commandAction, detailOnly, enumOf, historyAction, may, navigation, notEditable, type ConsoleResourceDeps } from './console-actions.ts';

/** Tenants: their plan and trial end edited by form; suspension and a read-only view as actions. */
export function organizationsResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const { staffConsole } = deps;
  const resource = new ReadModelResource({
    id: 'Organization',
    orm: deps.orm,
    entity: OrganizationViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'name', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'planId', type: 'reference', reference: 'Plan' },
      { path: 'trialEndsAt', type: 'datetime' },
      { path: 'aiEnabled', type: 'boolean' },
      { path: 'timezone', type: 'string' },
      { path: 'ownerUserId', type: 'reference', reference: 'User' },
      { path: 'userCount', type: 'number' },
      { path: 'contactCount', type: 'number' },
      { path: 'createdAt', type: 'datetime' },
      { path: 'updatedAt', type: 'datetime' },
      { path: 'revision', type: 'number' },
    ],
    settle: (position) => deps.settle(['organizations'], position),
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

  return {
    resource,
    options: {
      navigation: navigation.tenants,
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
        aiEnabled: {
          ...notEditable,
          description: "Whether the AI service serves it; set by the organization's managers (PUT /organizations/current/ai)",
        },
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
            const outcome = await staffConsole.suspend(
              deps.requestOf(context, who),
              String(record.id),
              `suspended by ${who.email} from the staff console`,
            );
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
            const url = await deps.holdImpersonation(who, {
              organizationId: String(record.id),
              accessToken: grant.accessToken,
              expiresAt: grant.expiresAt,
            });
            return { message: `Read-only access until ${grant.expiresAt}`, redirectUrl: url };
          },
        }),
        history: historyAction(organizationStream),
      },
    },
  };
}

/** A date field as AdminJS hands it over (a Date, or the text typed): ISO text, or the text as typed. */
function dateParam(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString();
  return typeof value === 'string' ? value : '';
}
