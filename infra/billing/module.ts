import { ContainerModule } from 'inversify';
import type { BillingProvider } from '../../command-api/billing/ports.ts';
import type { Config } from '../config/config.ts';
import { deps } from '../di/resolve.ts';
import { TOKENS } from '../di/tokens.ts';
import { OfflineBilling } from './offline-billing.ts';
import { StripeBilling } from './stripe/stripe-billing.ts';

/** The payment provider: Stripe with STRIPE_SECRET_KEY (and its webhook secret, which config requires with it), else offline. */
export const billingModule = new ContainerModule((bind) => {
  bind<BillingProvider>(TOKENS.BillingProvider).toDynamicValue(async (ctx) => {
    const [config] = await deps<[Config]>(ctx, TOKENS.Config);
    if (!config.STRIPE_SECRET_KEY || !config.STRIPE_WEBHOOK_SECRET) return new OfflineBilling();
    return new StripeBilling({ secretKey: config.STRIPE_SECRET_KEY, webhookSecret: config.STRIPE_WEBHOOK_SECRET, apiUrl: config.STRIPE_API_URL });
  });
});
