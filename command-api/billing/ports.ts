/**
 * The billing port: what the billing commands, the Stripe webhook and the reconciliation job need from the
 * payment provider. Stripe implements it through the `stripe` library (infra/billing/stripe/); without a
 * key, an offline provider answers that nothing is charged (infra/billing/offline-billing.ts). Tests drive the
 * Stripe adapter, and through it the real library, against a loopback server that speaks Stripe's wire format
 * (test/support/fake-stripe.ts).
 *
 * Amounts are in the currency's smallest unit; instants are ISO 8601 strings (UTC).
 */

import type { BillingInterval, SubscriptionStatus } from '../../domain/billing/billing-account.ts';

export type { BillingInterval };

/** A plan of our catalog as the provider sells it: one product, one recurring price per interval. */
export interface CatalogPlanPrices {
  planId: string;
  name: string;
  currency: string;
  /** Price per interval, smallest currency unit. */
  amounts: Record<BillingInterval, number>;
}

/** Where the provider holds a plan: its product and the price of each interval. */
export interface SyncedPlan {
  productId: string;
  priceIds: Record<BillingInterval, string>;
}

/** Stripe's subscription statuses (the domain keeps the same). */
export type ProviderSubscriptionStatus = SubscriptionStatus;

/** A subscription as the provider holds it now (webhooks carry no order: the current object is what counts). */
export interface ProviderSubscription {
  id: string;
  customerId: string;
  status: ProviderSubscriptionStatus;
  /** From the price's metadata; null for a price that is not one of our catalog's. */
  planId: string | null;
  priceId: string;
  interval: BillingInterval;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  canceledAt: string | null;
  trialEnd: string | null;
  defaultPaymentMethodId: string | null;
  /** Our organization, from the subscription's metadata. */
  organizationId: string | null;
}

export interface ProviderInvoice {
  id: string;
  number: string | null;
  status: 'draft' | 'open' | 'paid' | 'uncollectible' | 'void';
  currency: string;
  amountDue: number;
  amountPaid: number;
  periodStart: string;
  periodEnd: string;
  createdAt: string;
  subscriptionId: string | null;
  /** Our organization, from the subscription's metadata the invoice carries. */
  organizationId: string | null;
  /** Payment attempts so far (0: none yet). */
  attemptCount: number;
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
}

/** A provider event (a webhook delivery, or one listed by reconciliation): which object changed, how. */
export interface ProviderEvent {
  id: string;
  type: string;
  createdAt: string;
  /** The object the event is about (its id and kind: `subscription`, `invoice`, `customer`, `setup_intent`, …). */
  objectId: string;
  objectType: string;
  /** Livemode as the provider says; test-mode events in a live installation are refused by the caller. */
  livemode: boolean;
}

/**
 * What an organization holds now of the limited things a plan change must fit: the gauges (contacts, active
 * workflows, seats). Counters (executions, AI tokens) start again each period, so a smaller plan is never refused
 * for them.
 */
export interface HeldUsage {
  contacts: number;
  activeWorkflows: number;
  seats: number;
}

/** Where the plan-change check reads the organization's usage (the metering read model: infra/billing/current-usage.ts). */
export interface CurrentUsage {
  of(organizationId: string): Promise<HeldUsage>;
}

export interface Page<T> {
  items: T[];
  hasMore: boolean;
}

export interface BillingProvider {
  /** `stripe`: real charges; `offline`: nothing is charged (no key configured), and every call says so. */
  readonly mode: 'stripe' | 'offline';

