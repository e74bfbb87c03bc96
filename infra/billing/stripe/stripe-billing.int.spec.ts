import { expect } from 'chai';
import Stripe from 'stripe';
import {
  BillingRateLimited,
  BillingRequestRejected,
  BillingUnavailable,
  WebhookSignatureInvalid,
  type CatalogPlanPrices,
} from '../../../command-api/billing/ports.ts';
import { FakeStripe } from '../../../test/support/fake-stripe.ts';
import { StripeBilling } from './stripe-billing.ts';

/** The Stripe adapter, driving the real `stripe` library against a loopback server that speaks Stripe's wire format. */
describe('Stripe billing adapter (the stripe library against a loopback Stripe)', () => {
  let fake: FakeStripe;
  let billing: StripeBilling;
  const plan = (amount: number): CatalogPlanPrices => ({
    planId: 'plan-pro',
    name: 'Pro',
    currency: 'EUR',
    amounts: { month: amount, year: amount * 10 },
  });
  /** Header Stripe would send for this body, made by the library's own test helper. */
  const signed = (body: string, secret: string, timestamp = Math.floor(Date.now() / 1000)) =>
    Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });

  beforeEach(async () => {
    fake = await FakeStripe.start();
    billing = new StripeBilling({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiUrl: fake.url, maxNetworkRetries: 0 });
  });
  afterEach(() => fake.close());

  it('syncs a plan as one product with a monthly and an annual price; a changed amount is a new price under the same lookup key', async () => {
    const first = await billing.syncPlan(plan(4900), null);
    const month = fake.prices.get(first.priceIds.month)!;
    expect(month).to.include({ unit_amount: 4900, currency: 'eur', lookup_key: 'nexusflow_plan-pro_month', active: true });
    expect(fake.prices.get(first.priceIds.year)).to.include({ unit_amount: 49000 });
    expect(fake.products.get(first.productId)).to.deep.include({ name: 'Pro', metadata: { planId: 'plan-pro' } });

    expect(await billing.syncPlan(plan(4900), first)).to.deep.equal(first);
    const repriced = await billing.syncPlan(plan(5900), first);
    expect(repriced.productId).to.equal(first.productId);
    expect(repriced.priceIds.month).to.not.equal(first.priceIds.month);
    expect(fake.prices.get(first.priceIds.month)).to.include({ active: false, lookup_key: null });
    expect(fake.prices.get(repriced.priceIds.month)).to.include({ unit_amount: 5900, lookup_key: 'nexusflow_plan-pro_month' });
  });

  it('subscribes with a card on file, charging the first invoice; the same idempotency key answers the same subscription', async () => {
    const { priceIds } = await billing.syncPlan(plan(4900), null);
    const { customerId } = await billing.createCustomer({
      organizationId: 'org-1',
      name: 'Acme',
      email: 'billing@acme.test',
      idempotencyKey: 'cust-org-1',
    });
    const intent = await billing.createSetupIntent({ customerId, organizationId: 'org-x', idempotencyKey: 'seti-1' });
    expect(intent.clientSecret).to.match(/_secret_/);
    const paymentMethodId = fake.confirmSetupIntent(intent.id);
    await billing.setDefaultPaymentMethod({ customerId, paymentMethodId, subscriptionId: null, idempotencyKey: 'pm-1' });

    const request = { customerId, priceId: priceIds.month, organizationId: 'org-1', trialEnd: null, idempotencyKey: 'sub-org-1' };
    const subscription = await billing.subscribe(request);
    expect(subscription).to.deep.include({
      status: 'active',
      planId: 'plan-pro',
      interval: 'month',
      organizationId: 'org-1',
      cancelAtPeriodEnd: false,
    });
    expect(await billing.subscribe(request)).to.deep.equal(subscription);
    expect(fake.subscriptions.size).to.equal(1);

    const { items } = await billing.listInvoices({ customerId, limit: 10, startingAfter: null });
    expect(items.map((i) => [i.status, i.amountDue, i.amountPaid, i.subscriptionId])).to.deep.equal([['paid', 4900, 4900, subscription.id]]);
    expect(items[0]!.pdfUrl).to.match(/\/pdf$/);
  });

  it('carries a trial over (nothing charged until it ends), then renews on the card', async () => {
    const { priceIds } = await billing.syncPlan(plan(4900), null);
    const { customerId } = await billing.createCustomer({ organizationId: 'org-2', name: 'Trial Co', email: null, idempotencyKey: 'c2' });
    const trialEnd = new Date(Date.now() + 10 * 86_400_000).toISOString();
    const subscription = await billing.subscribe({ customerId, priceId: priceIds.month, organizationId: 'org-2', trialEnd, idempotencyKey: 's2' });
    expect(subscription.status).to.equal('trialing');
    expect(subscription.trialEnd).to.equal(new Date(Math.floor(Date.parse(trialEnd) / 1000) * 1000).toISOString());
    fake.confirmSetupIntent((await billing.createSetupIntent({ customerId, organizationId: 'org-x', idempotencyKey: 'i2' })).id);
    const method = [...fake.paymentMethods.keys()][0]!;
    await billing.setDefaultPaymentMethod({ customerId, paymentMethodId: method, subscriptionId: subscription.id, idempotencyKey: 'p2' });
    fake.endPeriod(subscription.id);
    expect((await billing.retrieveSubscription(subscription.id))!.status).to.equal('active');
  });

  it('changes the price with proration now (upgrade) or without (period end), and cancels at the period end or now', async () => {
    const pro = await billing.syncPlan(plan(4900), null);
    const team = await billing.syncPlan({ planId: 'plan-team', name: 'Team', currency: 'EUR', amounts: { month: 9900, year: 99000 } }, null);
    const { customerId } = await billing.createCustomer({ organizationId: 'org-3', name: 'Up Co', email: null, idempotencyKey: 'c3' });
    fake.confirmSetupIntent((await billing.createSetupIntent({ customerId, organizationId: 'org-x', idempotencyKey: 'i3' })).id);
    await billing.setDefaultPaymentMethod({
      customerId,
      paymentMethodId: [...fake.paymentMethods.keys()][0]!,
      subscriptionId: null,
      idempotencyKey: 'p3',
    });
    const subscription = await billing.subscribe({
      customerId,
      priceId: pro.priceIds.month,
      organizationId: 'org-3',
      trialEnd: null,
      idempotencyKey: 's3',
    });

    const upgraded = await billing.changePrice({
      subscriptionId: subscription.id,
      priceId: team.priceIds.month,
      prorate: true,
      idempotencyKey: 'u3',
    });
    expect(upgraded.planId).to.equal('plan-team');
    const invoices = (await billing.listInvoices({ customerId, limit: 10, startingAfter: null })).items;
    expect(invoices).to.have.length(2);
    expect(invoices[0]).to.include({ status: 'paid', amountDue: 5000 });

    const annual = await billing.changePrice({ subscriptionId: subscription.id, priceId: team.priceIds.year, prorate: false, idempotencyKey: 'a3' });
    expect(annual.interval).to.equal('year');
    expect((await billing.listInvoices({ customerId, limit: 10, startingAfter: null })).items).to.have.length(2);

    const ending = await billing.cancel({ subscriptionId: subscription.id, atPeriodEnd: true, idempotencyKey: 'x3' });
    expect(ending).to.include({ status: 'active', cancelAtPeriodEnd: true });
    expect(await billing.resume({ subscriptionId: subscription.id, idempotencyKey: 'r3' })).to.include({ cancelAtPeriodEnd: false });
    const ended = await billing.cancel({ subscriptionId: subscription.id, atPeriodEnd: false, idempotencyKey: 'y3' });
    expect(ended.status).to.equal('canceled');
    expect(ended.canceledAt).to.be.a('string');
    expect((await billing.listSubscriptions(customerId)).map((s) => s.status)).to.deep.equal(['canceled']);
  });

  it('reports a declined card as a rejected request with its decline code; a failed renewal leaves the subscription past due until paid', async () => {
    const { priceIds } = await billing.syncPlan(plan(4900), null);
    const { customerId } = await billing.createCustomer({ organizationId: 'org-4', name: 'Decline Co', email: null, idempotencyKey: 'c4' });
    fake.confirmSetupIntent((await billing.createSetupIntent({ customerId, organizationId: 'org-x', idempotencyKey: 'i4' })).id);
    await billing.setDefaultPaymentMethod({
      customerId,
      paymentMethodId: [...fake.paymentMethods.keys()][0]!,
      subscriptionId: null,
      idempotencyKey: 'p4',
    });
    const subscription = await billing.subscribe({
      customerId,
      priceId: priceIds.month,
      organizationId: 'org-4',
      trialEnd: null,
      idempotencyKey: 's4',
    });
    fake.declineNextPayment('insufficient_funds');
    fake.endPeriod(subscription.id);
    expect((await billing.retrieveSubscription(subscription.id))!.status).to.equal('past_due');
    const open = (await billing.listInvoices({ customerId, limit: 1, startingAfter: null })).items[0]!;
    expect(open.status).to.equal('open');

    fake.declineNextPayment('insufficient_funds');
    const error = await billing.payInvoice({ invoiceId: open.id, idempotencyKey: 'pay-1' }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(BillingRequestRejected).and.include({ code: 'card_declined', declineCode: 'insufficient_funds', status: 402 });
    expect(await billing.payInvoice({ invoiceId: open.id, idempotencyKey: 'pay-2' })).to.include({ status: 'paid' });
    expect((await billing.retrieveSubscription(subscription.id))!.status).to.equal('active');
  });

  it('pages invoices with starting_after and lists events oldest first', async () => {
    const { priceIds } = await billing.syncPlan(plan(100), null);
    const { customerId } = await billing.createCustomer({ organizationId: 'org-5', name: 'Pages', email: null, idempotencyKey: 'c5' });
    fake.confirmSetupIntent((await billing.createSetupIntent({ customerId, organizationId: 'org-x', idempotencyKey: 'i5' })).id);
    await billing.setDefaultPaymentMethod({
      customerId,
      paymentMethodId: [...fake.paymentMethods.keys()][0]!,
      subscriptionId: null,
      idempotencyKey: 'p5',
    });
    const since = new Date(fake.now * 1000).toISOString();
    const subscription = await billing.subscribe({
      customerId,
      priceId: priceIds.month,
      organizationId: 'org-5',
      trialEnd: null,
      idempotencyKey: 's5',
    });
    for (let i = 0; i < 4; i++) fake.endPeriod(subscription.id);
    const first = await billing.listInvoices({ customerId, limit: 2, startingAfter: null });
    const second = await billing.listInvoices({ customerId, limit: 2, startingAfter: first.items[1]!.id });
    const third = await billing.listInvoices({ customerId, limit: 2, startingAfter: second.items[1]!.id });
    expect([first.hasMore, second.hasMore, third.hasMore]).to.deep.equal([true, true, false]);
    expect(new Set([...first.items, ...second.items, ...third.items].map((i) => i.id)).size).to.equal(5);

    const events = await billing.listEvents({ createdFrom: since, types: ['invoice.paid'] });
    expect(events).to.have.length(5);
    expect(events.map((e) => e.objectType)).to.deep.equal(Array(5).fill('invoice'));
    for (let i = 1; i < events.length; i++) expect(events[i - 1]!.createdAt <= events[i]!.createdAt).to.equal(true);
  });

  it('lists every subscription of the account, whatever its status, page after page', async () => {
    const { priceIds } = await billing.syncPlan(plan(100), null);
    const trialEnd = new Date(Date.now() + 10 * 86_400_000).toISOString();
    const made: string[] = [];
    // More than one page of 100, across customers.
    for (let i = 0; i < 105; i++) {
      const { customerId } = await billing.createCustomer({ organizationId: `org-l${i}`, name: `List ${i}`, email: null, idempotencyKey: `cl${i}` });
      const subscription = await billing.subscribe({
        customerId,
        priceId: priceIds.month,
        organizationId: `org-l${i}`,
        trialEnd,
        idempotencyKey: `sl${i}`,
      });
      made.push(subscription.id);
    }
    await billing.cancel({ subscriptionId: made[0]!, atPeriodEnd: false, idempotencyKey: 'xl0' });

    const listed: { id: string; status: string; organizationId: string | null }[] = [];
    for await (const subscription of billing.listAllSubscriptions()) listed.push(subscription);

    expect(listed.map((s) => s.id).sort()).to.deep.equal([...made].sort());
    expect(listed.find((s) => s.id === made[0])).to.include({ status: 'canceled', organizationId: 'org-l0' });
    const pages = fake.requests.filter((r) => r.method === 'GET' && r.path === '/v1/subscriptions');
    expect(pages.map((r) => [r.params.status, r.params.limit, r.params.starting_after ?? null])).to.deep.equal([
      ['all', '100', null],
      ['all', '100', listed[99]!.id],
    ]);
  });

  it('counts a usage report once per identifier', async () => {
    const { customerId } = await billing.createCustomer({ organizationId: 'org-6', name: 'Meter', email: null, idempotencyKey: 'c6' });
    const report = {
      meterEventName: 'nexusflow_executions',
      customerId,
      value: 42,
      identifier: 'org-6:2026-01:executions:1',
      timestamp: new Date(fake.now * 1000).toISOString(),
    };
    await billing.reportUsage(report);
    await billing.reportUsage(report);
    expect([...fake.meterEvents.values()]).to.have.length(1);
    expect(fake.meterEvents.get(report.identifier)).to.deep.include({
      event_name: 'nexusflow_executions',
      payload: { stripe_customer_id: customerId, value: '42' },
    });
  });

  it('sends a usage report as a meter event (form fields, Unix timestamp); a timestamp older than 35 days is refused', async () => {
    const { customerId } = await billing.createCustomer({ organizationId: 'org-7', name: 'Meter', email: null, idempotencyKey: 'c7' });
    const day = new Date((fake.now - 3 * 86_400) * 1000).toISOString();
    await billing.reportUsage({ meterEventName: 'nexusflow_ai_tokens', customerId, value: 1_500, identifier: 'org-7-ai_tokens-day', timestamp: day });
    const request = fake.requests.find(
      (r) => r.path === '/v1/billing/meter_events' && (r.params as { identifier?: string }).identifier === 'org-7-ai_tokens-day',
    );
    expect(request?.method).to.equal('POST');
    expect(request?.params).to.deep.include({
      event_name: 'nexusflow_ai_tokens',
      payload: { stripe_customer_id: customerId, value: '1500' },
      timestamp: String(Date.parse(day) / 1000),
    });

    const old = new Date((fake.now - 36 * 86_400) * 1000).toISOString();
    const refused = await billing
      .reportUsage({ meterEventName: 'nexusflow_ai_tokens', customerId, value: 1, identifier: 'org-7-old', timestamp: old })
      .catch((err: unknown) => err);
    expect(refused).to.be.instanceOf(BillingRequestRejected).and.include({ status: 400, param: 'timestamp' });
    expect(fake.meterEvents.has('org-7-old')).to.equal(false);
  });

  it('answers Stripe errors as the port says: unknown objects null, 429 with its Retry-After, 5xx unavailable, a bad key unavailable', async () => {
    expect(await billing.retrieveSubscription('sub_missing')).to.equal(null);
    fake.rateLimitNext(1, 7);
    expect(await billing.retrieveInvoice('in_x').catch((e: unknown) => e))
      .to.be.instanceOf(BillingRateLimited)
      .with.property('retryAfterMs', 7000);
    fake.failNext(1, 503);
    expect(await billing.retrieveInvoice('in_x').catch((e: unknown) => e)).to.be.instanceOf(BillingUnavailable);
    const wrongKey = new StripeBilling({ secretKey: 'sk_test_wrong', webhookSecret: 'x', apiUrl: fake.url, maxNetworkRetries: 0 });
    expect(await wrongKey.retrieveInvoice('in_x').catch((e: unknown) => e))
      .to.be.instanceOf(BillingUnavailable)
      .with.property('message')
      .that.matches(/STRIPE_SECRET_KEY/);
    const idempotencyMisuse = await billing
      .createCustomer({ organizationId: 'o', name: 'A', email: null, idempotencyKey: 'same' })
      .then(() => billing.createCustomer({ organizationId: 'o', name: 'B', email: null, idempotencyKey: 'same' }).catch((e: unknown) => e));
    expect(idempotencyMisuse).to.be.instanceOf(BillingRequestRejected).with.property('code', 'idempotency_key_in_use');
  });

  describe('webhook signatures (the library verifies; headers made by its own test helper)', () => {
    let body: string;
    beforeEach(async () => {
      await billing.createCustomer({ organizationId: 'org-w', name: 'Hook', email: null, idempotencyKey: 'cw' });
      const { priceIds } = await billing.syncPlan(plan(100), null);
      const customerId = [...fake.customers.keys()][0]!;
      await billing.subscribe({ customerId, priceId: priceIds.month, organizationId: 'org-w', trialEnd: null, idempotencyKey: 'sw' });
      body = fake.eventBody(fake.events.find((e) => e.type === 'customer.subscription.created')!.id as string);
    });

    it('accepts a good signature and names the event and its object', () => {
      const event = billing.verifyWebhook(Buffer.from(body), signed(body, fake.webhookSecret), new Date());
      expect(event).to.include({ type: 'customer.subscription.created', objectType: 'subscription', livemode: false });
      expect(event.objectId).to.match(/^sub_/);
    });

    it('refuses a missing, a wrong, a malformed and a stale signature, and a body changed after signing', () => {
      const refusal = (raw: string, header: string | undefined, at = new Date()) => {
        try {
          billing.verifyWebhook(Buffer.from(raw), header, at);
          return null;
        } catch (error) {
          return error instanceof WebhookSignatureInvalid ? error.reason : error;
        }
      };
      expect(refusal(body, undefined)).to.equal('missing');
      expect(refusal(body, signed(body, 'whsec_other'))).to.equal('mismatch');
      expect(refusal(body, 'nonsense')).to.equal('malformed');
      const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
      expect(refusal(body, signed(body, fake.webhookSecret, tenMinutesAgo))).to.equal('stale');
      expect(refusal(body.replace('"livemode": false', '"livemode": true'), signed(body, fake.webhookSecret))).to.equal('mismatch');
    });
  });
});
