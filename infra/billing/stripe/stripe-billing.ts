import Stripe from 'stripe';
import { retryAfterMs } from '../../crm/rest/rest.ts';
import {
  BillingRateLimited,
  BillingRequestRejected,
  BillingUnavailable,
  WebhookSignatureInvalid,
  type BillingInterval,
  type BillingProvider,
  type CatalogPlanPrices,
  type Page,
  type ProviderEvent,
  type ProviderInvoice,
  type ProviderSubscription,
  type ProviderSubscriptionStatus,
  type SyncedPlan,
} from '../../../command-api/billing/ports.ts';

export interface StripeBillingOptions {
  secretKey: string;
  webhookSecret: string;
  /** STRIPE_API_URL; default Stripe's own. */
  apiUrl?: string;
  /** Per request. */
  timeoutMs?: number;
  /** The library's own retries (with its idempotency keys): on connection errors, 409, 429 and 5xx. */
  maxNetworkRetries?: number;
  /** How old a webhook's signed timestamp may be (Stripe's recommendation: 5 minutes). */
  webhookToleranceSeconds?: number;
}

const DEFAULT_API_URL = 'https://api.stripe.com';
const intervals: readonly BillingInterval[] = ['month', 'year'];

/**
 * The billing port on Stripe, through the `stripe` library. Every write carries an idempotency key made by the
 * caller from the command (a retried command answers the same object instead of charging twice); prices are
 * immutable at Stripe, so a changed amount is a new price under the same lookup key (transferred) and the old
 * one is deactivated.
 */
export class StripeBilling implements BillingProvider {
  readonly mode = 'stripe' as const;
  private readonly stripe: Stripe;
  private readonly tolerance: number;

