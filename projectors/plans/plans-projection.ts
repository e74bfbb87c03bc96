import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import type { PlanEvent, PlanLimits } from '../../domain/plans/plan.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { PlanViewSchema, type PlanView } from './plan-view.ts';

const limitColumns = {
  contacts: 'contactsLimit',
  activeWorkflows: 'activeWorkflowsLimit',
  executionsPerMonth: 'executionsPerMonthLimit',
  aiTokensPerMonth: 'aiTokensPerMonthLimit',
  seats: 'seatsLimit',
} as const satisfies Record<keyof PlanLimits, keyof PlanView>;

function applyLimits(view: PlanView, limits: Partial<PlanLimits>): void {
  for (const [name, value] of Object.entries(limits)) {
    if (value !== undefined) view[limitColumns[name as keyof PlanLimits]] = value;
  }
}

/** The plan catalog, for the staff console. Platform-level: plans belong to no tenant. */
export const plansProjection: Projection = {
  name: 'plans',
  eventTypes: new Set(['PlanDrafted', 'PlanRevised', 'PlanActivated', 'PlanRetired']),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const typed = events as RecordedEvent<PlanEvent>[];
    const ids = [...new Set(typed.map((event) => event.data.planId))];
    const rows = await em.find(PlanViewSchema, { id: { $in: ids } }, { filters: false });
    const plans = new Map(rows.map((row) => [row.id, row]));
    for (const event of typed) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'PlanDrafted') {
        const { planId, name, monthlyPriceCents, currency, limits } = event.data;
        if (plans.has(planId)) throw new ProjectionError(`plan ${planId} already exists`);
        const view = em.create(PlanViewSchema, {
          id: planId,
          name,
          status: 'draft',
          monthlyPriceCents,
          currency,
          contactsLimit: null,
          activeWorkflowsLimit: null,
          executionsPerMonthLimit: null,
          aiTokensPerMonthLimit: null,
          seatsLimit: null,
          createdAt: at,
          updatedAt: at,
          revision: event.revision,
        });
        applyLimits(view, limits);
        plans.set(planId, view);
        continue;
      }
      const view = plans.get(event.data.planId);
      if (!view) throw new ProjectionError(`plan ${event.data.planId} is not in the read model`);
      switch (event.type) {
        case 'PlanRevised': {
          const { limits, ...changes } = event.data.changes;
          Object.assign(view, changes);
          applyLimits(view, limits ?? {});
          break;
        }
        case 'PlanActivated':
          view.status = 'active';
          break;
        case 'PlanRetired':
          view.status = 'retired';
          break;
      }
      view.updatedAt = at;
      view.revision = event.revision;
    }
  },
};
