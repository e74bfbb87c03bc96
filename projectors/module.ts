import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import type { Config } from '../infra/config/config.ts';
import { HealthChecks, Lifecycle } from '../infra/di/lifecycle.ts';
import { all, deps } from '../infra/di/resolve.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import type { EventStore } from '../infra/eventstore/event-store.ts';
import { CHANNEL_CHECKPOINTS, CHANNEL_READ_WAITING, type Notifications } from '../infra/notifications/notifications.ts';
import type { Metrics } from '../infra/observability/metrics.ts';
import { CHANNEL_PERSONAL_DATA_ERASED } from '../infra/privacy/personal-data-sealing.ts';
import type { Database } from '../infra/postgres/module.ts';
import type { CheckpointWatcher } from '../infra/readmodels/checkpoint-watcher.ts';
import type { ReadModelGenerations } from '../infra/readmodels/generations.ts';
import { ReadModelPace, WorkflowBacklog } from './backlog.ts';
import { ProjectorHost } from './projector-host.ts';
import { GenerationalProjector } from './rebuild/generational-projector.ts';
import type { RebuildableReadModel } from './rebuild/ports.ts';
import type { Projection } from './runner/projection.ts';
import { keepingTail, TAIL_MAX_AGE_MS } from './runner/log-tail.ts';
import { ProjectionMetrics } from './runner/projection-metrics.ts';
import type { ProjectionRunnerOptions } from './runner/projection-runner.ts';
import { sharingReads } from './runner/shared-reads.ts';
import { SkipAnnouncements } from './runner/skip-announcements.ts';

/** The projections, reactors and rebuildable read models of the process, running (see projectorCoreModule). */
export const PROJECTORS = Symbol.for('nexusflow.Projectors');

/**
 * Runs whatever the capability modules of the role bound: every read-model projection in one host (one page
 * reader), the reactors in another (they wait on the read models and cause effects: a reactor waiting must
 * never hold a projection back), and each rebuildable read model (search, analytics) in its own host that
 * follows its generation switches. The hosts read the recent log from one tail of it kept in the process
 * (keepingTail: each recent event is read and opened once), and share the reads that happen at the same time
 * (sharingReads).
 * Every checkpoint move is announced to read-your-writes waiters.
 */
