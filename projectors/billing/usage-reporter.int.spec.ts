import { expect } from 'chai';
import { BillingUnavailable } from '../../command-api/billing/ports.ts';
import { billingAccountDecider, billingAccountStream } from '../../domain/billing/billing-account.ts';
import { StripeBilling } from '../../infra/billing/stripe/stripe-billing.ts';
import { eventually } from '../../test/support/events.ts';
import { FakeStripe } from '../../test/support/fake-stripe.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { at, entityStream, fact, type Fact } from '../../test/support/projection-spec.ts';
import { tenant, type Tenant } from '../../test/support/query-api-spec.ts';
import { openStores, silentLogger } from '../../test/support/stores.ts';
import { ProjectionRunner } from '../runner/projection-runner.ts';
import { billingProjection } from './billing-projection.ts';
import { AI_TOKENS_USED, meteringProjection } from './metering-projection.ts';
import { defaultUsageReporterOptions, UsageReporter } from './usage-reporter.ts';

const minute = 60_000;
const minutesAt = (instant: string) => (Date.parse(instant) - Date.parse(at(0))) / minute;
const unix = (instant: string) => Date.parse(instant) / 1000;

/**
 * The usage reporter against the loopback Stripe, through the real stripe library, over read models the real
 * projections build from facts: what Stripe's meters receive for each organization and day.
 */
