import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { organizationQueryRoutes } from './routes.ts';

/** The caller's organization. */
export const organizationQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm] = await deps<[MikroORM]>(ctx, TOKENS.Orm);
    return organizationQueryRoutes(orm);
  });
});
