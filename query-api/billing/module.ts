import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { billingModeOf } from '../../infra/billing/module.ts';
import type { Config } from '../../infra/config/config.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { billingQueryRoutes } from './routes.ts';

/** Billing: the subscription and standing, invoices, usage against the plan's limits, and the plans to choose from. */
export const billingQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm, config] = await deps<[MikroORM, Config]>(ctx, TOKENS.Orm, TOKENS.Config);
    return billingQueryRoutes(orm, billingModeOf(config));
  });
});
