import { expect } from 'chai';
import pino from 'pino';
import Stripe from 'stripe';
import { BillingCommands } from '../../command-api/billing/billing-commands.ts';
import type { BillingProvider } from '../../command-api/billing/ports.ts';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { planCommandsModule } from '../../command-api/plans/module.ts';
import type { PlanCommands } from '../../command-api/plans/plan-commands.ts';
import type { Mailer, OutgoingEmail } from '../../command-api/ports.ts';
import { billingAccountStream } from '../../domain/billing/billing-account.ts';
import { organizationAdmins } from '../../infra/crm/module.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../../test/support/events.ts';
import { FakeStripe } from '../../test/support/fake-stripe.ts';
import { registerAccount, startTestSystem, type Account, type TestSystem } from '../../test/support/http.ts';
import { withServices, type Services } from '../../test/support/services.ts';
import { BillingWorker } from './billing-worker.ts';

const DAY = 86_400_000;
const staff = { tenantId: null, actor: { type: 'staff' as const, id: 'staff-1' }, correlationId: 'test', causationId: 'test', now: new Date() };

/**
 * The billing worker's passes with a clock the test moves (offline billing, real PostgreSQL): a trial that ends
 * unpaid starts grace and then restricts, each told to the admins once; a plan change scheduled for the period
 * end is made when it is due.
 */
describe('billing worker: standing by the clock, scheduled plan changes (offline billing, real PostgreSQL)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let owner: Account;
  let trialEndsAt: number;
  let clock = new Date();
  const mails: OutgoingEmail[] = [];

  before(async () => {
    // The process's own worker passes at its own time; this test's worker passes at the test's.
    system = await startTestSystem(undefined, { BILLING_CHECK_MS: '3600000' });
    owner = await registerAccount(system, 'Clockwork');
  });
  after(() => system?.stop());

  async function withWorker<T>(work: (worker: BillingWorker, services: Services) => Promise<T>): Promise<T> {
    return withServices(system, [commandCoreModule, planCommandsModule], async (services) => {
      const handler = await services.get<CommandHandler>(TOKENS.CommandHandler);
      const billing = await services.get<BillingProvider>(TOKENS.BillingProvider);
      const orm = system.process.platform.orm;
      const mailer: Mailer = { send: async (email) => void mails.push(email) };
      const logger = pino({ level: 'silent' });
      const commands = new BillingCommands({ handler, billing, graceDays: 7, logger, now: () => clock });
      const worker = new BillingWorker(
        { commands, orm, mailer, admins: organizationAdmins(orm), logger },
        { intervalMs: 60_000, leadMs: 3_600_000, reconcileBackMs: DAY, reconcileOverlapMs: 60_000, appUrl: 'https://app.example' },
      );
      return work(worker, services);
    });
  }
  const factsOf = async () => (await system.process.platform.eventStore.readStream(billingAccountStream(owner.organizationId))).map((e) => e.type);
  const organizationRow = () =>
    system.process.platform.pool.query<{ trial_ends_at: Date | null }>('SELECT trial_ends_at FROM organizations WHERE id = $1', [
      owner.organizationId,
    ]);
  const standingRow = async () =>
    (
      await system.process.platform.pool.query<{ standing: string }>('SELECT standing FROM billing_accounts WHERE organization_id = $1', [
        owner.organizationId,
      ])
    ).rows[0]?.standing ?? null;

  it('starts grace when the trial ends unpaid, restricts when the grace runs out, and tells the admins once each', async () => {
    const { rows } = await eventually(organizationRow, (result) => result.rows[0]?.trial_ends_at != null);
    trialEndsAt = rows[0]!.trial_ends_at!.getTime();
    await withWorker(async (worker) => {
      clock = new Date(trialEndsAt - 1000);
      expect((await worker.pass(clock)).recorded).to.deep.equal([]);

      clock = new Date(trialEndsAt + DAY);
      expect((await worker.pass(clock)).recorded).to.deep.equal(['GraceStarted']);
      await eventually(standingRow, (standing) => standing === 'grace');
      expect((await worker.pass(clock)).recorded, 'a second pass records nothing').to.deep.equal([]);

      clock = new Date(trialEndsAt + 7 * DAY);
      expect((await worker.pass(clock)).recorded).to.deep.equal(['OrganizationRestricted']);
      await eventually(standingRow, (standing) => standing === 'restricted');
      expect((await worker.pass(clock)).recorded).to.deep.equal([]);
    });
    expect(await factsOf()).to.deep.equal(['GraceStarted', 'OrganizationRestricted']);
    expect(mails.map((m) => [m.to, m.template])).to.deep.equal([
      [owner.email, 'billing-grace-started'],
      [owner.email, 'billing-restricted'],
    ]);
    expect(mails[1]!.text).to.include('https://app.example/settings/billing');
  });

  it('makes a plan change scheduled for the period end once it is due, and subscribing restores the standing', async () => {
    const [pro, starter] = await withServices(system, [commandCoreModule, planCommandsModule], async (services) => {
      const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
      const limits = { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null };
      const made: string[] = [];
      for (const [name, price] of [
        ['Pro', 4_900],
        ['Starter', 1_900],
      ] as const) {
        const { planId } = await plans.draft(staff, { name, monthlyPriceCents: price, currency: 'EUR', limits });
        await plans.activate(staff, planId);
        made.push(planId);
      }
      return made;
    });
    const subscribed = await system.http.post('/billing/subscribe', { planId: pro }, { token: owner.accessToken });
    expect(subscribed.status, JSON.stringify(subscribed.body)).to.equal(201);
    expect(subscribed.body.standing).to.equal('good');
    const periodEnd = Date.parse(subscribed.body.subscription.currentPeriodEnd);
    const scheduled = await system.http.put('/billing/plan', { planId: starter, interval: 'month' }, { token: owner.accessToken });
    expect(scheduled.body.timing).to.equal('period_end');
    await eventually(
      async () =>
        (await system.process.platform.pool.query('SELECT scheduled_at FROM billing_accounts WHERE organization_id = $1', [owner.organizationId]))
          .rows[0],
      (row) => row?.scheduled_at != null,
    );

    await withWorker(async (worker) => {
      clock = new Date(periodEnd - 2 * 3_600_000);
      expect((await worker.pass(clock)).scheduledChanges).to.equal(0);
      clock = new Date(periodEnd);
      expect((await worker.pass(clock)).scheduledChanges).to.equal(1);
    });
    const account = await system.http.get('/billing/subscription', { token: owner.accessToken });
    await eventually(
      async () => (await system.http.get('/billing/subscription', { token: owner.accessToken })).body,
      (body) => body.subscription?.planId === starter,
    );
    expect(account.status).to.equal(200);
    expect((await factsOf()).slice(-2)).to.deep.equal(['SubscriptionChanged', 'ScheduledPlanChangeDropped']);
  });
});

