import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import AdminJS, { Filter, type ActionContext, type ActionRequest, type BaseResource, type RecordActionResponse } from 'adminjs';
import { expect } from 'chai';
import pino from 'pino';
import { BillingCommands } from '../../../command-api/billing/billing-commands.ts';
import type { CommandHandler } from '../../../command-api/command-handling.ts';
import type { PlanCommands } from '../../../command-api/plans/plan-commands.ts';
import type { SignedInStaff } from '../../../command-api/staff/staff-accounts.ts';
import type { StaffConsole } from '../../../command-api/staff/staff-console.ts';
import { billingAccountStream } from '../../../domain/billing/billing-account.ts';
import type { CommandContext } from '../../../domain/events.ts';
import { organizationStream } from '../../../domain/organizations/organization.ts';
import type { StaffRole } from '../../../domain/staff/staff-permissions.ts';
import { OfflineBilling } from '../../../infra/billing/offline-billing.ts';
import { loadConfig } from '../../../infra/config/config.ts';
import { migrateDatabase } from '../../../infra/di/container.ts';
import { TOKENS } from '../../../infra/di/tokens.ts';
import type { EventStore } from '../../../infra/eventstore/event-store.ts';
import type { Projection } from '../../../projectors/runner/projection.ts';
import { ProjectionRunner } from '../../../projectors/runner/projection-runner.ts';
import { eventually } from '../../../test/support/events.ts';
import { facts } from '../../../test/support/facts.ts';
import { FakeStripe } from '../../../test/support/fake-stripe.ts';
import { testEnvironment } from '../../../test/support/http.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.ts';
import { openServices, type Services } from '../../../test/support/services.ts';
import { silentLogger } from '../../../test/support/stores.ts';
import { adminModules } from '../../modules.ts';
import { adminConsoleModule } from '../module.ts';
import { billingResource, type StaffBilling } from './billing.ts';

type Action = {
  isAccessible: (input: { currentAdmin?: unknown }) => boolean;
  handler: (request: ActionRequest, response: unknown, context: ActionContext) => Promise<RecordActionResponse & { form?: Form }>;
};
type Form = { field: string; kind: string; options?: { value: string; label: string }[]; value?: string | null };

/** What the read models that the Billing page shows are built by (usage's included, whichever exist). */
const SHOWN = new Set(['billing', 'organizations', 'plans', 'metering', 'contacts', 'users', 'workflows', 'executions']);
const DAY_MS = 86_400_000;

/**
 * The console's Billing resource over the real read models, and its actions through the real staff and billing
 * commands, the latter reaching the real stripe library against a loopback Stripe: what a staff member's
 * click runs.
 */
