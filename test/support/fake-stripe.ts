import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import qs from 'qs';

/**
 * Stripe as the `stripe` library sees it, on a loopback port: form-encoded requests (nested `a[b][0]=c`),
 * Bearer secret keys, idempotency keys (a replay answers the first response with `Idempotent-Replayed`; the
 * same key with other parameters is an `idempotency_error`), list objects paged with `limit` and
 * `starting_after`, `expand[]`, Stripe's error bodies (`{ error: { type, code, param, message } }`), 429 with
 * Retry-After, and events kept for `GET /v1/events`. Customers, products, prices (lookup keys, transferred),
 * subscriptions (trials, proration, cancel at period end or now), SetupIntents, invoices, meter events.
 *
 * The test steers what a customer or Stripe itself would do: confirm a SetupIntent with a card, decline the
 * next payment, end a period (renewal), advance the clock. Where Stripe's documentation leaves the behaviour
 * open, the fake takes the strict reading and says so:
 * - expanding a property that is not expandable is a 400 (as Stripe answers for unknown expansions);
 * - a meter event whose identifier was seen before counts once (Stripe "enforces uniqueness" of identifiers for
 *   at least 24 hours without saying how it answers a repeat: the fake answers the first event, kept for good);
 * - a renewal charges the default payment method at once (no retry schedule; `payOpenInvoices` settles).
 */
export class FakeStripe {
  readonly secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  readonly webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  /** Unix seconds; the test moves it. */
  now = Math.floor(Date.parse('2026-01-01T00:00:00Z') / 1000);
  readonly customers = new Map<string, StripeObject>();
  readonly products = new Map<string, StripeObject>();
  readonly prices = new Map<string, StripeObject>();
  readonly subscriptions = new Map<string, StripeObject>();
  readonly setupIntents = new Map<string, StripeObject>();
  readonly paymentMethods = new Map<string, StripeObject>();
  readonly invoices = new Map<string, StripeObject>();
  /** Newest last. */
  readonly events: StripeObject[] = [];
  readonly meterEvents = new Map<string, StripeObject>();
  /** Every request: method, path, its parameters and idempotency key. */
  readonly requests: { method: string; path: string; params: Record<string, unknown>; idempotencyKey: string | null }[] = [];
  private readonly idempotent = new Map<string, { fingerprint: string; status: number; body: string }>();
  private failures: { status: number; retryAfter?: number }[] = [];
  private declineCode: string | null = null;
  private sequence = 0;

  private constructor(private readonly server: ReturnType<typeof createServer>) {}

  static async start(): Promise<FakeStripe> {
    const server = createServer();
    const fake = new FakeStripe(server);
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** STRIPE_API_URL for this server. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The next `times` requests answer 429 with this Retry-After (seconds). */
  rateLimitNext(times: number, retryAfterSeconds: number): void {
    for (let i = 0; i < times; i++) this.failures.push({ status: 429, retryAfter: retryAfterSeconds });
  }

  /** The next `times` requests answer this 5xx. */
  failNext(times: number, status = 500): void {
    for (let i = 0; i < times; i++) this.failures.push({ status });
  }

  /** The next charge is declined with this decline code (`insufficient_funds`, `card_declined`, …). */
  declineNextPayment(declineCode = 'card_declined'): void {
    this.declineCode = declineCode;
  }

  /** What the customer's browser does with the SetupIntent's client secret: a card, attached to the customer. */
  confirmSetupIntent(setupIntentId: string): string {
    const intent = this.must(this.setupIntents, setupIntentId);
    const method = this.create(this.paymentMethods, 'pm', 'payment_method', {
      type: 'card',
      card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 },
      customer: intent.customer,
    });
    Object.assign(intent, { status: 'succeeded', payment_method: method.id });
    this.emit('setup_intent.succeeded', intent);
    return method.id as string;
  }

