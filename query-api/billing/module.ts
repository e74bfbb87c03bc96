import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import type { BillingMode } from '../../domain/billing/billing-account.ts';
import type { Config } from '../../infra/config/config.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { billingQueryRoutes } from './routes.ts';

/**
 * The deployment's billing mode, by the rule infra/billing/module.ts chooses the provider with (Stripe with
 * its secret key and webhook secret, which the configuration requires together), read from the configuration
 * because the query API builds no provider.
 */
export function billingModeOf(config: Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_WEBHOOK_SECRET'>): BillingMode {
  return config.STRIPE_SECRET_KEY && config.STRIPE_WEBHOOK_SECRET ? 'stripe' : 'offline';
}

/** Billing: the subscription and standing, invoices, usage against the plan's limits, and the plans to choose from. */
export const billingQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm, config] = await deps<[MikroORM, Config]>(ctx, TOKENS.Orm, TOKENS.Config);
    return billingQueryRoutes(orm, billingModeOf(config));
  });
});