describe('Staff console: the Billing resource (real PostgreSQL, Redis and the stripe library)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let outbox: string;
  let stripe: FakeStripe;
  let services: Services;
  let store: EventStore;
  let orm: MikroORM;
  let staffConsole: StaffConsole;
  let billing: BillingCommands;
  let handler: CommandHandler;
  let projections: Projection[];
  let growth: string;

  before(async function () {
    this.timeout(120_000);
    stripe = await FakeStripe.start();
    // Stripe's clock is ours: grace periods count from what billing decides now.
    stripe.now = Math.floor(Date.now() / 1000);
    database = await createTestDatabase('nf_test_console_billing');
    outbox = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
    const env = {
      ...testEnvironment(database.url, outbox, database.name),
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
    };
    await migrateDatabase(env);
    const modules = adminModules.filter((module) => module !== adminConsoleModule);
    services = openServices({ process: { config: loadConfig(env, 'admin') } }, modules);
    [store, orm, staffConsole, billing, handler] = await Promise.all([
      services.get<EventStore>(TOKENS.EventStore),
      services.get<MikroORM>(TOKENS.Orm),
      services.get<StaffConsole>(TOKENS.StaffConsole),
      services.get<BillingCommands>(TOKENS.BillingCommands),
      services.get<CommandHandler>(TOKENS.CommandHandler),
    ]);
    projections = (await services.all<Projection>(TOKENS.Projections)).filter((projection) => SHOWN.has(projection.name));
    const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
    const platform = system(null);
    ({ planId: growth } = await plans.draft(platform, {
      name: 'Growth',
      monthlyPriceCents: 4_900,
      currency: 'EUR',
      limits: { contacts: 1_000, activeWorkflows: 5, executionsPerMonth: 10_000, aiTokensPerMonth: null, seats: 3 },
    }));
    await plans.activate(platform, growth);
  });
  after(async function () {
    this.timeout(60_000);
    await services?.close();
    await database?.drop();
    await stripe?.close();
    if (outbox) await rm(outbox, { recursive: true, force: true });
  });

  /** Runs the projections the page reads until they have applied the head of the log (the projectors process's job). */
  async function project(): Promise<void> {
    const head = await store.headPosition();
    const runners = projections.map((projection) => new ProjectionRunner(projection, store, orm, silentLogger, { batchSize: 100, liveDelayMs: 0 }));
    await Promise.all(runners.map((runner) => runner.start()));
    try {
      for (const runner of runners) {
        await eventually(
          () => runner.status().position,
          (position) => head === null || (position !== null && store.comparePositions(position, head) >= 0),
        );
      }
    } finally {
      await Promise.all(runners.map((runner) => runner.stop()));
    }
  }

  function system(tenantId: string | null): CommandContext {
    return { tenantId, actor: { type: 'system', id: 'test' }, correlationId: randomUUID(), causationId: randomUUID(), now: new Date() };
  }
  const owner = (organizationId: string): CommandContext => ({ ...system(organizationId), actor: { type: 'user', id: randomUUID() } });

  /** An organization as sign-up records it, with its trial's end. */
  async function organization(name: string, trialEndsAt: string | null): Promise<string> {
    const organizationId = randomUUID();
    const created = facts.organizationCreated(organizationId, name);
    await store.append(organizationStream(organizationId), [{ ...created, data: { ...created.data, trialEndsAt } }], 'no_stream');
    return organizationId;
  }

  /** A trial that ended long ago, past its grace too: billing's clock has restricted the organization. */
  async function restrictedAfterTrial(name: string): Promise<string> {
    const organizationId = await organization(name, new Date(Date.now() - 30 * DAY_MS).toISOString());
    expect((await billing.checkStanding(organizationId, system(organizationId))).recorded).to.deep.equal(['GraceStarted']);
    expect((await billing.checkStanding(organizationId, system(organizationId))).recorded).to.deep.equal(['OrganizationRestricted']);
    return organizationId;
  }

  /**
   * Subscribed at Stripe with a card, its renewal declined: Stripe's events (as reconciliation lists them) record
   * the failed payment, and the organization is in grace with one unpaid invoice.
   */
  async function inGraceAfterDecline(name: string): Promise<{ organizationId: string; invoiceId: string }> {
    const organizationId = await organization(name, null);
    const setup = await billing.startPaymentMethodSetup(owner(organizationId));
    await billing.setPaymentMethod(owner(organizationId), stripe.confirmSetupIntent(setup.setupIntentId));
    const subscribed = await billing.subscribe(owner(organizationId), { planId: growth, interval: 'month' });
    const since = new Date(stripe.now * 1000).toISOString();
    stripe.declineNextPayment('insufficient_funds');
    stripe.endPeriod(subscribed.account.subscription!.subscriptionId);
    await billing.reconcile(since, system);
    const events = await store.readStream(billingAccountStream(organizationId));
    const failed = events.find((event) => event.type === 'PaymentFailed');
    expect(events.map((event) => event.type)).to.include('GraceStarted');
    return { organizationId, invoiceId: (failed!.data as { invoiceId: string }).invoiceId };
  }

  const staff = (role: StaffRole): SignedInStaff => ({ id: randomUUID(), email: `${role}@staff.nexusflow.test`, name: `A ${role}`, role });

  /** The resource as the console declares it, decorated by AdminJS (records render through their resource's decorator). */
  function consoleResource(through: StaffBilling = billing) {
    const declared = billingResource({
      orm,
      streams: store,
      staffConsole,
      billing: through,
      projections: { statuses: async () => ({ head: null, projections: [] }), job: () => null, rebuildable: () => [] } as never,
      settle: () => project(),
      holdImpersonation: async () => '/admin',
      requestOf: (_context, who) => ({ staff: who, correlationId: randomUUID() }),
    });
    new AdminJS({ rootPath: '/admin', resources: [declared] });
    return declared;
  }

  async function click(name: 'extendTrial' | 'compPlan' | 'retryPayment', who: SignedInStaff, organizationId: string, through?: StaffBilling) {
    const { resource, options } = consoleResource(through);
    const action = (options.actions as Record<string, Action>)[name]!;
    const context = { currentAdmin: who, resource } as unknown as ActionContext;
    const record = await (resource as BaseResource).findOne(organizationId, context);
    return {
      accessible: action.isAccessible({ currentAdmin: who }),
      form: async () => (await action.handler({ method: 'get' } as ActionRequest, {}, { ...context, record: record! })).form!,
      submit: (payload: Record<string, string>) => action.handler({ method: 'post', payload } as ActionRequest, {}, { ...context, record: record! }),
    };
  }

  async function shown(organizationId: string) {
    const { resource } = consoleResource();
    const record = await (resource as BaseResource).findOne(organizationId, {} as ActionContext);
    return record!.params;
  }

  const typesOf = async (stream: string) => (await store.readStream(stream)).map((event) => [event.type, event.metadata.actor.type]);

  it("lists each organization's billing: plan, subscription, standing (grace since … until …), payment method, mode, invoices and usage", async () => {
    const { organizationId: acme, invoiceId } = await inGraceAfterDecline('Acme Billing');
    const trialing = await organization('Trialing Co', new Date(Date.now() + 5 * DAY_MS).toISOString());
    await project();

    const { resource } = consoleResource();
    const rows = await resource.find(new Filter({ name: 'Acme Billing' }, resource), {});
    expect(rows).to.have.length(1);
    const row = rows[0]!.params;
    expect(row).to.deep.include({
      id: acme,
      planId: growth,
      comped: false,
      status: 'past_due',
      interval: 'month',
      cancelAtPeriodEnd: false,
      hasPaymentMethod: true,
      standing: 'grace',
      mode: 'stripe',
      unpaidInvoices: 1,
    });
    const graceStarted = (await store.readStream(billingAccountStream(acme))).find((event) => event.type === 'GraceStarted')!;
    expect(row.standingDetail).to.equal(
      `grace since ${graceStarted.metadata.occurredAt} until ${(graceStarted.data as { until: string }).until} (payment failed)`,
    );
    expect(Date.parse(String(row.currentPeriodEnd))).to.be.greaterThan(Date.now());

    // Organizations without a billing event are listed too: no subscription, good standing.
    const other = (await resource.find(new Filter({ id: trialing }, resource), {}))[0]!.params;
    expect(other).to.deep.include({
      name: 'Trialing Co',
      subscriptionId: null,
      status: null,
      standing: 'good',
      standingDetail: 'good',
      unpaidInvoices: 0,
    });
    expect(await resource.count(new Filter({ standing: 'grace', name: 'Acme Billing' }, resource))).to.equal(1);

    // The show page: the invoices with Stripe's links, and usage against the plan's limits.
    const page = await shown(acme);
    const invoices = JSON.parse(String(page.invoices)) as Record<string, unknown>[];
    const unpaid = invoices.find((invoice) => invoice.id === invoiceId)!;
    expect(unpaid).to.deep.include({ status: 'payment_failed', amount: 4_900, currency: 'EUR', attempts: 1, lastDeclineCode: null });
    expect(unpaid.number).to.match(/^NF-\d{4}$/);
    expect(unpaid.hostedInvoiceUrl).to.equal(`https://invoice.stripe.test/i/${invoiceId}`);
    expect(unpaid.pdfUrl).to.equal(`https://pay.stripe.test/invoice/${invoiceId}/pdf`);
    expect(invoices.filter((invoice) => invoice.status === 'paid')).to.have.length(1);
    const usage = JSON.parse(String(page.usage));
    expect(usage.plan).to.deep.include({ id: growth, name: 'Growth' });
    expect(usage.period.basis).to.equal('subscription');
    expect(usage.usage.contacts).to.deep.equal({ used: 0, limit: 1_000, remaining: 1_000, exceeded: false });
    // AI tokens against the allowance (this plan sets none), as the AI service records them.
    expect(usage.usage.aiTokensPerMonth).to.include({ used: 0, limit: null });
    expect(usage.usage.seats).to.include({ limit: 3 });
  });

  it('extends the trial as a staff command (support may): the restriction the ended trial started is lifted at once', async () => {
    const organizationId = await restrictedAfterTrial('Lapsed Trial');
    await project();
    expect(await shown(organizationId)).to.deep.include({ standing: 'restricted' });
    expect((await shown(organizationId)).standingDetail).to.match(/^restricted since \S+ \(trial ended\)$/);

    const support = staff('support');
    const extend = await click('extendTrial', support, organizationId);
    expect(extend.accessible).to.equal(true);
    expect(await extend.form()).to.deep.include({ field: 'trialEndsAt', kind: 'datetime' });
    const until = new Date(Date.now() + 10 * DAY_MS).toISOString();
    const answer = await extend.submit({ trialEndsAt: until });
    expect(answer.notice).to.deep.equal({ message: `The trial of Lapsed Trial now ends ${until}; its standing is good again`, type: 'success' });
    expect(answer.record.params).to.deep.include({ trialEndsAt: until, standing: 'good', standingDetail: 'good' });

    const recorded = await store.readStream(billingAccountStream(organizationId));
    const restored = recorded.at(-1)!;
    expect([restored.type, restored.data]).to.deep.equal(['StandingRestored', { organizationId, reason: 'trial_extended' }]);
    expect(restored.metadata.actor).to.deep.equal({ type: 'staff', id: support.id });
    expect((await typesOf(organizationStream(organizationId))).at(-1)).to.deep.equal(['TrialExtended', 'staff']);

    // A trial end that does not extend it is refused with the command's reason.
    await expectRefused(
      (await click('extendTrial', support, organizationId)).submit({ trialEndsAt: new Date(Date.now() + DAY_MS).toISOString() }),
      /must end after/,
    );
  });

  it('comps a plan as a staff command for admins only: on the plan without a subscription, the standing restored', async () => {
    const organizationId = await restrictedAfterTrial('Comped Co');
    await project();

    const bySupport = await click('compPlan', staff('support'), organizationId);
    expect(bySupport.accessible).to.equal(false);
    await expectRefused(bySupport.submit({ planId: growth }), /may not do this/);
    expect((await typesOf(organizationStream(organizationId))).map(([type]) => type)).to.not.include('OrganizationPlanChanged');

    const admin = staff('admin');
    const comp = await click('compPlan', admin, organizationId);
    expect((await comp.form()).options!.map((option) => option.value)).to.include(growth);
    const answer = await comp.submit({ planId: growth });
    expect(answer.notice).to.deep.equal({ message: 'Comped Co is on a comped plan; its standing is good again', type: 'success' });
    expect(answer.record.params).to.deep.include({ planId: growth, comped: true, subscriptionId: null, standing: 'good' });
    expect((await typesOf(organizationStream(organizationId))).at(-1)).to.deep.equal(['OrganizationPlanChanged', 'staff']);
    const restored = (await store.readStream(billingAccountStream(organizationId))).at(-1)!;
    expect([restored.type, (restored.data as { reason: string }).reason, restored.metadata.actor.id]).to.deep.equal([
      'StandingRestored',
      'comped',
      admin.id,
    ]);
  });

  it('refuses to comp a plan for an organization that has a subscription', async () => {
    const { organizationId } = await inGraceAfterDecline('Subscribed Co');
    await project();
    const comp = await click('compPlan', staff('admin'), organizationId);
    await expectRefused(comp.submit({ planId: growth }), /has a subscription \(past_due\): a plan can be comped only without one/);
  });

  it('retries a payment at Stripe: a decline is a message and a recorded PaymentFailed; a payment records InvoicePaid and lifts the grace', async () => {
    const { organizationId, invoiceId } = await inGraceAfterDecline('Retry Co');
    await project();

    const bySupport = await click('retryPayment', staff('support'), organizationId);
    expect(bySupport.accessible).to.equal(false);
    await expectRefused(bySupport.submit({ invoiceId }), /may not do this/);

    const admin = staff('admin');
    const retry = await click('retryPayment', admin, organizationId);
    expect(retry.accessible).to.equal(true);
    const form = await retry.form();
    expect(form).to.deep.include({ field: 'invoiceId', value: invoiceId });
    expect(form.options![0]!.label).to.match(/^NF-\d{4}: EUR 49\.00, 1 failed attempt\(s\)$/);

    stripe.declineNextPayment('card_declined');
    const declined = await retry.submit({ invoiceId });
    expect(declined.notice!.type).to.equal('error');
    expect(declined.notice!.message).to.match(
      /^The card was declined \(card_declined\): invoice NF-\d{4} is still unpaid, and the failed attempt is recorded$/,
    );
    expect(declined.record.params).to.deep.include({ standing: 'grace', unpaidInvoices: 1 });
    const failure = (await store.readStream(billingAccountStream(organizationId))).at(-1)!;
    expect(failure.type).to.equal('PaymentFailed');
    expect(failure.data).to.deep.include({ invoiceId, attempt: 2, declineCode: 'card_declined', amountDue: 4_900 });
    expect(failure.metadata.actor).to.deep.equal({ type: 'staff', id: admin.id });
    expect(JSON.parse(String(declined.record.params.invoices))[0]).to.deep.include({ id: invoiceId, attempts: 2, lastDeclineCode: 'card_declined' });

    const paid = await (await click('retryPayment', admin, organizationId)).submit({ invoiceId });
    expect(paid.notice!.type).to.equal('success');
    expect(paid.notice!.message).to.match(/^Invoice NF-\d{4} is paid; the grace is lifted$/);
    expect(paid.record.params).to.deep.include({ standing: 'good', unpaidInvoices: 0, status: 'active' });
    const recorded = await store.readStream(billingAccountStream(organizationId));
    expect(recorded.slice(-3).map((event) => [event.type, event.metadata.actor.type])).to.deep.equal([
      ['InvoicePaid', 'staff'],
      ['StandingRestored', 'staff'],
      ['SubscriptionChanged', 'staff'],
    ]);
    expect(recorded.at(-2)!.data).to.deep.include({ reason: 'paid' });
    // Each attempt its own idempotency key, named after the invoice and the attempt.
    const payments = stripe.requests.filter((request) => request.path === `/v1/invoices/${invoiceId}/pay`);
    expect(payments.map((request) => request.idempotencyKey)).to.deep.equal([
      `nexusflow-${organizationId}-retry-${invoiceId}-attempt-2`,
      `nexusflow-${organizationId}-retry-${invoiceId}-attempt-3`,
    ]);

    // Stripe's own webhooks for those payments, applied later, record nothing more.
    await billing.reconcile(new Date(Date.now() - DAY_MS).toISOString(), system);
    expect((await store.readStream(billingAccountStream(organizationId))).length).to.equal(recorded.length);
  });

  it('says that nothing can be charged when billing runs offline', async () => {
    const organizationId = await organization('Offline Co', null);
    await project();
    const offline = new BillingCommands({ handler, billing: new OfflineBilling(), graceDays: 7, logger: pino({ level: 'silent' }) });
    const retry = await click('retryPayment', staff('admin'), organizationId, offline);
    await expectRefused(retry.submit({ invoiceId: 'in_anything' }), /Billing runs offline: nothing is charged/);
  });

  async function expectRefused(attempt: Promise<unknown>, message: RegExp): Promise<void> {
    const err = await attempt.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err, 'the action should have been refused').to.be.instanceOf(Error);
    const text = `${err!.message} ${JSON.stringify((err as { baseError?: unknown }).baseError ?? '')}`;
    expect(text).to.match(message);
  }
});
