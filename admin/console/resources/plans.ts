// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import '../adminjs-environment.ts';
import { ValidationError, type ParamsType, type ResourceWithOptions } from 'adminjs';
import { planStream, type PlanLimits } from '../../../domain/plans/plan.ts';
import { PlanViewSchema } from '../../../projectors/plans/plan-view.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { detailOnly, enumOf, historyAction, may, navigation, type ConsoleResourceDeps } from './console-actions.ts';

/** The plan catalog: drafted, revised, activated and retired by form (never deleted: deleting retires). */
export function plansResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const { staffConsole } = deps;
  const resource = new ReadModelResource({
    id: 'Plan',
    orm: deps.orm,
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
    settle: (position) => deps.settle(['plans'], position),
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

  return {
    resource,
    options: {
      navigation: navigation.catalog,
      listProperties: ['name', 'status', 'monthlyPriceCents', 'currency', 'contactsLimit', 'seatsLimit', 'updatedAt'],
      editProperties: [
        'name',
        'status',
        'monthlyPriceCents',
        'currency',
        'contactsLimit',
        'activeWorkflowsLimit',
        'executionsPerMonthLimit',
        'aiTokensPerMonthLimit',
        'seatsLimit',
      ],
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
  };
}

/** Form values arrive as strings: '' is "no value" (unlimited), anything else must be a whole number. */
function wholeNumberOrNull(value: unknown): number | null {
  if (value === undefined || value === null || value === '') return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : Number.NaN;
}

const limitPaths: Record<keyof PlanLimits, string> = {
  contacts: 'contactsLimit',
  activeWorkflows: 'activeWorkflowsLimit',
  executionsPerMonth: 'executionsPerMonthLimit',
  aiTokensPerMonth: 'aiTokensPerMonthLimit',
  seats: 'seatsLimit',
};

/** The limits the form holds (only those changed from `only`, when given). */
function limitsFrom(params: ParamsType, only?: ParamsType): Partial<PlanLimits> {
  const limits: Partial<PlanLimits> = {};
  for (const [name, path] of Object.entries(limitPaths) as [keyof PlanLimits, string][]) {
    if (path in params && (!only || wholeNumberOrNull(params[path]) !== wholeNumberOrNull(only[path])))
      limits[name] = wholeNumberOrNull(params[path]);
  }
  return limits;
}
