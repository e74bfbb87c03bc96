import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { workflowQueryRoutes } from './routes.ts';

/** Workflows, their executions and stats. */
export const workflowQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm] = await deps<[MikroORM]>(ctx, TOKENS.Orm);
    return workflowQueryRoutes(orm);
  });
});
