import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { Config } from '../../infra/config/config.ts';
import { Lifecycle } from '../../infra/di/lifecycle.ts';
import { all, deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EventStore } from '../../infra/eventstore/event-store.ts';
import type { Database } from '../../infra/postgres/module.ts';
import type { ReadModelGenerations } from '../../infra/readmodels/generations.ts';
import type { Projection } from '../runner/projection.ts';
import { ParkedEvents } from '../runner/parked-events.ts';
import type { RebuildableReadModel } from './ports.ts';
import { ReadModelRebuilder } from './rebuild.ts';
import { RebuildJobs } from './rebuild-jobs.ts';

/**
 * Operating the read models (the console's and the command line's): rebuilding search and analytics into a
 * new generation, as jobs with progress, and retrying parked events with the projection that parked them.
 * Needs the capability modules that declare the projections and rebuildable read models.
 */
export const readModelOperationsModule = new ContainerModule((bind) => {
  bind<ReadModelRebuilder>(TOKENS.ReadModelRebuilder).toDynamicValue(async (ctx) => {
    const [config, log, orm, database, generations, logger] = await deps<[Config, EventStore, MikroORM, Database, ReadModelGenerations, Logger]>(
      ctx,
      TOKENS.Config,
      TOKENS.EventStore,
      TOKENS.Orm,
      TOKENS.Database,
      TOKENS.Generations,
      TOKENS.Logger,
    );
    return new ReadModelRebuilder({
      log,
      orm,
      pool: database.pool,
      generations,
      logger: logger.child({ component: 'rebuild' }),
      batchSize: config.PROJECTION_BATCH_SIZE,
      server: !database.embedded,
    });
  });
  bind<RebuildJobs>(TOKENS.RebuildJobs).toDynamicValue(async (ctx) => {
    const [rebuilder, logger, lifecycle] = await deps<[ReadModelRebuilder, Logger, Lifecycle]>(
      ctx,
      TOKENS.ReadModelRebuilder,
      TOKENS.Logger,
      TOKENS.Lifecycle,
    );
    const jobs = new RebuildJobs(
      rebuilder,
      await all<RebuildableReadModel>(ctx, TOKENS.RebuildableReadModels),
      logger.child({ component: 'rebuild' }),
    );
    lifecycle.onStop('rebuild jobs', () => jobs.stop());
    return jobs;
  });
  bind<ParkedEvents>(TOKENS.ParkedEvents).toDynamicValue(async (ctx) => {
    const [orm, store] = await deps<[MikroORM, EventStore]>(ctx, TOKENS.Orm, TOKENS.EventStore);
    return new ParkedEvents(
      orm,
      store,
      projectionNamed(await all<Projection>(ctx, TOKENS.Projections), await all<RebuildableReadModel>(ctx, TOKENS.RebuildableReadModels)),
    );
  });
});

/**
 * The projection that runs under a (checkpoint) name: a read-model projection, or a generation of a
 * rebuildable read model (`search@2`); null for reactors and unknown names.
 */
export function projectionNamed(
  projections: readonly Projection[],
  readModels: readonly RebuildableReadModel[],
): (name: string) => Projection | null {
  return (name) => {
    const own = projections.find((p) => p.name === name);
    if (own) return own;
    const [readModel, generation] = name.split('@');
    const model = readModels.find((m) => m.name === readModel);
    return model ? model.projection(generation ? Number(generation) : 1) : null;
  };
}
