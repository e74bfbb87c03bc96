import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import { readModelEntities } from '../../projectors/read-models.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import type { Config } from '../config/config.ts';
import { Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import type { Notifications } from '../notifications/notifications.ts';
import type { Database } from '../postgres/module.ts';
import { CheckpointWatcher } from './checkpoint-watcher.ts';
import { ReadModelGenerations } from './generations.ts';
import { openReadModels } from './orm.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);

/** The read models: MikroORM over the database, which generation of each rebuildable one is served, and how far each projection got. */
export const readModelsModule = new ContainerModule((bind) => {
  bind<MikroORM>(TOKENS.Orm).toDynamicValue(async (ctx) => {
    const [config, database, logger, lifecycle] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Database>(ctx, TOKENS.Database),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
    ]);
    const orm = await openReadModels({
      url: database.url,
      entities: readModelEntities,
      poolSize: config.DB_POOL_SIZE,
      logger: logger.child({ component: 'orm' }),
    });
    lifecycle.onStop('read models', () => orm.close());
    return orm;
  });
  bind<ReadModelGenerations>(TOKENS.Generations).toDynamicValue(async (ctx) => {
    const [database, notifications, logger, lifecycle] = await Promise.all([
      get<Database>(ctx, TOKENS.Database),
      get<Notifications>(ctx, TOKENS.Notifications),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
    ]);
    const generations = await ReadModelGenerations.open(database.pool, notifications, logger.child({ component: 'generations' }));
    lifecycle.onStop('generations', () => generations.close());
    return generations;
  });
  bind<CheckpointWatcher>(TOKENS.CheckpointWatcher).toDynamicValue(async (ctx) => {
    const [orm, log, notifications, logger, lifecycle] = await Promise.all([
      get<MikroORM>(ctx, TOKENS.Orm),
      get<GlobalEventLog>(ctx, TOKENS.EventStore),
      get<Notifications>(ctx, TOKENS.Notifications),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
    ]);
    const watcher = new CheckpointWatcher(orm, log, notifications, logger);
    lifecycle.onStop('checkpoint watcher', () => watcher.close());
    return watcher;
  });
});
