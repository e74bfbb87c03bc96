import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { BillingCommands } from '../../command-api/billing/billing-commands.ts';
import type { StaffAccounts } from '../../command-api/staff/staff-accounts.ts';
import type { StaffConsole } from '../../command-api/staff/staff-console.ts';
import type { Config } from '../../infra/config/config.ts';
import { Lifecycle } from '../../infra/di/lifecycle.ts';
import { all, deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import type { EventStore } from '../../infra/eventstore/event-store.ts';
import type { MountedApp } from '../../infra/http/server.ts';
import type { Database } from '../../infra/postgres/module.ts';
import type { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import type { ReadModelGenerations } from '../../infra/readmodels/generations.ts';
import { projectionStatuses } from '../../infra/readmodels/projection-status.ts';
import type { RebuildJobs } from '../../projectors/rebuild/rebuild-jobs.ts';
import type { RebuildableReadModel } from '../../projectors/rebuild/ports.ts';
import type { Projection } from '../../projectors/runner/projection.ts';
import type { AdminConsole } from './admin-console.ts';

/** How long a console write waits for its change to show in the read models before showing the page. */
const SETTLE_TIMEOUT_MS = 5_000;

/**
 * The staff console at /admin: AdminJS over the read models, every write a staff command. Loaded only by
 * processes that serve it (AdminJS costs about a second and 100 MB to import).
 */
export const adminConsoleModule = new ContainerModule((bind) => {
  bind<AdminConsole>(TOKENS.AdminConsole).toDynamicValue(async (ctx) => {
    const [config, logger, lifecycle, orm, store, ephemeral, database, generations, watcher, staffAccounts, staffConsole, jobs] = await deps<
      [
        Config,
        Logger,
        Lifecycle,
        MikroORM,
        EventStore,
        EphemeralStore,
        Database,
        ReadModelGenerations,
        CheckpointWatcher,
        StaffAccounts,
        StaffConsole,
        RebuildJobs,
      ]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.Logger,
      TOKENS.Lifecycle,
      TOKENS.Orm,
      TOKENS.EventStore,
      TOKENS.Ephemeral,
      TOKENS.Database,
      TOKENS.Generations,
      TOKENS.CheckpointWatcher,
      TOKENS.StaffAccounts,
      TOKENS.StaffConsole,
      TOKENS.RebuildJobs,
    );
    const [billing] = await deps<[BillingCommands]>(ctx, TOKENS.BillingCommands);
    const known = {
      projections: (await all<Projection>(ctx, TOKENS.Projections)).map((p) => p.name),
      rebuildable: (await all<RebuildableReadModel>(ctx, TOKENS.RebuildableReadModels)).map((m) => m.name),
    };
    const statuses = () => projectionStatuses({ eventStore: store, pool: database.pool, generations }, known);
    const [{ createAdminConsole }, { Dashboard }] = await Promise.all([import('./admin-console.ts'), import('./dashboard.ts')]);
    const console = await createAdminConsole({
      logger,
      orm,
      streams: store,
      ephemeral,
      staffAccounts,
      staffConsole,
      billing,
      dashboard: new Dashboard({ pool: database.pool, statuses }),
      projections: { statuses, job: (readModel) => jobs.job(readModel), rebuildable: () => jobs.names() },
      settle: async (projections, position) => {
        if (position !== null) await watcher.waitFor(projections, position, SETTLE_TIMEOUT_MS);
      },
      production: config.NODE_ENV === 'production',
      trustProxy: config.TRUST_PROXY,
      session: { idleMs: config.ADMIN_SESSION_IDLE_MINUTES * 60_000, absoluteMs: config.ADMIN_SESSION_MAX_HOURS * 3_600_000 },
    });
    lifecycle.onStop('staff console', () => console.close());
    return console;
  });
  // Made on the first request to /admin: AdminJS costs about 200 MB of memory, which a process whose
  // console nobody opens (the all-in-one process, mostly) should not carry. That first page waits for it.
  bind<MountedApp>(TOKENS.MountedApps).toDynamicValue(async (ctx) => {
    const [logger] = await deps<[Logger]>(ctx, TOKENS.Logger);
    let made: Promise<(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => Promise<void>> | null = null;
    const consoleApp = () => (made ??= ctx.container.getAsync<AdminConsole>(TOKENS.AdminConsole).then((built) => built.app.callback()));
    const app = new Koa();
    app.use(async (koa) => {
      let handle: Awaited<ReturnType<typeof consoleApp>>;
      try {
        handle = await consoleApp();
      } catch (err) {
        made = null;
        logger.error({ err }, 'could not start the staff console');
        koa.status = 503;
        koa.body = 'The staff console could not start; see the logs.';
        return;
      }
      // The console is an app of its own: hand it the raw request and response.
      koa.respond = false;
      await handle(koa.req, koa.res);
    });
    return { prefix: '/admin', app };
  });
});
