import { BillingOffline, type BillingProvider } from '../../command-api/billing/ports.ts';

/** The settings that turn billing on. */
export const BILLING_SETTINGS = ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] as const;

/** What every billing answer carries offline (the command and the query API alike). */
export const OFFLINE_LABEL = {
  charged: false as const,
  note: `Billing runs offline: nothing is charged (set ${BILLING_SETTINGS.join(' and ')} to charge through Stripe).`,
};

/**
 * Billing without a payment provider (the embedded default, and any installation without STRIPE_SECRET_KEY):
 * nothing can be charged, so every call that would reach Stripe throws {@link BillingOffline}, naming the
 * settings that turn billing on. The billing commands see `mode: 'offline'` and keep subscriptions on our side
 * only (trials and plan limits hold, nothing is charged), and every billing answer says so.
 */
export class OfflineBilling implements BillingProvider {
  readonly mode = 'offline' as const;

  private offline(): never {
    throw new BillingOffline(BILLING_SETTINGS);
  }

  createCustomer = async () => this.offline();
  syncPlan = async () => this.offline();
  subscribe = async () => this.offline();
  changePrice = async () => this.offline();
  cancel = async () => this.offline();
  resume = async () => this.offline();
  retrieveSubscription = async () => this.offline();
  listSubscriptions = async () => this.offline();
  listAllSubscriptions = () => this.offline();
  createSetupIntent = async () => this.offline();
  retrieveSetupIntent = async () => this.offline();
  setDefaultPaymentMethod = async () => this.offline();
  listInvoices = async () => this.offline();
  payInvoice = async () => this.offline();
  retrieveInvoice = async () => this.offline();
  listEvents = async () => this.offline();
  // Usage is still metered offline (GET /billing/usage counts it); the usage reporter is never started without a
  // key (projectors/billing/usage-reporter-module.ts), and a call here says why nothing reaches Stripe.
  reportUsage = async () => this.offline();
  verifyWebhook = () => this.offline();
}
