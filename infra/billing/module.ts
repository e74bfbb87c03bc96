import { ContainerModule } from 'inversify';
import type { BillingProvider } from '../../command-api/billing/ports.ts';
import type { BillingMode } from '../../domain/billing/billing-account.ts';
import type { Config } from '../config/config.ts';
import { deps } from '../di/resolve.ts';
import { TOKENS } from '../di/tokens.ts';
import { OfflineBilling } from './offline-billing.ts';
import { StripeBilling } from './stripe/stripe-billing.ts';

/**
 * The deployment's billing mode: Stripe with its secret key and webhook secret (the configuration requires them
 * together), else offline. The query API, which builds no provider, labels its answers by the same rule.
 */
export function billingModeOf(config: Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_WEBHOOK_SECRET'>): BillingMode {
  return config.STRIPE_SECRET_KEY && config.STRIPE_WEBHOOK_SECRET ? 'stripe' : 'offline';
}

/** The payment provider the mode calls for. */
export const billingModule = new ContainerModule((bind) => {
  bind<BillingProvider>(TOKENS.BillingProvider).toDynamicValue(async (ctx) => {
    const [config] = await deps<[Config]>(ctx, TOKENS.Config);
    if (!config.STRIPE_SECRET_KEY || !config.STRIPE_WEBHOOK_SECRET) return new OfflineBilling();
    return new StripeBilling({ secretKey: config.STRIPE_SECRET_KEY, webhookSecret: config.STRIPE_WEBHOOK_SECRET, apiUrl: config.STRIPE_API_URL });
  });
});