  constructor(private readonly options: StripeBillingOptions) {
    const url = new URL(options.apiUrl ?? DEFAULT_API_URL);
    const protocol = url.protocol === 'http:' ? 'http' : 'https';
    this.stripe = new Stripe(options.secretKey, {
      host: url.hostname,
      port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port),
      protocol,
      timeout: options.timeoutMs ?? 20_000,
      maxNetworkRetries: options.maxNetworkRetries ?? 2,
      telemetry: false,
      appInfo: { name: 'NexusFlow' },
    });
    this.tolerance = options.webhookToleranceSeconds ?? 300;
  }

  async createCustomer(input: { organizationId: string; name: string; email: string | null; idempotencyKey: string }) {
    const customer = await this.call(() =>
      this.stripe.customers.create(
        { name: input.name, ...(input.email ? { email: input.email } : {}), metadata: { organizationId: input.organizationId } },
        { idempotencyKey: input.idempotencyKey },
      ),
    );
    return { customerId: customer.id };
  }

  async syncPlan(plan: CatalogPlanPrices, known: SyncedPlan | null): Promise<SyncedPlan> {
    const productId = known
      ? (await this.call(() => this.stripe.products.update(known.productId, { name: plan.name, active: true }))).id
      : (
          await this.call(() =>
            this.stripe.products.create(
              { name: plan.name, metadata: { planId: plan.planId } },
              { idempotencyKey: `nexusflow-plan-${plan.planId}-product` },
            ),
          )
        ).id;
    const priceIds = {} as Record<BillingInterval, string>;
    for (const interval of intervals) {
      const amount = plan.amounts[interval];
      const currency = plan.currency.toLowerCase();
      const current = known ? await this.call(() => this.stripe.prices.retrieve(known.priceIds[interval])) : null;
      if (current && current.active && current.unit_amount === amount && current.currency === currency) {
        priceIds[interval] = current.id;
        continue;
      }
      const created = await this.call(() =>
        this.stripe.prices.create(
          {
            product: productId,
            currency,
            unit_amount: amount,
            recurring: { interval },
            lookup_key: lookupKey(plan.planId, interval),
            transfer_lookup_key: true,
            metadata: { planId: plan.planId, interval },
          },
          { idempotencyKey: `nexusflow-plan-${plan.planId}-${interval}-${currency}-${amount}` },
        ),
      );
      if (current?.active) await this.call(() => this.stripe.prices.update(current.id, { active: false }));
      priceIds[interval] = created.id;
    }
    return { productId, priceIds };
  }

  async subscribe(input: { customerId: string; priceId: string; organizationId: string; trialEnd: string | null; idempotencyKey: string }) {
    const trialEnd = input.trialEnd !== null && Date.parse(input.trialEnd) > Date.now() + 60_000 ? unix(input.trialEnd) : undefined;
    const subscription = await this.call(() =>
      this.stripe.subscriptions.create(
        {
          customer: input.customerId,
          items: [{ price: input.priceId }],
          metadata: { organizationId: input.organizationId },
          ...(trialEnd !== undefined ? { trial_end: trialEnd } : {}),
          payment_settings: { save_default_payment_method: 'on_subscription' },
        },
        { idempotencyKey: input.idempotencyKey },
      ),
    );
    return toSubscription(subscription);
  }

  async changePrice(input: { subscriptionId: string; priceId: string; prorate: boolean; idempotencyKey: string }) {
    const current = await this.call(() => this.stripe.subscriptions.retrieve(input.subscriptionId));
    const item = current.items.data[0];
    if (!item) throw new BillingRequestRejected('The subscription has no item to change', 'subscription_without_items', null, 400);
    const updated = await this.call(() =>
      this.stripe.subscriptions.update(
        input.subscriptionId,
        {
          items: [{ id: item.id, price: input.priceId }],
          // An upgrade is charged at once for the rest of the period; a change at the period end owes nothing now.
          proration_behavior: input.prorate ? 'always_invoice' : 'none',
        },
        { idempotencyKey: input.idempotencyKey },
      ),
    );
    return toSubscription(updated);
  }

  async cancel(input: { subscriptionId: string; atPeriodEnd: boolean; idempotencyKey: string }) {
    const subscription = input.atPeriodEnd
      ? await this.call(() =>
          this.stripe.subscriptions.update(input.subscriptionId, { cancel_at_period_end: true }, { idempotencyKey: input.idempotencyKey }),
        )
      : await this.call(() => this.stripe.subscriptions.cancel(input.subscriptionId, {}, { idempotencyKey: input.idempotencyKey }));
    return toSubscription(subscription);
  }

  async resume(input: { subscriptionId: string; idempotencyKey: string }) {
    const subscription = await this.call(() =>
      this.stripe.subscriptions.update(input.subscriptionId, { cancel_at_period_end: false }, { idempotencyKey: input.idempotencyKey }),
    );
    return toSubscription(subscription);
  }

  async retrieveSubscription(subscriptionId: string) {
    const subscription = await this.orNull(() => this.stripe.subscriptions.retrieve(subscriptionId));
    return subscription ? toSubscription(subscription) : null;
  }

  async listSubscriptions(customerId: string) {
    const found: ProviderSubscription[] = [];
    await this.call(() =>
      this.stripe.subscriptions.list({ customer: customerId, status: 'all', limit: 100 }).autoPagingEach((subscription) => {
        found.push(toSubscription(subscription));
      }),
    );
    return found;
  }

  async *listAllSubscriptions(): AsyncIterable<ProviderSubscription> {
    // The library's auto-pagination asks for the next page (starting_after the last id) as the caller reads on,
    // so a large account is held a page at a time.
    const pages = this.stripe.subscriptions.list({ status: 'all', limit: 100 });
    try {
      for await (const subscription of pages) yield toSubscription(subscription);
    } catch (error) {
      throw toPortError(error);
    }
  }

  async createSetupIntent(input: { customerId: string; organizationId: string; idempotencyKey: string }) {
    const intent = await this.call(() =>
      this.stripe.setupIntents.create(
        { customer: input.customerId, usage: 'off_session', metadata: { organizationId: input.organizationId } },
        { idempotencyKey: input.idempotencyKey },
      ),
    );
    return { id: intent.id, clientSecret: intent.client_secret ?? '', status: intent.status };
  }

  async retrieveSetupIntent(setupIntentId: string) {
    const intent = await this.orNull(() => this.stripe.setupIntents.retrieve(setupIntentId));
    if (!intent) return null;
    return {
      id: intent.id,
      status: intent.status,
      customerId: idOf(intent.customer),
      paymentMethodId: idOf(intent.payment_method),
      organizationId: intent.metadata?.organizationId ?? null,
    };
  }

  async setDefaultPaymentMethod(input: { customerId: string; paymentMethodId: string; subscriptionId: string | null; idempotencyKey: string }) {
    await this.call(() =>
      this.stripe.customers.update(
        input.customerId,
        { invoice_settings: { default_payment_method: input.paymentMethodId } },
        { idempotencyKey: `${input.idempotencyKey}-customer` },
      ),
    );
    if (input.subscriptionId !== null) {
      const subscriptionId = input.subscriptionId;
      await this.call(() =>
        this.stripe.subscriptions.update(
          subscriptionId,
          { default_payment_method: input.paymentMethodId },
          { idempotencyKey: `${input.idempotencyKey}-subscription` },
        ),
      );
    }
  }

  async listInvoices(input: { customerId: string; limit: number; startingAfter: string | null }): Promise<Page<ProviderInvoice>> {
    const page = await this.call(() =>
      this.stripe.invoices.list({
        customer: input.customerId,
        limit: input.limit,
        ...(input.startingAfter ? { starting_after: input.startingAfter } : {}),
      }),
    );
    return { items: page.data.map(toInvoice), hasMore: page.has_more };
  }

  async payInvoice(input: { invoiceId: string; idempotencyKey: string }) {
    return toInvoice(await this.call(() => this.stripe.invoices.pay(input.invoiceId, {}, { idempotencyKey: input.idempotencyKey })));
  }

  async retrieveInvoice(invoiceId: string) {
    const invoice = await this.orNull(() => this.stripe.invoices.retrieve(invoiceId));
    return invoice ? toInvoice(invoice) : null;
  }

  async listEvents(input: { createdFrom: string; types: readonly string[] }): Promise<ProviderEvent[]> {
    const events: ProviderEvent[] = [];
    await this.call(() =>
      this.stripe.events
        .list({ created: { gte: unix(input.createdFrom) }, ...(input.types.length > 0 ? { types: [...input.types] } : {}), limit: 100 })
        .autoPagingEach((event) => {
          events.push(toEvent(event));
        }),
    );
    // Stripe lists newest first.
    return events.reverse();
  }

  async reportUsage(input: { meterEventName: string; customerId: string; value: number; identifier: string; timestamp: string }) {
    await this.call(() =>
      this.stripe.billing.meterEvents.create({
        event_name: input.meterEventName,
        payload: { stripe_customer_id: input.customerId, value: String(input.value) },
        identifier: input.identifier,
        timestamp: unix(input.timestamp),
      }),
    );
  }

  verifyWebhook(rawBody: Buffer, signatureHeader: string | undefined, receivedAt: Date): ProviderEvent {
    if (!signatureHeader) throw new WebhookSignatureInvalid('missing');
    try {
      const event = this.stripe.webhooks.constructEvent(
        rawBody,
        signatureHeader,
        this.options.webhookSecret,
        this.tolerance,
        undefined,
        // Milliseconds: the library divides by 1000 itself.
        receivedAt.getTime(),
      );
      return toEvent(event);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        const message = error.message;
        if (/tolerance/i.test(message)) throw new WebhookSignatureInvalid('stale');
        if (/unable to extract/i.test(message)) throw new WebhookSignatureInvalid('malformed');
        throw new WebhookSignatureInvalid('mismatch');
      }
      // A signed body that is not an event (the library parses it after verifying).
      throw new WebhookSignatureInvalid('malformed');
    }
  }

  /** A retrieve that answers null for an object Stripe does not know. */
  private async orNull<T>(work: () => Promise<T>): Promise<T | null> {
    try {
      return await this.call(work);
    } catch (error) {
      if (error instanceof BillingRequestRejected && error.code === 'resource_missing') return null;
      throw error;
    }
  }

  /** Stripe's errors as the port's. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw toPortError(error);
    }
  }
}

function toPortError(error: unknown): unknown {
  if (!(error instanceof Stripe.errors.StripeError)) return error;
  const status = error.statusCode ?? 0;
  if (error instanceof Stripe.errors.StripeRateLimitError || status === 429) {
    return new BillingRateLimited(retryAfterMs(error.headers?.['retry-after'], 1000));
  }
  if (error instanceof Stripe.errors.StripeConnectionError || error instanceof Stripe.errors.StripeAPIError || status >= 500) {
    return new BillingUnavailable(`Stripe is unavailable: ${error.message}`);
  }
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    // Our configuration, not the customer's request: an operator must fix STRIPE_SECRET_KEY.
    return new BillingUnavailable(`Stripe refused our credentials (check STRIPE_SECRET_KEY): ${error.message}`);
  }
  return new BillingRequestRejected(error.message, error.code ?? null, error.param ?? null, status || 400, error.decline_code ?? null);
}

const lookupKey = (planId: string, interval: BillingInterval) => `nexusflow_${planId}_${interval}`;
const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000);
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id;

function toSubscription(subscription: Stripe.Subscription): ProviderSubscription {
  const item = subscription.items.data[0];
  if (!item) throw new BillingRequestRejected(`Subscription ${subscription.id} has no item`, 'subscription_without_items', null, 400);
  const price = item.price;
  const interval: BillingInterval = price.recurring?.interval === 'year' ? 'year' : 'month';
  return {
    id: subscription.id,
    customerId: idOf(subscription.customer) ?? '',
    status: subscription.status as ProviderSubscriptionStatus,
    planId: price.metadata?.planId ?? null,
    priceId: price.id,
    interval,
    currentPeriodStart: iso(item.current_period_start),
    currentPeriodEnd: iso(item.current_period_end),
    cancelAtPeriodEnd: subscription.cancel_at_period_end,
    canceledAt: subscription.canceled_at ? iso(subscription.canceled_at) : null,
    trialEnd: subscription.trial_end ? iso(subscription.trial_end) : null,
    defaultPaymentMethodId: idOf(subscription.default_payment_method),
    organizationId: subscription.metadata?.organizationId ?? null,
  };
}

function toInvoice(invoice: Stripe.Invoice): ProviderInvoice {
  return {
    id: invoice.id ?? '',
    number: invoice.number,
    status: (invoice.status ?? 'draft') as ProviderInvoice['status'],
    currency: invoice.currency.toUpperCase(),
    amountDue: invoice.amount_due,
    amountPaid: invoice.amount_paid,
    periodStart: iso(invoice.period_start),
    periodEnd: iso(invoice.period_end),
    createdAt: iso(invoice.created),
    subscriptionId: idOf(invoice.parent?.subscription_details?.subscription),
    organizationId: invoice.parent?.subscription_details?.metadata?.organizationId ?? null,
    attemptCount: invoice.attempt_count ?? 0,
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
    pdfUrl: invoice.invoice_pdf ?? null,
  };
}

function toEvent(event: Stripe.Event): ProviderEvent {
  const object = event.data.object as { id?: string; object?: string };
  return {
    id: event.id,
    type: event.type,
    createdAt: iso(event.created),
    objectId: object.id ?? '',
    objectType: object.object ?? '',
    livemode: event.livemode,
  };
}
