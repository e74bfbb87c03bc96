import type { MikroORM } from '@mikro-orm/postgresql';
import type { CurrentUsage, HeldUsage } from '../../command-api/billing/ports.ts';
import { meteredUsage } from '../../query-api/billing/routes.ts';

/**
 * The organization's usage for the plan-change check, from the metering read model (the same sums
 * GET /billing/usage shows). Its lag behind the log is milliseconds; the quota gate keeps the limits at the
 * moment of each write anyway, so a unit taken meanwhile only leaves the organization above its new limit.
 */
export class MeteredCurrentUsage implements CurrentUsage {
  constructor(private readonly orm: MikroORM) {}

  async of(organizationId: string): Promise<HeldUsage> {
    // An empty day range: only the gauges are summed (over every day); the counters' days are not wanted here.
    const used = await meteredUsage(this.orm.em.fork(), organizationId, { from: '1970-01-01', to: '1970-01-01' });
    return { contacts: used.contacts, activeWorkflows: used.active_workflows, seats: used.seats };
  }
}
