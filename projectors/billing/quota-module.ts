import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { QuotaGate } from '../../command-api/billing/quota-gate.ts';
import { CHANNEL_ORGANIZATION_STATUS } from '../../command-api/organizations/organization-status.ts';
import type { QuotaKind } from '../../domain/billing/quota.ts';
import type { Config } from '../../infra/config/config.ts';
import type { Lifecycle } from '../../infra/di/lifecycle.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { Notifications } from '../../infra/notifications/notifications.ts';
import type { Database } from '../../infra/postgres/module.ts';
import { contactsProjection } from '../contacts/contacts-projection.ts';
import { usersProjection } from '../users/users-projection.ts';
import { executionsProjection } from '../workflows/executions-projection.ts';
import { workflowsProjection } from '../workflows/workflows-projection.ts';
import type { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import { QuotaCounter, type LogHead, type QuotaReadModels } from './quota-counter.ts';

/** The read models a kind is counted from, in one statement each (one snapshot). */
function sqlReadModels(database: Database): QuotaReadModels {
  // $1 the organization, $2 the owners to look for, $3 and $4 a periodic kind's period.
  const counts: Record<QuotaKind, { projections: string[]; sql: string } | null> = {
    contacts: {
      projections: [contactsProjection.name],
      sql: `SELECT (SELECT count(*)::int FROM contacts WHERE organization_id = $1) AS count,
                   ARRAY(SELECT id::text FROM contacts WHERE id = ANY($2::uuid[])) AS present`,
    },
    activeWorkflows: {
      projections: [workflowsProjection.name],
      sql: `SELECT (SELECT count(*)::int FROM workflows WHERE organization_id = $1 AND status = 'active') AS count,
                   ARRAY(SELECT id::text FROM workflows WHERE id = ANY($2::uuid[]) AND status = 'active') AS present`,
    },
    // Active members: a user row is made by the registration (the owner's at sign-up, an invitee's on
    // accepting) and marked deactivated or active again by the organization's membership.
    seats: {
      projections: [usersProjection.name],
      sql: `SELECT (SELECT count(*)::int FROM users WHERE organization_id = $1 AND status = 'active') AS count,
                   ARRAY(SELECT id::text FROM users WHERE id = ANY($2::uuid[]) AND status = 'active') AS present`,
    },
    // Executions started in the billing period (an execution's start is its ExecutionStarted's startedAt).
    executionsPerMonth: {
      projections: [executionsProjection.name],
      sql: `SELECT (SELECT count(*)::int FROM workflow_executions
                     WHERE organization_id = $1 AND started_at >= $3 AND started_at < $4) AS count,
                   ARRAY(SELECT id::text FROM workflow_executions WHERE id = ANY($2::uuid[])) AS present`,
    },
  };
  return {
    projections: (kind) => counts[kind]?.projections ?? [],
    async count(kind, organizationId, owners, period) {
      const query = counts[kind];
      if (!query) throw new Error(`no count of ${kind} from the read models`);
      const values: unknown[] = [organizationId, owners, ...(period ? [period.start, period.end] : [])];
      const { rows } = await database.pool.query<{ count: number; present: string[] }>(query.sql, values);
      return { count: rows[0]!.count, present: new Set(rows[0]!.present) };
    },
    async organizationsOnPlans() {
      const { rows } = await database.pool.query<{ id: string }>(`SELECT id FROM organizations WHERE plan_id IS NOT NULL`);
      return rows.map((row) => row.id);
    },
  };
}

/** Counts the units a plan limits when an organization comes onto it (projectors/billing/quota-counter.ts). */
export const quotaCounterModule = new ContainerModule((bind) => {
  bind<QuotaCounter>(TOKENS.QuotaCounter).toDynamicValue(async (ctx) => {
    const [config, database, gate, store, watcher, notifications, logger, lifecycle] = await deps<
      [Config, Database, QuotaGate, LogHead, CheckpointWatcher, Notifications, Logger, Lifecycle]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.Database,
      TOKENS.QuotaGate,
      TOKENS.EventStore,
      TOKENS.CheckpointWatcher,
      TOKENS.Notifications,
      TOKENS.Logger,
      TOKENS.Lifecycle,
    );
    const counter = new QuotaCounter(
      {
        gate,
        log: store,
        readModels: sqlReadModels(database),
        progress: { waitFor: (projections, position, timeoutMs) => watcher.waitFor(projections, position, timeoutMs) },
        logger: logger.child({ component: 'quota-counter' }),
      },
      config.BILLING_CHECK_MS,
    );
    // A plan given or changed (staff, a subscription) is announced with the organization's status.
    const unlisten = notifications.listen(CHANNEL_ORGANIZATION_STATUS, (organizationId) => {
      if (organizationId) counter.changed(organizationId);
    });
    lifecycle.onStart('quota counter', () => counter.start());
    lifecycle.onStop('quota counter', async () => {
      unlisten();
      await counter.stop();
    });
    return counter;
  });
});
