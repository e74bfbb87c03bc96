import { expect } from 'chai';
import { billingAccountStream } from '../../domain/billing/billing-account.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../../test/support/events.ts';
import { FakeStripe } from '../../test/support/fake-stripe.ts';
import { inviteMember, registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../../test/support/http.ts';
import { withServices } from '../../test/support/services.ts';
import { commandCoreModule } from '../module.ts';
import { planCommandsModule } from '../plans/module.ts';
import type { PlanCommands } from '../plans/plan-commands.ts';

const staff = { tenantId: null, actor: { type: 'staff' as const, id: 'staff-1' }, correlationId: 'test', causationId: 'test', now: new Date() };

/**
 * PUT /billing/plan against the organization's usage (issue 21, item 4): a plan whose limits on what the
 * organization holds are below its usage is refused with the numbers, before Stripe is asked; one it fits is
 * made (a cheaper one at the period end). Usage is each organization's own.
 */
describe('command API: a plan change checked against the current usage (real stripe library, loopback Stripe)', function () {
  this.timeout(60_000);
  let stripe: FakeStripe;
  let system: TestSystem;
  let crowded: Account;
  let lean: Account;
  let big: string;
  let small: string;

  before(async () => {
    stripe = await FakeStripe.start();
    system = await startTestSystem(undefined, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
    });
    [big, small] = await withServices(system, [commandCoreModule, planCommandsModule], async (services) => {
      const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
      const ids: string[] = [];
      for (const [name, price, contacts, seats] of [
        ['Big', 9_900, 100, 10],
        ['Small', 1_900, 1, 1],
      ] as const) {
        const { planId } = await plans.draft(staff, {
          name,
          monthlyPriceCents: price,
          currency: 'EUR',
          limits: { contacts, activeWorkflows: 5, executionsPerMonth: null, aiTokensPerMonth: null, seats },
        });
        await plans.activate(staff, planId);
        ids.push(planId);
      }
      return ids as [string, string];
    });
    // Two contacts and two seats (the owner and an admin): above Small's one of each.
    crowded = await registerAccount(system, 'Crowded');
    await inviteMember(system, crowded, 'admin');
    for (const name of ['ada', 'grace']) {
      const created = await system.http.post('/contacts', { email: uniqueEmail(name) }, { token: crowded.accessToken });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
    }
    lean = await registerAccount(system, 'Lean');
    for (const account of [crowded, lean]) {
      const subscribed = await system.http.post('/billing/subscribe', { planId: big }, { token: account.accessToken });
      expect(subscribed.status, JSON.stringify(subscribed.body)).to.equal(201);
    }
  });
  after(async () => {
    await system?.stop();
    await stripe?.close();
  });

  /** Until the metering read model has counted what the organization holds. */
  const usageReaches = (account: Account, contacts: number, seats: number) =>
    eventually(
      async () => (await system.http.get('/billing/usage', { token: account.accessToken })).body,
      (body) => body.usage?.contacts.used === contacts && body.usage?.seats.used === seats,
    );
  const factsOf = async (account: Account) =>
    (await system.process.platform.eventStore.readStream(billingAccountStream(account.organizationId))).map((e) => e.type);

  it('refuses a plan the usage exceeds with 409, each limit with its numbers, and changes nothing at Stripe or in the log', async () => {
    await usageReaches(crowded, 2, 2);
    const requestsBefore = stripe.requests.length;
    const factsBefore = await factsOf(crowded);

    const refused = await system.http.put('/billing/plan', { planId: small, interval: 'month' }, { token: crowded.accessToken });

    expect(refused.status, JSON.stringify(refused.body)).to.equal(409);
    expect(refused.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect(refused.body).to.deep.include({ code: 'usage_exceeds_plan', planId: small });
    expect(refused.body.exceeded).to.deep.equal([
      { limit: 'contacts', usage: 2, allowed: 1 },
      { limit: 'seats', usage: 2, allowed: 1 },
    ]);
    expect(refused.body['invalid-params'].map((p: { name: string }) => p.name)).to.deep.equal(['planId']);
    expect(stripe.requests.length, 'Stripe is not asked').to.equal(requestsBefore);
    expect(await factsOf(crowded)).to.deep.equal(factsBefore);
    const account = await system.http.get('/billing/subscription', { token: crowded.accessToken });
    expect(account.body.scheduledChange).to.equal(null);
    expect(account.body.subscription.planId).to.equal(big);
  });

  it("schedules a downgrade the usage fits for the period end; another organization's usage does not count", async () => {
    await usageReaches(lean, 0, 1);
    const scheduled = await system.http.put('/billing/plan', { planId: small, interval: 'month' }, { token: lean.accessToken });
    expect(scheduled.status, JSON.stringify(scheduled.body)).to.equal(200);
    expect(scheduled.body.timing).to.equal('period_end');
    expect(scheduled.body.subscription.planId).to.equal(big);
    expect(scheduled.body.scheduledChange).to.deep.include({ planId: small, interval: 'month', at: scheduled.body.subscription.currentPeriodEnd });
    expect((await factsOf(lean)).at(-1)).to.equal('PlanChangeScheduled');
  });
});
