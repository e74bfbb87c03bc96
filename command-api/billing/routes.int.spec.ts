import { expect } from 'chai';
import Stripe from 'stripe';
import { billingAccountStream } from '../../domain/billing/billing-account.ts';
import { organizationStream } from '../../domain/organizations/organization.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { FakeStripe } from '../../test/support/fake-stripe.ts';
import { inviteMember, registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../../test/support/http.ts';
import { fact } from '../../test/support/projection-spec.ts';
import { CHANNEL_ORGANIZATION_STATUS } from '../organizations/organization-status.ts';
import { withServices } from '../../test/support/services.ts';
import { commandCoreModule } from '../module.ts';
import { planCommandsModule } from '../plans/module.ts';
import type { PlanCommands } from '../plans/plan-commands.ts';

const staff = { tenantId: null, actor: { type: 'staff' as const, id: 'staff-1' }, correlationId: 'test', causationId: 'test', now: new Date() };

/**
 * Billing's commands over HTTP with the real stripe library against a loopback Stripe: subscribe, change the
 * plan (now or at the period end), cancel and resume, add a card, and Stripe's webhooks (signatures made by
 * the library's own test helper; redelivered and out of order).
 */
describe('command API: billing on Stripe (subscribe, plan, cancel, payment method, webhooks)', function () {
  this.timeout(60_000);
  let stripe: FakeStripe;
  let system: TestSystem;
  let acme: Account;
  let starter: string;
  let pro: string;
  let team: string;

  before(async () => {
    stripe = await FakeStripe.start();
    system = await startTestSystem(undefined, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
    });
    acme = await registerAccount(system, 'Acme Billing');
    [starter, pro, team] = await withServices(system, [commandCoreModule, planCommandsModule], async (services) => {
      const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
      const ids: string[] = [];
      for (const [name, price] of [
        ['Starter', 1_900],
        ['Pro', 4_900],
        ['Team', 9_900],
      ] as const) {
        const { planId } = await plans.draft(staff, {
          name,
          monthlyPriceCents: price,
          currency: 'EUR',
          limits: { contacts: 1000, activeWorkflows: 5, executionsPerMonth: 10_000, aiTokensPerMonth: 100_000, seats: 3 },
        });
        await plans.activate(staff, planId);
        ids.push(planId);
      }
      return ids as [string, string, string];
    });
  });
  after(async () => {
    await system?.stop();
    await stripe?.close();
  });

  const post = (path: string, body: unknown, account = acme) => system.http.post(path, body, { token: account.accessToken });
  const eventsOf = async (stream: string) => (await system.process.platform.eventStore.readStream(stream)).map((e) => e.type);
  /** Delivers a Stripe event as Stripe would: the raw body, signed by the library's test helper. */
  const deliver = (eventId: string, secret = stripe.webhookSecret, timestamp = Math.floor(Date.now() / 1000)) => {
    const body = stripe.eventBody(eventId);
    const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
    return system.http.request('POST', '/billing/webhooks/stripe', {
      rawBody: body,
      headers: { 'Content-Type': 'application/json', 'Stripe-Signature': header },
    });
  };

  it('refuses bad input with the field named, and a plan that is not active', async () => {
    const bad = await post('/billing/subscribe', { planId: 'pro', interval: 'weekly' });
    expect(bad.status).to.equal(400);
    expect(bad.body['invalid-params'].map((p: { name: string }) => p.name).sort()).to.deep.equal(['interval', 'planId']);
    const unknown = await post('/billing/subscribe', { planId: '7d1f3b1e-2c4a-4f5e-9b8a-1c2d3e4f5a6b' });
    expect(unknown.status).to.equal(422);
    expect(unknown.body.code).to.equal('unknown_plan');
    expect(stripe.subscriptions.size).to.equal(0);
  });

  it('only an owner may manage billing', async () => {
    const member = await inviteMember(system, acme, 'admin');
    const refused = await post('/billing/subscribe', { planId: pro }, member);
    expect(refused.status).to.equal(403);
  });

  it('subscribes: the plan synced to Stripe, the customer made once, the trial carried over, the organization on the plan', async () => {
    const subscribed = await post('/billing/subscribe', { planId: pro, interval: 'month' });
    expect(subscribed.status, JSON.stringify(subscribed.body)).to.equal(201);
    expect(subscribed.body).to.deep.include({ mode: 'stripe', standing: 'good', hasPaymentMethod: false });
    expect(subscribed.body.subscription).to.deep.include({ planId: pro, interval: 'month', status: 'trialing' });
    expect(subscribed.body.offline).to.equal(undefined);
    expect([...stripe.customers.values()].map((c) => c.metadata)).to.deep.equal([{ organizationId: acme.organizationId }]);
    const prices = [...stripe.prices.values()].filter((p) => (p.metadata as { planId: string }).planId === pro);
    expect(prices.map((p) => [p.unit_amount, (p.recurring as { interval: string }).interval])).to.deep.equal([
      [4900, 'month'],
      [49000, 'year'],
    ]);
    expect(await eventsOf(billingAccountStream(acme.organizationId))).to.deep.equal(['BillingCustomerCreated', 'SubscriptionStarted']);
    expect((await eventsOf(organizationStream(acme.organizationId))).at(-1)).to.equal('OrganizationPlanChanged');

    const again = await post('/billing/subscribe', { planId: team });
    expect(again.status).to.equal(409);
    expect(again.body.code).to.equal('already_subscribed');
    expect(stripe.subscriptions.size).to.equal(1);
  });

  it('lets one of two racing subscribes through: Stripe makes one subscription, the other is refused', async () => {
    const racer = await registerAccount(system, 'Racer');
    const replies = await Promise.all([post('/billing/subscribe', { planId: pro }, racer), post('/billing/subscribe', { planId: team }, racer)]);
    expect(replies.map((r) => r.status).sort()).to.deep.equal([201, 409]);
    const customers = [...stripe.customers.values()].filter(
      (c) => (c.metadata as { organizationId: string }).organizationId === racer.organizationId,
    );
    expect(customers).to.have.length(1);
    expect([...stripe.subscriptions.values()].filter((s) => s.customer === customers[0]!.id)).to.have.length(1);
    expect((await eventsOf(billingAccountStream(racer.organizationId))).filter((t) => t === 'SubscriptionStarted')).to.have.length(1);
  });

  it('adds a card through a SetupIntent and makes it the default', async () => {
    const setup = await post('/billing/payment-method', {});
    expect(setup.status).to.equal(201);
    expect(setup.body.clientSecret).to.match(/_secret_/);
    const paymentMethodId = stripe.confirmSetupIntent(setup.body.setupIntentId);
    const set = await post('/billing/payment-method', { paymentMethodId });
    expect(set.status, JSON.stringify(set.body)).to.equal(200);
    expect(set.body.hasPaymentMethod).to.equal(true);
    const bad = await post('/billing/payment-method', { paymentMethodId: 'card_4242' });
    expect(bad.status).to.equal(400);
    expect(bad.body['invalid-params'][0].name).to.equal('paymentMethodId');
  });

  it('changes the plan: a dearer one now, a cheaper one at the period end, the current one again drops the waiting change', async () => {
    const up = await system.http.put('/billing/plan', { planId: team, interval: 'month' }, { token: acme.accessToken });
    expect(up.status, JSON.stringify(up.body)).to.equal(200);
    expect(up.body.timing).to.equal('now');
    expect(up.body.subscription.planId).to.equal(team);

    const down = await system.http.put('/billing/plan', { planId: starter, interval: 'month' }, { token: acme.accessToken });
    expect(down.body.timing).to.equal('period_end');
    expect(down.body.subscription.planId).to.equal(team);
    expect(down.body.scheduledChange).to.deep.include({ planId: starter, interval: 'month', at: down.body.subscription.currentPeriodEnd });

    const back = await system.http.put('/billing/plan', { planId: team, interval: 'month' }, { token: acme.accessToken });
    expect(back.body.timing).to.equal('unchanged');
    expect(back.body.scheduledChange).to.equal(null);
  });

  it('cancels at the period end and resumes; refuses to resume what is not canceling', async () => {
    const canceling = await post('/billing/cancel', {});
    expect(canceling.status).to.equal(200);
    expect(canceling.body.subscription).to.deep.include({ cancelAtPeriodEnd: true });
    const resumed = await post('/billing/resume', undefined);
    expect(resumed.body.subscription).to.deep.include({ cancelAtPeriodEnd: false });
    const again = await post('/billing/resume', undefined);
    expect(again.status).to.equal(422);
  });

  describe("Stripe's webhooks", () => {
    it('applies deliveries by the current invoice: a payment delivered before the failure it followed starts no grace; each event once', async () => {
      const subscriptionId = [...stripe.subscriptions.keys()][0]!;
      const before = stripe.events.length;
      stripe.now = Math.floor(Date.now() / 1000);
      stripe.declineNextPayment('insufficient_funds');
      stripe.endPeriod(subscriptionId);
      const failedEvents = stripe.events.slice(before);
      stripe.payOpenInvoices([...stripe.customers.keys()][0]!);
      const all = stripe.events.slice(before);
      const failure = failedEvents.find((e) => e.type === 'invoice.payment_failed')!;
      const paid = all.find((e) => e.type === 'invoice.paid')!;

      // Out of order: the payment arrives first. Fetching the invoice shows it paid; the failure then records nothing new.
      const first = await deliver(paid.id as string);
      expect(first.status, JSON.stringify(first.body)).to.equal(200);
      expect(first.body).to.deep.include({ received: true, duplicate: false, type: 'invoice.paid' });
      const second = await deliver(failure.id as string);
      expect(second.body.duplicate).to.equal(false);
      const redelivered = await deliver(paid.id as string);
      expect(redelivered.body.duplicate).to.equal(true);
      const types = await eventsOf(billingAccountStream(acme.organizationId));
      expect(types.filter((t) => t === 'InvoicePaid')).to.have.length(1);
      expect(types).to.not.include('GraceStarted');
    });

    it('makes a card confirmed in the browser the default when Stripe says so, even if the browser never came back', async () => {
      const carded = await registerAccount(system, 'Carded');
      const setup = await post('/billing/payment-method', {}, carded);
      expect(setup.status).to.equal(201);
      const from = stripe.events.length;
      const paymentMethodId = stripe.confirmSetupIntent(setup.body.setupIntentId);
      const succeeded = stripe.events.slice(from).find((e) => e.type === 'setup_intent.succeeded')!;
      const delivered = await deliver(succeeded.id as string);
      expect(delivered.status, JSON.stringify(delivered.body)).to.equal(200);
      const events = await system.process.platform.eventStore.readStream(billingAccountStream(carded.organizationId));
      expect(events.map((e) => [e.type, (e.data as { paymentMethodId?: string }).paymentMethodId ?? null]).at(-1)).to.deep.equal([
        'PaymentMethodSet',
        paymentMethodId,
      ]);
      const customer = [...stripe.customers.values()].find(
        (c) => (c.metadata as { organizationId: string }).organizationId === carded.organizationId,
      )!;
      expect((customer.invoice_settings as { default_payment_method: string }).default_payment_method).to.equal(paymentMethodId);
      expect((await deliver(succeeded.id as string)).body.duplicate).to.equal(true);
    });

    it('refuses a missing, wrong or stale signature with 400 and applies nothing', async () => {
      const event = stripe.events.find((e) => e.type === 'customer.subscription.updated')!;
      const before = await eventsOf(`stripeevent-${event.id as string}`);
      const wrong = await deliver(event.id as string, 'whsec_wrong');
      expect(wrong.status).to.equal(400);
      expect(wrong.body).to.deep.include({ code: 'invalid_signature', reason: 'mismatch' });
      const stale = await deliver(event.id as string, stripe.webhookSecret, Math.floor(Date.now() / 1000) - 600);
      expect(stale.body.reason).to.equal('stale');
      const missing = await system.http.request('POST', '/billing/webhooks/stripe', {
        rawBody: stripe.eventBody(event.id as string),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(missing.status).to.equal(400);
      expect(missing.body.reason).to.equal('missing');
      expect(await eventsOf(`stripeevent-${event.id as string}`)).to.deep.equal(before);
    });

    it('starts grace on a failed renewal while its invoice is open, and restores good standing once it is paid', async () => {
      const subscriptionId = [...stripe.subscriptions.keys()][0]!;
      const before = stripe.events.length;
      stripe.declineNextPayment('card_declined');
      stripe.endPeriod(subscriptionId);
      const failure = stripe.events.slice(before).find((e) => e.type === 'invoice.payment_failed')!;
      expect((await deliver(failure.id as string)).status).to.equal(200);
      const account = await system.process.platform.eventStore.readStream(billingAccountStream(acme.organizationId));
      const grace = account.find((e) => e.type === 'GraceStarted');
      expect(grace?.data).to.deep.include({ reason: 'payment_failed' });
      expect(account.find((e) => e.type === 'PaymentFailed')?.data).to.deep.include({ attempt: 1, amountDue: 9900, currency: 'EUR' });

      const paidFrom = stripe.events.length;
      stripe.payOpenInvoices([...stripe.customers.keys()][0]!);
      const paid = stripe.events.slice(paidFrom).find((e) => e.type === 'invoice.paid')!;
      expect((await deliver(paid.id as string)).status).to.equal(200);
      expect((await eventsOf(billingAccountStream(acme.organizationId))).slice(-2)).to.deep.equal(['InvoicePaid', 'StandingRestored']);
    });
  });

  describe('restriction (unpaid)', () => {
    it('lets a restricted organization read and settle billing, refuses its other writes with 402, and lifts on payment', async () => {
      const subscriptionId = [...stripe.subscriptions.keys()][0]!;
      const from = stripe.events.length;
      stripe.declineNextPayment('card_declined');
      stripe.endPeriod(subscriptionId);
      const failure = stripe.events.slice(from).find((e) => e.type === 'invoice.payment_failed')!;
      expect((await deliver(failure.id as string)).status).to.equal(200);
      expect((await post('/contacts', { email: uniqueEmail('in-grace') })).status, 'grace still writes').to.equal(201);

      // The grace ran out (as the clock would record it): every process drops its copy of the write check.
      const stream = billingAccountStream(acme.organizationId);
      const restricted = fact(
        stream,
        { type: 'OrganizationRestricted', version: 1, data: { organizationId: acme.organizationId, reason: 'payment_failed' } },
        { tenantId: acme.organizationId },
      );
      await system.process.platform.eventStore.append(
        stream,
        [{ id: restricted.id, ...restricted.event, metadata: restricted.metadata } as never],
        'any',
      );
      await system.process.platform.notifications.notify(CHANNEL_ORGANIZATION_STATUS, acme.organizationId);

      const refused = await post('/contacts', { email: uniqueEmail('restricted') });
      expect(refused.status).to.equal(402);
      expect(refused.body).to.deep.include({ code: 'organization_restricted', reason: 'payment_failed', billing: '/billing/subscription' });
      expect((await system.http.get('/contacts', { token: acme.accessToken })).status, 'reads stay open').to.equal(200);
      expect((await post('/billing/payment-method', {})).status, 'billing stays open').to.equal(201);

      const paidFrom = stripe.events.length;
      stripe.payOpenInvoices([...stripe.customers.keys()][0]!);
      const paid = stripe.events.slice(paidFrom).find((e) => e.type === 'invoice.paid')!;
      expect((await deliver(paid.id as string)).status).to.equal(200);
      expect((await post('/contacts', { email: uniqueEmail('settled') })).status).to.equal(201);
    });
  });

  describe('at the end', () => {
    it('cancels now', async () => {
      const canceled = await post('/billing/cancel', { atPeriodEnd: false });
      expect(canceled.body.subscription).to.deep.include({ status: 'canceled' });
      expect((await eventsOf(billingAccountStream(acme.organizationId))).at(-1)).to.equal('SubscriptionCanceled');
    });
  });
});

describe('command API: billing offline (no Stripe key)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let owner: Account;
  let planId: string;

  before(async () => {
    system = await startTestSystem();
    owner = await registerAccount(system, 'Offline Co');
    planId = await withServices(system, [commandCoreModule, planCommandsModule], async (services) => {
      const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
      const drafted = await plans.draft(staff, {
        name: 'Pro',
        monthlyPriceCents: 4_900,
        currency: 'EUR',
        limits: { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null },
      });
      await plans.activate(staff, drafted.planId);
      return drafted.planId;
    });
  });
  after(() => system?.stop());

  it('subscribes and cancels on our side only, and every answer says nothing is charged', async () => {
    const subscribed = await system.http.post('/billing/subscribe', { planId, interval: 'year' }, { token: owner.accessToken });
    expect(subscribed.status, JSON.stringify(subscribed.body)).to.equal(201);
    expect(subscribed.body.mode).to.equal('offline');
    expect(subscribed.body.offline).to.deep.equal({
      charged: false,
      note: 'Billing runs offline: nothing is charged (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to charge through Stripe).',
    });
    // The sign-up's trial is still running: the subscription starts when it ends.
    expect(subscribed.body.subscription).to.deep.include({ planId, interval: 'year', status: 'trialing' });
    const canceled = await system.http.post('/billing/cancel', { atPeriodEnd: false }, { token: owner.accessToken });
    expect(canceled.body.subscription.status).to.equal('canceled');
    expect(canceled.body.mode).to.equal('offline');
  });

  it('refuses what needs Stripe with 409 billing_offline naming the settings', async () => {
    const card = await system.http.post('/billing/payment-method', {}, { token: owner.accessToken });
    expect(card.status).to.equal(409);
    expect(card.body).to.deep.include({ code: 'billing_offline', missingSettings: ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] });
    const hook = await system.http.request('POST', '/billing/webhooks/stripe', {
      rawBody: '{}',
      headers: { 'Content-Type': 'application/json', 'Stripe-Signature': 't=1,v1=x' },
    });
    expect(hook.status).to.equal(409);
  });
});