describe('usage reporter: closed days of metered usage to Stripe meter events', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;
  let fake: FakeStripe;
  let reporter: UsageReporter;

  before(async () => {
    database = await createTestDatabase('nf_test_usage_reporter');
    stores = await openStores(database.url);
  });
  after(async () => {
    await stores?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    fake = await FakeStripe.start();
    // Stripe's clock a week after the facts' first day (2026-03-02): their days are closed, and recent.
    fake.now = unix('2026-03-09T12:00:00Z');
    const billing = new StripeBilling({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiUrl: fake.url, maxNetworkRetries: 0 });
    reporter = new UsageReporter({ billing, orm: stores.orm, logger: silentLogger }, { ...defaultUsageReporterOptions, intervalMs: 60_000 });
  });
  afterEach(() => fake.close());

  const now = () => new Date(fake.now * 1000);

  /** Appends `facts` and runs the billing and metering projections up to the head of the log. */
  async function given(...facts: (Fact | Fact[])[]): Promise<void> {
    for (const { id, streamId, event, metadata } of facts.flat()) {
      await stores.store.append(streamId, [{ id, type: event.type, version: event.version, data: event.data, metadata }], 'any');
    }
    const head = await stores.store.headPosition();
    const runners = [billingProjection, meteringProjection].map(
      (projection) => new ProjectionRunner(projection, stores.store, stores.orm, silentLogger, { batchSize: 100, liveDelayMs: 0 }),
    );
    await Promise.all(runners.map((runner) => runner.start()));
    try {
      await eventually(
        () => runners.map((runner) => runner.status().position),
        (positions) => positions.every((position) => position === head),
      );
    } finally {
      await Promise.all(runners.map((runner) => runner.stop()));
    }
  }

  /** An organization with a Stripe customer (created at the fake), as the billing commands record it. */
  async function customer(organization: Tenant): Promise<{ customerId: string; facts: Fact[] }> {
    const billing = new StripeBilling({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiUrl: fake.url, maxNetworkRetries: 0 });
    const { customerId } = await billing.createCustomer({
      organizationId: organization.id,
      name: organization.name,
      email: null,
      idempotencyKey: organization.id,
    });
    const stream = entityStream(billingAccountDecider, billingAccountStream(organization.id), {
      tenantId: organization.id,
      actor: { type: 'system', id: 'billing' },
    });
    return { customerId, facts: stream.decide({ type: 'RecordCustomer', data: { organizationId: organization.id, customerId, mode: 'stripe' } }) };
  }

  /** Executions of one workflow started at `instants`. */
  function runs(organization: Tenant, instants: string[]): Fact[] {
    const contact = organization.contact();
    const workflow = organization.workflow();
    return [
      ...contact.facts,
      ...workflow.facts,
      ...instants.flatMap((instant) => organization.execution(workflow.id, contact.id, minutesAt(instant)).facts),
    ];
  }

  const tokens = (organization: Tenant, amount: number, instant: string): Fact =>
    fact(
      `ai-${organization.id}`,
      { type: AI_TOKENS_USED, version: 1, data: { organizationId: organization.id, tokens: amount } },
      {
        tenantId: organization.id,
        occurredAt: instant,
      },
    );

  /** The meter events Stripe holds for `customerId`, as [identifier, event name, value, timestamp] ordered by identifier. */
  const meterEventsOf = (customerId: string) =>
    [...fake.meterEvents.values()]
      .filter((event) => (event.payload as { stripe_customer_id: string }).stripe_customer_id === customerId)
      .map((event) => [event.identifier, event.event_name, (event.payload as { value: string }).value, event.timestamp])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

  it('sends each closed day of executions and AI tokens once, timestamped at its midnight; again and again, nothing more', async () => {
    const acme = tenant('Acme');
    const globex = tenant('Globex');
    const acmeCustomer = await customer(acme);
    await given(
      acme.signup,
      globex.signup,
      acmeCustomer.facts,
      runs(acme, ['2026-03-02T09:00:00Z', '2026-03-02T23:59:00Z', '2026-03-03T00:00:00Z', '2026-03-09T08:00:00Z']),
      tokens(acme, 1_200, '2026-03-02T10:00:00Z'),
      // Globex has no Stripe customer: nothing of it is reported.
      runs(globex, ['2026-03-02T09:00:00Z']),
    );

    expect(await reporter.pass(now())).to.deep.equal({ planned: 3, sent: 3, rejected: 0 });
    const id = acme.id;
    // The 9th is today (not closed): not sent yet.
    expect(meterEventsOf(acmeCustomer.customerId)).to.deep.equal([
      [`${id}-ai_tokens-2026-03-02`, 'nexusflow_ai_tokens', '1200', unix('2026-03-02T00:00:00Z')],
      [`${id}-executions-2026-03-02`, 'nexusflow_executions', '2', unix('2026-03-02T00:00:00Z')],
      [`${id}-executions-2026-03-03`, 'nexusflow_executions', '1', unix('2026-03-03T00:00:00Z')],
    ]);
    expect(fake.meterEvents.size).to.equal(3);

    expect(await reporter.pass(now())).to.deep.equal({ planned: 0, sent: 0, rejected: 0 });
    expect(fake.meterEvents.size).to.equal(3);

    // The next day, an hour after midnight (the settling time), the 9th goes out too.
    fake.now = unix('2026-03-10T01:00:00Z');
    expect(await reporter.pass(now())).to.deep.equal({ planned: 1, sent: 1, rejected: 0 });
    expect(meterEventsOf(acmeCustomer.customerId).at(-1)).to.deep.equal([
      `${id}-executions-2026-03-09`,
      'nexusflow_executions',
      '1',
      unix('2026-03-09T00:00:00Z'),
    ]);
  });

  it('sends late usage of a reported day as a correction in that day (…-r1), so Stripe bills it in its period', async () => {
    const acme = tenant('Acme');
    const acmeCustomer = await customer(acme);
    await given(acme.signup, acmeCustomer.facts, runs(acme, ['2026-03-02T09:00:00Z']));
    await reporter.pass(now());

    // An execution of the 2nd recorded late (a runner that was down), and more AI tokens of that day.
    await given(runs(acme, ['2026-03-02T15:00:00Z', '2026-03-02T16:00:00Z']), tokens(acme, 40, '2026-03-02T17:00:00Z'));
    expect(await reporter.pass(now())).to.deep.equal({ planned: 2, sent: 2, rejected: 0 });
    expect(meterEventsOf(acmeCustomer.customerId)).to.deep.equal([
      [`${acme.id}-ai_tokens-2026-03-02`, 'nexusflow_ai_tokens', '40', unix('2026-03-02T00:00:00Z')],
      [`${acme.id}-executions-2026-03-02`, 'nexusflow_executions', '1', unix('2026-03-02T00:00:00Z')],
      [`${acme.id}-executions-2026-03-02-r1`, 'nexusflow_executions', '2', unix('2026-03-02T00:00:00Z')],
    ]);
  });

  it("uses the organization's calendar: a Kiribati day starts at 10:00 UTC the day before", async () => {
    const kiribati = tenant('Kiribati', 'Pacific/Kiritimati');
    const kiribatiCustomer = await customer(kiribati);
    await given(kiribati.signup, kiribatiCustomer.facts, runs(kiribati, ['2026-03-02T09:59:00Z', '2026-03-02T10:00:00Z']));
    await reporter.pass(now());
    expect(meterEventsOf(kiribatiCustomer.customerId)).to.deep.equal([
      [`${kiribati.id}-executions-2026-03-02`, 'nexusflow_executions', '1', unix('2026-03-01T10:00:00Z')],
      [`${kiribati.id}-executions-2026-03-03`, 'nexusflow_executions', '1', unix('2026-03-02T10:00:00Z')],
    ]);
  });

  it('after Stripe failed, sends the same identifiers with the same values; what came meanwhile follows as a correction', async () => {
    const acme = tenant('Acme');
    const acmeCustomer = await customer(acme);
    await given(acme.signup, acmeCustomer.facts, runs(acme, ['2026-03-02T09:00:00Z']));
    fake.failNext(1, 503);
    const failed = await reporter.pass(now()).catch((err: unknown) => err);
    expect(failed).to.be.instanceOf(BillingUnavailable);
    expect(fake.meterEvents.size).to.equal(0);

    await given(runs(acme, ['2026-03-02T12:00:00Z']));
    expect(await reporter.pass(now())).to.deep.equal({ planned: 1, sent: 2, rejected: 0 });
    expect(meterEventsOf(acmeCustomer.customerId)).to.deep.equal([
      [`${acme.id}-executions-2026-03-02`, 'nexusflow_executions', '1', unix('2026-03-02T00:00:00Z')],
      [`${acme.id}-executions-2026-03-02-r1`, 'nexusflow_executions', '1', unix('2026-03-02T00:00:00Z')],
    ]);
  });

  it('leaves days older than Stripe takes (35 days) alone, and keeps a refused event without sending it again', async () => {
    const acme = tenant('Acme');
    const acmeCustomer = await customer(acme);
    await given(acme.signup, acmeCustomer.facts, runs(acme, ['2026-03-02T09:00:00Z']));
    fake.now = unix('2026-04-08T12:00:00Z');
    expect(await reporter.pass(now())).to.deep.equal({ planned: 0, sent: 0, rejected: 0 });

    // Planned by a reporter whose clock ran ahead of Stripe's: Stripe refuses a timestamp in its future.
    fake.now = unix('2026-03-01T12:00:00Z');
    expect(await reporter.pass(new Date('2026-03-09T12:00:00Z'))).to.deep.equal({ planned: 1, sent: 0, rejected: 1 });
    expect(await reporter.pass(new Date('2026-03-09T12:00:00Z'))).to.deep.equal({ planned: 0, sent: 0, rejected: 0 });
    expect(fake.meterEvents.size).to.equal(0);
  });
});
