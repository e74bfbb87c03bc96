import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { SearchReader } from './ports.ts';
import { searchQueryRoutes } from './routes.ts';

/** Search of contacts and executions (PostgreSQL or Elasticsearch behind the port). */
export const searchQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [search] = await deps<[SearchReader]>(ctx, TOKENS.SearchIndex);
    return searchQueryRoutes(search);
  });
});
