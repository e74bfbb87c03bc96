import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { TOKENS } from '../infra/di/tokens.ts';
import type { AnyRoute } from '../infra/http/routes.ts';
import { apiKeyQueryRoutes } from './api-keys/routes.ts';
import { authQueryRoutes } from './auth/routes.ts';
import { contactQueryRoutes } from './contacts/routes.ts';
import { organizationQueryRoutes } from './organizations/routes.ts';
import { userQueryRoutes } from './users/routes.ts';
import { workflowQueryRoutes } from './workflows/routes.ts';
import { searchQueryRoutes } from './search/routes.ts';
import type { SearchReader } from './search/ports.ts';
import { analyticsQueryRoutes } from './analytics/routes.ts';
import type { AnalyticsReader } from './analytics/ports.ts';
import { auditQueryRoutes } from './audit/routes.ts';
import type { Platform } from '../infra/platform.ts';

/** The query side's routes. Expects Orm and ReadModelProgress bound. */
export const queryApiModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.QueryRoutes)
    .toDynamicValue((ctx) => {
      const orm = ctx.container.get<MikroORM>(TOKENS.Orm);
      const platform = ctx.container.get<Platform>(TOKENS.Platform);
      return [
        ...authQueryRoutes(orm),
        ...organizationQueryRoutes(orm),
        ...userQueryRoutes(orm),
        ...apiKeyQueryRoutes(orm),
        ...contactQueryRoutes(orm),
        ...workflowQueryRoutes(orm),
        ...searchQueryRoutes(ctx.container.get<SearchReader>(TOKENS.SearchReader)),
        ...analyticsQueryRoutes(ctx.container.get<AnalyticsReader>(TOKENS.AnalyticsReader), orm),
        // One entity's stream for point-in-time state; lists come from the audit read model.
        ...auditQueryRoutes(orm, platform.eventStore, { log: platform.storedLog, readable: platform.readable }),
      ];
    })
    .inSingletonScope();
});