  /** Creates the organization's customer; the idempotency key makes a retried call answer the same customer. */
  createCustomer(input: { organizationId: string; name: string; email: string | null; idempotencyKey: string }): Promise<{ customerId: string }>;
  /** The plan's product and prices, created or brought up to date (a changed amount gets a new price; prices are immutable). */
  syncPlan(plan: CatalogPlanPrices, known: SyncedPlan | null): Promise<SyncedPlan>;
  subscribe(input: {
    customerId: string;
    priceId: string;
    organizationId: string;
    /** The trial's end, carried over so that a subscription started in a trial is not charged early. */
    trialEnd: string | null;
    idempotencyKey: string;
  }): Promise<ProviderSubscription>;
  /** Moves the subscription to another price: prorated now (upgrade) or without proration (applied by the caller at the period end). */
  changePrice(input: { subscriptionId: string; priceId: string; prorate: boolean; idempotencyKey: string }): Promise<ProviderSubscription>;
  /** Cancels at the period end (undoable until then) or now. */
  cancel(input: { subscriptionId: string; atPeriodEnd: boolean; idempotencyKey: string }): Promise<ProviderSubscription>;
  /** Undoes a cancellation at the period end. */
  resume(input: { subscriptionId: string; idempotencyKey: string }): Promise<ProviderSubscription>;
  retrieveSubscription(subscriptionId: string): Promise<ProviderSubscription | null>;
  listSubscriptions(customerId: string): Promise<ProviderSubscription[]>;
  /**
   * Every subscription of the account, whatever its status, page by page (reconciliation). One listing of the
   * whole account rather than one per customer: a request per 100 subscriptions instead of one per organization.
   * No `created` bound: a subscription made long ago still changes (a renewal, a cancellation in the dashboard),
   * and Stripe filters its list by creation, not by change.
   */
  listAllSubscriptions(): AsyncIterable<ProviderSubscription>;
  /** A SetupIntent whose client secret the browser confirms with the card (the card never reaches us). */
  createSetupIntent(input: {
    customerId: string;
    organizationId: string;
    idempotencyKey: string;
  }): Promise<{ id: string; clientSecret: string; status: string }>;
  /** A SetupIntent as it is now: once `succeeded`, the card it set up. */
  retrieveSetupIntent(
    setupIntentId: string,
  ): Promise<{ id: string; status: string; customerId: string | null; paymentMethodId: string | null; organizationId: string | null } | null>;
  /** Makes a confirmed payment method the customer's (and the subscription's) default. */
  setDefaultPaymentMethod(input: {
    customerId: string;
    paymentMethodId: string;
    subscriptionId: string | null;
    idempotencyKey: string;
  }): Promise<void>;
  listInvoices(input: { customerId: string; limit: number; startingAfter: string | null }): Promise<Page<ProviderInvoice>>;
  /** Retries an open invoice's payment now (staff's "retry payment"). */
  payInvoice(input: { invoiceId: string; idempotencyKey: string }): Promise<ProviderInvoice>;
  retrieveInvoice(invoiceId: string): Promise<ProviderInvoice | null>;
  /** Events created at or after an instant, oldest first, every page (reconciliation). */
  listEvents(input: { createdFrom: string; types: readonly string[] }): Promise<ProviderEvent[]>;
  /** One usage report for a metered price; the identifier makes a repeated report count once. */
  reportUsage(input: { meterEventName: string; customerId: string; value: number; identifier: string; timestamp: string }): Promise<void>;
  /** Verifies a webhook delivery's signature on its raw body; throws {@link WebhookSignatureInvalid}. */
  verifyWebhook(rawBody: Buffer, signatureHeader: string | undefined, receivedAt: Date): ProviderEvent;
}

/** The provider refused the request as made (a declined card, an unknown object, a bad parameter). */
export class BillingRequestRejected extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    readonly param: string | null,
    readonly status: number,
    /** Stripe's decline code for a card error (`insufficient_funds`, …). */
    readonly declineCode: string | null = null,
  ) {
    super(message);
    this.name = 'BillingRequestRejected';
  }
}

/** The provider is unreachable or failing (5xx, timeout, connection). */
export class BillingUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BillingUnavailable';
  }
}

/** Too many requests; retry after the given time. */
export class BillingRateLimited extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`The payment provider asks to retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'BillingRateLimited';
  }
}

/** Offline mode: the call would charge or reach the provider, which is not configured. */
export class BillingOffline extends Error {
  constructor(readonly missing: readonly string[]) {
    super(`Billing runs offline: nothing is charged (set ${missing.join(' and ')} to charge through Stripe)`);
    this.name = 'BillingOffline';
  }
}

/** A webhook whose signature is missing, wrong or outside the tolerance; nothing of it may be applied. */
export class WebhookSignatureInvalid extends Error {
  constructor(readonly reason: 'missing' | 'mismatch' | 'stale' | 'malformed') {
    super(`Stripe-Signature ${reason}`);
    this.name = 'WebhookSignatureInvalid';
  }
}