  /** The period of a subscription ends: it renews (an invoice, charged at once) or, if so set, ends. */
  endPeriod(subscriptionId: string): void {
    const subscription = this.must(this.subscriptions, subscriptionId);
    const item = itemOf(subscription);
    this.now = Math.max(this.now, item.current_period_end as number);
    if (subscription.cancel_at_period_end) {
      Object.assign(subscription, { status: 'canceled', canceled_at: this.now, ended_at: this.now });
      this.emit('customer.subscription.deleted', subscription);
      return;
    }
    const price = item.price as StripeObject;
    Object.assign(item, { current_period_start: this.now, current_period_end: this.periodEnd(this.now, price) });
    if (subscription.status === 'trialing') subscription.trial_end = subscription.trial_end ?? this.now;
    const invoice = this.invoice(subscription, price.unit_amount as number, 'subscription_cycle');
    this.settle(subscription, invoice);
  }

  /** Pays every open invoice of a customer whose card now works (Stripe's smart retries, at once). */
  payOpenInvoices(customerId: string): void {
    for (const invoice of this.invoices.values()) {
      if (invoice.customer !== customerId || invoice.status !== 'open') continue;
      const subscriptionId = subscriptionOf(invoice);
      const subscription = subscriptionId ? this.subscriptions.get(subscriptionId) : undefined;
      if (subscription) this.settle(subscription, invoice);
    }
  }

  /**
   * Events from `from` on are no longer listed (GET /v1/events), as when they are older than the 30 days Stripe
   * lists: what changed is then only seen on the objects themselves.
   */
  forgetEvents(from = 0): void {
    this.events.splice(from);
  }

  /** A raw event body as Stripe would deliver it (for webhook tests: sign it with the library's test helper). */
  eventBody(eventId: string): string {
    const event = this.events.find((e) => e.id === eventId);
    if (!event) throw new Error(`no event ${eventId}`);
    return JSON.stringify(event, null, 2);
  }

