import { randomUUID } from 'node:crypto';
import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../../command-api/command-handling.ts';
import type { ContactCommands } from '../../../command-api/contacts/contact-commands.ts';
import type { EventStreams } from '../../../command-api/ports.ts';
import type { Config } from '../../../infra/config/config.ts';
import type { IntegrationConnections } from '../../../infra/crm/integration-connections.ts';
import { all, deps, optional } from '../../../infra/di/resolve.ts';
import type { QuotaGate } from '../../../command-api/billing/quota-gate.ts';
import type { Projection } from '../../runner/projection.ts';
import { TOKENS } from '../../../infra/di/tokens.ts';
import type { HealthChecks, Lifecycle } from '../../../infra/di/lifecycle.ts';
import type { Metrics } from '../../../infra/observability/metrics.ts';
import type { Database } from '../../../infra/postgres/module.ts';
import type { CheckpointWatcher } from '../../../infra/readmodels/checkpoint-watcher.ts';
import { bindProjection } from '../../module.ts';
import { crmSyncProjection } from './sync-projection.ts';
import { SyncStore } from './sync-store.ts';
import { SyncWorker } from './sync-worker.ts';

/** The CRM sync: its projection (what is due) everywhere projections are declared. */
export const crmSyncProjectionModule = new ContainerModule((bind) => {
  bindProjection(bind, () => crmSyncProjection);
});

/** The CRM sync worker, where projectors run: visits due integrations, woken when the sync projection moves. */
export const crmSyncWorkerModule = new ContainerModule((bind) => {
  bind<SyncWorker>(TOKENS.SyncRunner).toDynamicValue(async (ctx) => {
    const [config, database, handler, streams, contacts, connections, watcher, logger, lifecycle, health, metrics] = await deps<
      [
        Config,
        Database,
        CommandHandler,
        EventStreams,
        ContactCommands,
        IntegrationConnections,
        CheckpointWatcher,
        Logger,
        Lifecycle,
        HealthChecks,
        Metrics,
      ]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.Database,
      TOKENS.CommandHandler,
      TOKENS.EventStore,
      TOKENS.ContactCommands,
      TOKENS.IntegrationConnections,
      TOKENS.CheckpointWatcher,
      TOKENS.Logger,
      TOKENS.Lifecycle,
      TOKENS.HealthChecks,
      TOKENS.Metrics,
    );
    const log = logger.child({ component: 'crm-sync' });
    // An import waits, after each chunk, for the read models and reactors of this process to take it in.
    const names = [...(await all<Projection>(ctx, TOKENS.Projections)), ...(await all<Projection>(ctx, TOKENS.Reactors))].map((p) => p.name);
    const worker = new SyncWorker(
      {
        handler,
        streams,
        contacts,
        quotas: await optional<QuotaGate>(ctx, TOKENS.QuotaGate),
        store: new SyncStore(database.pool, `crm-sync-${randomUUID().slice(0, 8)}`),
        access: connections,
        logger: log,
        leaseMs: config.CRM_SYNC_LEASE_MS,
        metrics,
        progress: { names, waitFor: (projections, position, timeoutMs) => watcher.waitFor(projections, position, timeoutMs) },
        pageSize: config.CRM_SYNC_PAGE_SIZE,
      },
      log,
      { concurrency: config.CRM_SYNC_CONCURRENCY, pollMs: config.CRM_SYNC_POLL_MS },
    );
    const unlisten = watcher.onCommit(crmSyncProjection.name, () => worker.wake());
    health.add({ name: 'crmSync', check: async () => ({ ok: true, detail: worker.stats }) });
    // Off in a process that must not call providers (CRM_SYNC_ENABLED=false): runs then wait for one that does.
    if (config.CRM_SYNC_ENABLED) lifecycle.onStart('crm sync worker', () => worker.start());
    lifecycle.onStop('crm sync worker', async () => {
      unlisten();
      await worker.stop();
    });
    return worker;
  });
});
