import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EventStore, StoredLog } from '../../infra/eventstore/event-store.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { auditQueryRoutes } from './routes.ts';

/** The audit log (a read model), point-in-time state of one entity (its stream) and exports (the stored log). */
export const auditQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm, store, stored] = await deps<[MikroORM, EventStore, StoredLog]>(ctx, TOKENS.Orm, TOKENS.EventStore, TOKENS.StoredLog);
    return auditQueryRoutes(orm, store, stored);
  });
});
