import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { apiKeyQueryRoutes } from './routes.ts';

/** API keys (never their secrets). */
export const apiKeyQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm] = await deps<[MikroORM]>(ctx, TOKENS.Orm);
    return apiKeyQueryRoutes(orm);
  });
});