export const projectorCoreModule = new ContainerModule((bind) => {
  bind(TOKENS.WorkflowBacklog).toConstantValue(new WorkflowBacklog());
  bind(PROJECTORS).toDynamicValue(async (ctx) => {
    const [config, logger, lifecycle, health, log, orm, watcher, generations, database, notifications, metrics, backlog] = await deps<
      [
        Config,
        Logger,
        Lifecycle,
        HealthChecks,
        EventStore,
        MikroORM,
        CheckpointWatcher,
        ReadModelGenerations,
        Database,
        Notifications,
        Metrics,
        WorkflowBacklog,
      ]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.Logger,
      TOKENS.Lifecycle,
      TOKENS.HealthChecks,
      TOKENS.EventStore,
      TOKENS.Orm,
      TOKENS.CheckpointWatcher,
      TOKENS.Generations,
      TOKENS.Database,
      TOKENS.Notifications,
      TOKENS.Metrics,
      TOKENS.WorkflowBacklog,
    );
    // A skip is not in the table yet: other processes (a separate query API) hear of it here.
    const skips = new SkipAnnouncements(
      (payload) => notifications.notify(CHANNEL_CHECKPOINTS, payload),
      (err) => logger.debug({ err }, 'checkpoint notification failed; waiters poll'),
    );
    const options: ProjectionRunnerOptions = {
      batchSize: config.PROJECTION_BATCH_SIZE,
      liveDelayMs: config.PROJECTION_LIVE_DELAY_MS,
      backgroundDelayMs: config.PROJECTION_BACKGROUND_DELAY_MS,
      metrics: new ProjectionMetrics(metrics),
      server: !database.embedded,
      onCheckpoint: (projection: string, position: string, stored: boolean) => {
        watcher.announce(projection, position, stored);
        if (!stored && !database.embedded) skips.add(projection, position);
      },
    };
    // Read models and search/analytics yield to a workflow runner with more due work than slots (they trail
    // by PROJECTION_BACKLOG_DELAY_MS until its spell ends, but not for a reader waiting on one of them);
    // reactors cause effects and keep their pace.
    const pace = new ReadModelPace(backlog, config.PROJECTION_BACKLOG_DELAY_MS);
    const unlistenReads = notifications.listen(CHANNEL_READ_WAITING, (payload) => {
      for (const projection of waitedOn(payload)) pace.hurry(projection);
    });
    // Read models also take larger batches when well behind (a catch-up); a reactor's batch is its effects'
    // unit of retry, and keeps its size.
    const yielding: ProjectionRunnerOptions = {
      ...options,
      pace,
      catchUpBatchSize: Math.max(config.PROJECTION_CATCHUP_BATCH_SIZE, config.PROJECTION_BATCH_SIZE),
    };
    const tail = keepingTail(log, {
      maxEvents: config.PROJECTION_TAIL_EVENTS,
      // A read model held back by the pace takes its events from here when the hold ends, not from the store.
      maxAgeMs: Math.max(TAIL_MAX_AGE_MS, config.PROJECTION_BACKLOG_DELAY_MS + 2_000),
      readCount: config.PROJECTION_BATCH_SIZE,
      onPage: (source) => metrics.projectionLogPages.inc({ source }),
    });
    // What the tail holds was opened with the keys of that moment: an erasure empties it.
    const unlistenErasures = notifications.listen(CHANNEL_PERSONAL_DATA_ERASED, () => tail.clear());
    const reads = sharingReads(tail);
    const hostOf = (projections: Projection[], hostOptions: ProjectionRunnerOptions = yielding) =>
      new ProjectorHost(projections, reads, orm, logger, hostOptions);
    const projections = await all<Projection>(ctx, TOKENS.Projections);
    const reactors = await all<Projection>(ctx, TOKENS.Reactors);
    const rebuildable = await all<RebuildableReadModel>(ctx, TOKENS.RebuildableReadModels);
    const readModels = projections.length > 0 ? hostOf(projections) : null;
    const effects = reactors.length > 0 ? hostOf(reactors, options) : null;
    const generational = rebuildable.map(
      (model) => new GenerationalProjector(model, generations, (projection) => hostOf([projection]), logger.child({ component: 'generations' })),
    );
    if (readModels) health.add(readModels.healthCheck());
    if (effects) health.add({ ...effects.healthCheck(), name: 'reactors' });
    for (const projector of generational) health.add(projector.healthCheck());
    lifecycle.onStart('projections', async () => {
      await readModels?.start();
      await effects?.start();
      for (const projector of generational) await projector.start();
    });
    lifecycle.onStop('projections', async () => {
      for (const projector of generational) await projector.stop();
      await effects?.stop();
      await readModels?.stop();
      unlistenErasures();
      unlistenReads();
      tail.clear();
    });
    return { readModels, effects, generational, tail };
  });
});

/** The read models a waiting read names (see CheckpointWatcher); none for anything else (a reconnect's empty payload). */
function waitedOn(payload: string): string[] {
  try {
    const { projections } = JSON.parse(payload) as { projections?: unknown };
    return Array.isArray(projections) ? projections.filter((name): name is string => typeof name === 'string') : [];
  } catch {
    return [];
  }
}

/** A projection for the projector host, bound by its capability's module. */
export function bindProjection(bind: interfaces.Bind, make: (ctx: interfaces.Context) => Projection | Promise<Projection>): void {
  bind<Projection>(TOKENS.Projections).toDynamicValue(make);
}

/** A reactor for the reactor host, bound by its capability's module. */
export function bindReactor(bind: interfaces.Bind, make: (ctx: interfaces.Context) => Projection | Promise<Projection>): void {
  bind<Projection>(TOKENS.Reactors).toDynamicValue(make);
}