  // --- the wire ---

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stripe.test');
    const body = Buffer.concat(chunks).toString('utf8');
    const params = (
      req.method === 'GET' || req.method === 'DELETE' ? qs.parse(url.search.slice(1)) : qs.parse(body, { arrayLimit: 1000, depth: 10 })
    ) as Record<string, unknown>;
    const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, params, idempotencyKey });
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(7).toString('hex')}`, ...headers });
      res.end(text);
      return text;
    };
    if (req.headers.authorization !== `Bearer ${this.secretKey}`) {
      answer(401, stripeError('invalid_request_error', 'Invalid API Key provided', null, null));
      return;
    }
    const failure = this.failures.shift();
    if (failure) {
      answer(
        failure.status,
        stripeError(
          failure.status === 429 ? 'invalid_request_error' : 'api_error',
          failure.status === 429 ? 'Too many requests' : 'Something went wrong',
          failure.status === 429 ? 'rate_limit' : null,
          null,
        ),
        failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {},
      );
      return;
    }
    const fingerprint = createHash('sha256').update(`${req.method} ${url.pathname} ${body}`).digest('hex');
    if (idempotencyKey && req.method === 'POST') {
      const seen = this.idempotent.get(idempotencyKey);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          answer(
            400,
            stripeError(
              'idempotency_error',
              'Keys for idempotent requests can only be used with the same parameters they were first used with.',
              'idempotency_key_in_use',
              null,
            ),
          );
        } else {
          res.writeHead(seen.status, { 'content-type': 'application/json', 'idempotent-replayed': 'true' });
          res.end(seen.body);
        }
        return;
      }
    }
    let status = 200;
    let payload: unknown;
    try {
      payload = this.route(req.method ?? 'GET', url.pathname, params);
    } catch (error) {
      if (!(error instanceof StripeFault)) throw error;
      status = error.status;
      payload = stripeError(error.type, error.message, error.code, error.param, error.declineCode);
    }
    const text = answer(status, payload);
    // Stripe keeps the answer of a request that reached its API, errors included (not 5xx or 429).
    if (idempotencyKey && req.method === 'POST') this.idempotent.set(idempotencyKey, { fingerprint, status, body: text });
  }

  private route(method: string, path: string, p: Record<string, unknown>): unknown {
    const parts = path.split('/').filter(Boolean); // ['v1', resource, id?, action?]
    if (parts[0] !== 'v1') throw new StripeFault(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path})`);
    const [, resource, id, action] = parts;
    const key =
      path === '/v1/billing/meter_events'
        ? `${method} billing/meter_events`
        : `${method} ${resource}${id ? '/:id' : ''}${action ? `/${action}` : ''}`;
    switch (key) {
      case 'POST customers':
        return this.create(this.customers, 'cus', 'customer', {
          name: p.name ?? null,
          email: p.email ?? null,
          metadata: p.metadata ?? {},
          invoice_settings: { default_payment_method: null },
        });
      case 'GET customers/:id':
        return this.must(this.customers, id!);
      case 'POST customers/:id': {
        const customer = this.must(this.customers, id!);
        const settings = p.invoice_settings as { default_payment_method?: string } | undefined;
        if (settings?.default_payment_method !== undefined) {
          const method = this.must(this.paymentMethods, settings.default_payment_method, 'invoice_settings[default_payment_method]');
          if (method.customer !== customer.id)
            throw new StripeFault(
              400,
              'invalid_request_error',
              'The payment method is not attached to this customer',
              'invoice_settings[default_payment_method]',
            );
          (customer.invoice_settings as Record<string, unknown>).default_payment_method = method.id;
        }
        for (const field of ['name', 'email'] as const) if (p[field] !== undefined) customer[field] = p[field];
        if (p.metadata) customer.metadata = { ...(customer.metadata as object), ...(p.metadata as object) };
        this.emit('customer.updated', customer);
        return customer;
      }
      case 'POST products':
        return this.create(this.products, 'prod', 'product', { name: p.name, active: true, metadata: p.metadata ?? {} });
      case 'POST products/:id': {
        const product = this.must(this.products, id!);
        if (p.name !== undefined) product.name = p.name;
        if (p.active !== undefined) product.active = p.active === 'true';
        return product;
      }
      case 'GET products/:id':
        return this.must(this.products, id!);
      case 'POST prices': {
        const product = this.must(this.products, p.product as string, 'product');
        const recurring = p.recurring as { interval?: string } | undefined;
        if (!recurring?.interval || !['day', 'week', 'month', 'year'].includes(recurring.interval))
          throw new StripeFault(400, 'invalid_request_error', 'Invalid recurring[interval]', 'recurring[interval]', 'parameter_invalid_empty');
        const lookupKey = (p.lookup_key as string | undefined) ?? null;
        if (lookupKey) {
          const holder = [...this.prices.values()].find((price) => price.lookup_key === lookupKey);
          if (holder && p.transfer_lookup_key !== 'true')
            throw new StripeFault(
              400,
              'invalid_request_error',
              `A price (${holder.id}) already uses that lookup key.`,
              'lookup_key',
              'resource_already_exists',
            );
          if (holder) holder.lookup_key = null;
        }
        return this.create(this.prices, 'price', 'price', {
          product: product.id,
          currency: p.currency,
          unit_amount: Number(p.unit_amount),
          recurring: { interval: recurring.interval, interval_count: 1, usage_type: 'licensed' },
          lookup_key: lookupKey,
          active: true,
          type: 'recurring',
          metadata: p.metadata ?? {},
        });
      }
      case 'GET prices/:id':
        return this.must(this.prices, id!);
      case 'POST prices/:id': {
        const price = this.must(this.prices, id!);
        if (p.active !== undefined) price.active = p.active === 'true';
        return price;
      }
      case 'GET prices': {
        const keys = (p.lookup_keys as string[] | undefined) ?? null;
        return this.list(
          '/v1/prices',
          [...this.prices.values()].filter((price) => !keys || keys.includes(price.lookup_key as string)),
          p,
        );
      }
      case 'POST subscriptions':
        return this.expand(this.subscribe(p), p);
      case 'GET subscriptions/:id':
        return this.expand(this.must(this.subscriptions, id!), p);
      case 'POST subscriptions/:id':
        return this.expand(this.updateSubscription(this.must(this.subscriptions, id!), p), p);
      case 'DELETE subscriptions/:id': {
        const subscription = this.must(this.subscriptions, id!);
        if (subscription.status === 'canceled')
          throw new StripeFault(400, 'invalid_request_error', 'This subscription is already canceled.', null, 'subscription_canceled');
        Object.assign(subscription, { status: 'canceled', canceled_at: this.now, ended_at: this.now });
        this.emit('customer.subscription.deleted', subscription);
        return this.expand(subscription, p);
      }
      case 'GET subscriptions': {
        // Stripe's filter: absent, every subscription not canceled; `all`; `ended` (canceled or expired); else one status.
        const status = p.status as string | undefined;
        if (status !== undefined && !subscriptionStatusFilters.includes(status))
          throw new StripeFault(400, 'invalid_request_error', `Invalid status: must be one of ${subscriptionStatusFilters.join(', ')}`, 'status');
        const matching = [...this.subscriptions.values()].filter(
          (s) =>
            (!p.customer || s.customer === p.customer) &&
            (status === undefined
              ? s.status !== 'canceled'
              : status === 'all' || (status === 'ended' ? s.status === 'canceled' || s.status === 'incomplete_expired' : s.status === status)),
        );
        return this.list('/v1/subscriptions', matching, p);
      }
      case 'POST setup_intents': {
        this.must(this.customers, p.customer as string, 'customer');
        const intent = this.create(this.setupIntents, 'seti', 'setup_intent', {
          customer: p.customer,
          usage: p.usage ?? 'off_session',
          status: 'requires_payment_method',
          payment_method: null,
          metadata: p.metadata ?? {},
        });
        intent.client_secret = `${intent.id}_secret_${randomBytes(8).toString('hex')}`;
        return intent;
      }
      case 'GET setup_intents/:id':
        return this.must(this.setupIntents, id!);
      case 'GET payment_methods/:id':
        return this.must(this.paymentMethods, id!);
      case 'GET invoices':
        return this.list(
          '/v1/invoices',
          [...this.invoices.values()].filter((invoice) => !p.customer || invoice.customer === p.customer),
          p,
        );
      case 'GET invoices/:id':
        return this.must(this.invoices, id!);
      case 'POST invoices/:id/pay': {
        const invoice = this.must(this.invoices, id!);
        if (invoice.status !== 'open') throw new StripeFault(400, 'invalid_request_error', 'Invoice is already paid', null, 'invoice_not_open');
        const subscriptionId = subscriptionOf(invoice);
        const subscription = subscriptionId ? this.must(this.subscriptions, subscriptionId) : null;
        const declined = this.charge(invoice.customer as string);
        if (declined) {
          if (subscription) this.settle(subscription, invoice, declined);
          throw new StripeFault(402, 'card_error', 'Your card was declined.', null, 'card_declined', declined);
        }
        if (subscription) this.settle(subscription, invoice);
        return invoice;
      }
      case 'GET events': {
        const created = p.created as { gte?: string } | undefined;
        const types = (p.types as string[] | undefined) ?? (p.type ? [p.type as string] : null);
        const matching = this.events.filter(
          (e) => (!created?.gte || (e.created as number) >= Number(created.gte)) && (!types || types.includes(e.type as string)),
        );
        return this.list('/v1/events', matching, p);
      }
      case 'POST billing/meter_events': {
        const timestamp = this.checkMeterEvent(p);
        const identifier = (p.identifier as string | undefined) ?? `mev_${randomBytes(8).toString('hex')}`;
        const known = this.meterEvents.get(identifier);
        if (known) return known;
        const event = {
          object: 'billing.meter_event',
          event_name: p.event_name,
          identifier,
          payload: p.payload,
          timestamp,
          created: this.now,
          livemode: false,
        };
        this.meterEvents.set(identifier, event);
        return event;
      }
      default:
        throw new StripeFault(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path})`);
    }
  }

  private subscribe(p: Record<string, unknown>): StripeObject {
    const customer = this.must(this.customers, p.customer as string, 'customer');
    const items = (p.items as { price?: string }[] | undefined) ?? [];
    if (items.length !== 1) throw new StripeFault(400, 'invalid_request_error', 'This fake takes exactly one item', 'items');
    const price = this.must(this.prices, items[0]!.price!, 'items[0][price]');
    if (!price.active) throw new StripeFault(400, 'invalid_request_error', 'The price is not active', 'items[0][price]');
    const trialEnd = p.trial_end !== undefined ? Number(p.trial_end) : null;
    const periodEnd = trialEnd ?? this.periodEnd(this.now, price);
    const subscription = this.create(this.subscriptions, 'sub', 'subscription', {
      customer: customer.id,
      status: trialEnd ? 'trialing' : 'incomplete',
      metadata: p.metadata ?? {},
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      trial_start: trialEnd ? this.now : null,
      trial_end: trialEnd,
      default_payment_method: null,
      latest_invoice: null,
      items: { object: 'list', data: [], has_more: false, url: '/v1/subscription_items' },
    });
    (subscription.items as { data: unknown[] }).data.push({
      id: this.nextId('si'),
      object: 'subscription_item',
      price,
      quantity: 1,
      subscription: subscription.id,
      current_period_start: this.now,
      current_period_end: periodEnd,
    });
    this.emit('customer.subscription.created', subscription);
    const invoice = this.invoice(subscription, trialEnd ? 0 : (price.unit_amount as number), 'subscription_create');
    this.settle(subscription, invoice);
    return subscription;
  }

  private updateSubscription(subscription: StripeObject, p: Record<string, unknown>): StripeObject {
    if (subscription.status === 'canceled')
      throw new StripeFault(
        400,
        'invalid_request_error',
        'A canceled subscription can only update its cancellation_details and metadata.',
        null,
        'invalid_canceled_subscription_fields',
      );
    if (p.cancel_at_period_end !== undefined) subscription.cancel_at_period_end = p.cancel_at_period_end === 'true';
    if (p.default_payment_method !== undefined) {
      const method = this.must(this.paymentMethods, p.default_payment_method as string, 'default_payment_method');
      subscription.default_payment_method = method.id;
    }
    if (p.metadata) subscription.metadata = { ...(subscription.metadata as object), ...(p.metadata as object) };
    const items = p.items as { id?: string; price?: string }[] | undefined;
    if (items?.[0]?.price) {
      const item = itemOf(subscription);
      if (items[0].id !== item.id)
        throw new StripeFault(400, 'invalid_request_error', `No such subscription item: '${items[0].id}'`, 'items[0][id]', 'resource_missing');
      const price = this.must(this.prices, items[0].price, 'items[0][price]');
      const old = item.price as StripeObject;
      item.price = price;
      const proration = (p.proration_behavior as string | undefined) ?? 'create_prorations';
      if (proration === 'always_invoice' && subscription.status !== 'trialing') {
        const start = item.current_period_start as number;
        const end = item.current_period_end as number;
        const left = Math.max(0, (end - this.now) / Math.max(1, end - start));
        const owed = Math.round(((price.unit_amount as number) - (old.unit_amount as number)) * left);
        if (owed > 0) this.settle(subscription, this.invoice(subscription, owed, 'subscription_update'));
      }
    }
    this.emit('customer.subscription.updated', subscription);
    return subscription;
  }

  /** A new invoice for the subscription, open until charged. */
  private invoice(subscription: StripeObject, amount: number, reason: string): StripeObject {
    const item = itemOf(subscription);
    const price = item.price as StripeObject;
    const invoice = this.create(this.invoices, 'in', 'invoice', {
      customer: subscription.customer,
      number: `NF-${String(this.invoices.size + 1).padStart(4, '0')}`,
      status: 'open',
      currency: price.currency,
      amount_due: amount,
      amount_paid: 0,
      amount_remaining: amount,
      billing_reason: reason,
      period_start: item.current_period_start,
      period_end: item.current_period_end,
      parent: { type: 'subscription_details', subscription_details: { subscription: subscription.id, metadata: subscription.metadata } },
      lines: { object: 'list', data: [], has_more: false, url: '/v1/invoices/lines' },
    });
    invoice.hosted_invoice_url = `https://invoice.stripe.test/i/${invoice.id}`;
    invoice.invoice_pdf = `https://pay.stripe.test/invoice/${invoice.id}/pdf`;
    subscription.latest_invoice = invoice.id;
    this.emit('invoice.created', invoice);
    return invoice;
  }

  /** Charges an open invoice (nothing to charge: paid) and moves the subscription's status to match. */
  private settle(subscription: StripeObject, invoice: StripeObject, declined: string | null = null): void {
    const amount = invoice.amount_due as number;
    const failed = declined ?? (amount > 0 ? this.charge(subscription.customer as string) : null);
    const before = subscription.status;
    if (failed === null) {
      Object.assign(invoice, { status: 'paid', amount_paid: amount, amount_remaining: 0 });
      this.emit('invoice.paid', invoice);
      if (subscription.status !== 'trialing' || (subscription.trial_end as number) <= this.now) subscription.status = 'active';
    } else {
      invoice.attempt_count = ((invoice.attempt_count as number | undefined) ?? 0) + 1;
      this.emit('invoice.payment_failed', invoice);
      subscription.status = invoice.billing_reason === 'subscription_create' ? 'incomplete' : 'past_due';
    }
    if (subscription.status !== before) this.emit('customer.subscription.updated', subscription);
  }

  /** A charge on the customer's default card: null when it goes through, else the decline code. */
  private charge(customerId: string): string | null {
    const customer = this.must(this.customers, customerId);
    const method = (customer.invoice_settings as { default_payment_method: string | null }).default_payment_method;
    if (!method) return 'no_payment_method';
    const declined = this.declineCode;
    this.declineCode = null;
    return declined;
  }

  private periodEnd(from: number, price: StripeObject): number {
    const date = new Date(from * 1000);
    if ((price.recurring as { interval: string }).interval === 'year') date.setUTCFullYear(date.getUTCFullYear() + 1);
    else date.setUTCMonth(date.getUTCMonth() + 1);
    return Math.floor(date.getTime() / 1000);
  }

  private emit(type: string, object: StripeObject): void {
    this.events.push({
      id: this.nextId('evt'),
      object: 'event',
      api_version: '2026-11-18.endive',
      created: this.now,
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: structuredClone(object) },
    });
  }

  private create(table: Map<string, StripeObject>, prefix: string, kind: string, fields: Record<string, unknown>): StripeObject {
    const object: StripeObject = { id: this.nextId(prefix), object: kind, created: this.now, livemode: false, ...fields };
    table.set(object.id as string, object);
    return object;
  }

  private must(table: Map<string, StripeObject>, id: string, param = 'id'): StripeObject {
    const object = table.get(id);
    if (!object) throw new StripeFault(404, 'invalid_request_error', `No such object: '${id}'`, param, 'resource_missing');
    return object;
  }

  /** A list object, newest first, paged with `limit` and `starting_after`. */
  private list(url: string, objects: StripeObject[], p: Record<string, unknown>): unknown {
    const limit = Math.min(Math.max(Number(p.limit ?? 10), 1), 100);
    const ordered = [...objects].reverse();
    const after = p.starting_after as string | undefined;
    const start = after ? ordered.findIndex((o) => o.id === after) + 1 : 0;
    if (after && start === 0) throw new StripeFault(400, 'invalid_request_error', `No such object: '${after}'`, 'starting_after', 'resource_missing');
    const data = ordered.slice(start, start + limit).map((o) => this.expand(o, p, 'data.'));
    return { object: 'list', url, has_more: start + limit < ordered.length, data };
  }

  /** Applies `expand[]`: only the expandable properties this fake knows; anything else is refused as Stripe does. */
  private expand(object: StripeObject, p: Record<string, unknown>, prefix = ''): StripeObject {
    const paths = ((p.expand as string[] | undefined) ?? []).filter((path) => path.startsWith(prefix)).map((path) => path.slice(prefix.length));
    if (paths.length === 0) return object;
    const copy = structuredClone(object);
    for (const path of paths) {
      if (path === 'latest_invoice' && copy.object === 'subscription') {
        copy.latest_invoice = copy.latest_invoice ? (this.invoices.get(copy.latest_invoice as string) ?? null) : null;
      } else if (path === 'customer' && typeof copy.customer === 'string') {
        copy.customer = this.customers.get(copy.customer) ?? copy.customer;
      } else if (path === 'default_payment_method' && typeof copy.default_payment_method === 'string') {
        copy.default_payment_method = this.paymentMethods.get(copy.default_payment_method) ?? null;
      } else {
        throw new StripeFault(400, 'invalid_request_error', `This property cannot be expanded (${prefix}${path}).`, 'expand');
      }
    }
    return copy;
  }

  private nextId(prefix: string): string {
    this.sequence += 1;
    return `${prefix}_${String(this.sequence).padStart(6, '0')}${randomBytes(5).toString('hex')}`;
  }

  /**
   * A meter event as Stripe documents its parameters (POST /v1/billing/meter_events): `event_name`, the
   * payload's customer (`payload[stripe_customer_id]`) and numeric value (`payload[value]`, sent as a string),
   * and a `timestamp` within the past 35 calendar days or up to 5 minutes in the future (of the fake's clock).
   * Answers the timestamp (now when absent).
   */
  private checkMeterEvent(p: Record<string, unknown>): number {
    const payload = (p.payload ?? {}) as Record<string, unknown>;
    if (typeof p.event_name !== 'string' || p.event_name === '') {
      throw new StripeFault(400, 'invalid_request_error', 'Missing required param: event_name.', 'event_name', 'parameter_missing');
    }
    if (typeof payload.stripe_customer_id !== 'string' || payload.stripe_customer_id === '') {
      throw new StripeFault(
        400,
        'invalid_request_error',
        'Missing required param: payload[stripe_customer_id].',
        'payload[stripe_customer_id]',
        'parameter_missing',
      );
    }
    if (typeof payload.value !== 'string' || !/^\d+(\.\d+)?$/.test(payload.value)) {
      throw new StripeFault(
        400,
        'invalid_request_error',
        'Invalid payload[value]: must be a non-negative number.',
        'payload[value]',
        'parameter_invalid_integer',
      );
    }
    const timestamp = Number(p.timestamp ?? this.now);
    if (!Number.isInteger(timestamp) || timestamp < this.now - 35 * 86_400 || timestamp > this.now + 300) {
      throw new StripeFault(
        400,
        'invalid_request_error',
        'The timestamp must be within the past 35 calendar days or up to 5 minutes in the future.',
        'timestamp',
        'parameter_invalid_integer',
      );
    }
    return timestamp;
  }
}

type StripeObject = Record<string, unknown>;

const subscriptionStatusFilters = [
  'active',
  'all',
  'canceled',
  'ended',
  'incomplete',
  'incomplete_expired',
  'past_due',
  'paused',
  'trialing',
  'unpaid',
];

class StripeFault extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly declineCode: string | null = null,
  ) {
    super(message);
  }
}

function stripeError(type: string, message: string, code: string | null, param: string | null, declineCode: string | null = null) {
  return { error: { type, message, ...(code ? { code } : {}), ...(param ? { param } : {}), ...(declineCode ? { decline_code: declineCode } : {}) } };
}

function itemOf(subscription: StripeObject): StripeObject {
  return (subscription.items as { data: StripeObject[] }).data[0]!;
}

function subscriptionOf(invoice: StripeObject): string | null {
  return (
    ((invoice.parent as { subscription_details?: { subscription?: string } } | null)?.subscription_details?.subscription as string | undefined) ??
    null
  );
}
