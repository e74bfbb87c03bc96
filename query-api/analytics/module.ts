import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { AnalyticsReader } from './ports.ts';
import { analyticsQueryRoutes } from './routes.ts';

/** Usage, series, workflow outcomes, retention and exports (ClickHouse or PostgreSQL behind the port). */
export const analyticsQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [analytics, orm] = await deps<[AnalyticsReader, MikroORM]>(ctx, TOKENS.AnalyticsStore, TOKENS.Orm);
    return analyticsQueryRoutes(analytics, orm);
  });
});
