import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { contactQueryRoutes } from './routes.ts';

/** Contacts: lists with filters and keyset paging, one contact. */
export const contactQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm] = await deps<[MikroORM]>(ctx, TOKENS.Orm);
    return contactQueryRoutes(orm);
  });
});