/**
 * The worker's slower reconciliation pass against the real stripe library and a loopback Stripe: every
 * subscription is listed, and one that changed at Stripe with no webhook and no event listed is brought in.
 */
describe('billing worker: reconciliation by listing subscriptions (real stripe library, loopback Stripe)', function () {
  this.timeout(60_000);
  let stripe: FakeStripe;
  let system: TestSystem;
  let owner: Account;
  let subscriptionId: string;

  before(async () => {
    stripe = await FakeStripe.start();
    system = await startTestSystem(undefined, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
      BILLING_CHECK_MS: '3600000',
    });
    owner = await registerAccount(system, 'Listed');
    const planId = await withServices(system, [commandCoreModule, planCommandsModule], async (services) => {
      const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
      const limits = { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null };
      const { planId } = await plans.draft(staff, { name: 'Pro', monthlyPriceCents: 4_900, currency: 'EUR', limits });
      await plans.activate(staff, planId);
      return planId;
    });
    const subscribed = await system.http.post('/billing/subscribe', { planId }, { token: owner.accessToken });
    expect(subscribed.status, JSON.stringify(subscribed.body)).to.equal(201);
    subscriptionId = subscribed.body.subscription.id;
  });
  after(async () => {
    await system?.stop();
    await stripe?.close();
  });

  const factsOf = async () => system.process.platform.eventStore.readStream(billingAccountStream(owner.organizationId));

  it('brings in a subscription changed at Stripe with no webhook and no event listed; a second listing records nothing', async () => {
    // Canceled at the period end in Stripe's dashboard: no webhook reaches us, and its event is no longer listed.
    const dashboard = new Stripe(stripe.secretKey, { host: '127.0.0.1', port: Number(new URL(stripe.url).port), protocol: 'http' });
    const from = stripe.events.length;
    await dashboard.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    stripe.forgetEvents(from);
    const before = (await factsOf()).length;

    await withServices(system, [commandCoreModule], async (services) => {
      const handler = await services.get<CommandHandler>(TOKENS.CommandHandler);
      const billing = await services.get<BillingProvider>(TOKENS.BillingProvider);
      const orm = system.process.platform.orm;
      const logger = pino({ level: 'silent' });
      let clock = new Date();
      const commands = new BillingCommands({ handler, billing, graceDays: 7, logger, now: () => clock });
      const worker = new BillingWorker(
        { commands, orm, mailer: { send: async () => undefined }, admins: organizationAdmins(orm), logger },
        {
          intervalMs: 60_000,
          leadMs: 3_600_000,
          reconcileBackMs: DAY,
          reconcileOverlapMs: 60_000,
          appUrl: null,
          subscriptionsEveryMs: 6 * 3_600_000,
        },
      );
      const start = clock.getTime();

      const first = await worker.pass(clock);
      expect(first.reconciled.applied, 'the event pass has nothing to apply').to.equal(0);
      expect(first.subscriptions).to.deep.equal({ listed: stripe.subscriptions.size, applied: 1 });
      const added = (await factsOf()).slice(before);
      expect(added.map((e) => [e.type, (e.data as { changes?: unknown }).changes])).to.deep.equal([
        ['SubscriptionChanged', { cancelAtPeriodEnd: true }],
      ]);
      await eventually(
        async () => (await system.http.get('/billing/subscription', { token: owner.accessToken })).body,
        (body) => body.subscription?.cancelAtPeriodEnd === true,
      );

      clock = new Date(start + 60_000);
      expect((await worker.pass(clock)).subscriptions, 'not due again within 6 h').to.equal(null);
      clock = new Date(start + 6 * 3_600_000);
      expect((await worker.pass(clock)).subscriptions).to.deep.equal({ listed: stripe.subscriptions.size, applied: 0 });
      expect((await factsOf()).length, 'a second listing records nothing').to.equal(before + 1);
    });
  });
});
