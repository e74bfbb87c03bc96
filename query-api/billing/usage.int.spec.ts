import { randomUUID } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'chai';
import { DateTime } from 'luxon';
import type { OrganizationCommands } from '../../command-api/organizations/organization-commands.ts';
import { organizationServicesModule } from '../../command-api/organizations/module.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { planCommandsModule } from '../../command-api/plans/module.ts';
import type { PlanCommands } from '../../command-api/plans/plan-commands.ts';
import { billingAccountDecider, billingAccountStream, type SubscriptionStatus } from '../../domain/billing/billing-account.ts';
import type { CommandContext } from '../../domain/events.ts';
import { planDecider, planStream, type PlanLimits } from '../../domain/plans/plan.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import {
  inviteMember,
  registerAccount,
  startTestSystem,
  uniqueEmail,
  type Account,
  type HttpClient,
  type Reply,
  type TestSystem,
} from '../../test/support/http.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at, entityStream } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';
import { withServices } from '../../test/support/services.ts';

const PATH = '/billing/usage';
const OFFLINE = {
  charged: false,
  note: 'Billing runs offline: nothing is charged (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to charge through Stripe).',
};
const unlimited = { used: 0, limit: null, remaining: null, exceeded: false };

/** Checks an answer of GET /billing/usage against the schema /openapi.json gives for its status. */
function documented(http: () => HttpClient) {
  let document: Promise<{ paths: Record<string, { get: { responses: Record<string, { content: Record<string, { schema: object }> }> } }> }> | null =
    null;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  return async (reply: Reply): Promise<Reply> => {
    document ??= http()
      .get('/openapi.json')
      .then((r) => r.body);
    const schema = (await document).paths[PATH]?.get.responses[String(reply.status)]?.content['application/json']?.schema;
    expect(schema, `GET ${PATH} documents ${reply.status}`).to.be.an('object');
    const validate = ajv.compile(schema!);
    expect(validate(reply.body), `${ajv.errorsText(validate.errors)} in ${JSON.stringify(reply.body).slice(0, 300)}`).to.equal(true);
    return reply;
  };
}

/** This month in `timezone`, as the route answers a period without a live subscription. */
function calendarMonth(timezone: string) {
  const start = DateTime.now().setZone(timezone).startOf('month');
  return { start: start.toUTC().toISO(), end: start.plus({ months: 1 }).toUTC().toISO(), basis: 'calendar_month', timezone };
}

/**
 * Usage as a customer makes it, over HTTP through the whole system (commands, projectors, queries): contacts
 * created and one deleted, workflows (one paused), a run, members (one deactivated, one only invited); the
 * plan is the catalog's, put on by staff through the same commands the staff console uses.
 */
describe('query API: GET /billing/usage over the whole system, offline', function () {
  this.timeout(120_000);
  let system: TestSystem;
  let acme: Account;
  let globex: Account;
  let acmeMember: Account;
  let planId: string;
  /** The position of the last write of the setup: every read model includes everything before it. */
  let position: string;
  const check = documented(() => system.http);
  // Set below what the setup makes (contacts), at it (active workflows, seats) and above it: the lines' three cases.
  const limits: PlanLimits = { contacts: 2, activeWorkflows: 1, executionsPerMonth: 1_000, aiTokensPerMonth: 250_000, seats: 2 };

  before(async () => {
    system = await startTestSystem();
    const { http } = system;
    const ok = (reply: Reply, status: number) => expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
    acme = await registerAccount(system, 'Acme Usage');
    globex = await registerAccount(system, 'Globex Usage');

    // Globex: two contacts and a workflow of its own, on no plan; none of it may show in Acme's numbers.
    for (const name of ['g1', 'g2']) ok(await http.post('/contacts', { email: uniqueEmail(name) }, { token: globex.accessToken }), 201);
    ok(await http.post('/workflows', workflowBody('Globex flow'), { token: globex.accessToken }), 201);

    // Acme: four contacts, one deleted; one active and one paused workflow, one run; the owner, a member, a
    // viewer deactivated and an invitation not accepted (seats: the owner and the member).
    const contacts: string[] = [];
    for (const name of ['a1', 'a2', 'a3', 'a4']) {
      const created = await http.post('/contacts', { email: uniqueEmail(name) }, { token: acme.accessToken });
      ok(created, 201);
      contacts.push(created.body.id);
    }
    ok(await http.delete(`/contacts/${contacts[3]}`, { token: acme.accessToken }), 200);
    const active = await http.post('/workflows', workflowBody('Nurture'), { token: acme.accessToken });
    const paused = await http.post('/workflows', workflowBody('Later'), { token: acme.accessToken });
    ok(active, 201);
    ok(paused, 201);
    ok(await http.post(`/workflows/${paused.body.id}/pause`, undefined, { token: acme.accessToken }), 200);
    ok(await http.post(`/workflows/${active.body.id}/run`, { contactId: contacts[0] }, { token: acme.accessToken }), 202);
    acmeMember = await inviteMember(system, acme, 'member');
    const leaver = await inviteMember(system, acme, 'viewer');
    ok(await http.post(`/users/${leaver.userId}/deactivate`, undefined, { token: acme.accessToken }), 200);
    ok(await http.post('/invitations', { email: uniqueEmail('invitee'), role: 'viewer' }, { token: acme.accessToken }), 201);

    // Last, staff put Acme on a plan smaller than its contacts (as a downgrade would): no command refuses the
    // setup above whatever limits the command side enforces.
    [planId, position] = await withServices(system, [commandCoreModule, organizationServicesModule, planCommandsModule], async (services) => {
      const plans = await services.get<PlanCommands>(TOKENS.PlanCommands);
      const organizations = await services.get<OrganizationCommands>(TOKENS.OrganizationCommands);
      const staff = (tenantId: string | null): CommandContext => ({
        tenantId,
        actor: { type: 'staff', id: 'staff-1' },
        correlationId: 'usage-spec',
        causationId: randomUUID(),
        now: new Date(),
      });
      const drafted = await plans.draft(staff(null), { name: 'Growth', monthlyPriceCents: 4_900, currency: 'EUR', limits });
      await plans.activate(staff(null), drafted.planId);
      const moved = await organizations.changePlan(staff(acme.organizationId), acme.organizationId, drafted.planId);
      return [drafted.planId, moved.position!] as const;
    });
  });
  after(async () => system?.stop());

  const usage = async (account: Account) =>
    check(await system.http.get(PATH, { token: account.accessToken, headers: { 'X-Min-Position': position } }));

  it("answers each line against the plan's limits, in the calendar month (no subscription), labelled offline", async () => {
    const reply = await usage(acme);
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body).to.deep.equal({
      mode: 'offline',
      offline: OFFLINE,
      period: calendarMonth('UTC'),
      plan: { id: planId, name: 'Growth', status: 'active', limits },
      usage: {
        contacts: { used: 3, limit: 2, remaining: 0, exceeded: true },
        activeWorkflows: { used: 1, limit: 1, remaining: 0, exceeded: false },
        executionsPerMonth: { used: 1, limit: 1_000, remaining: 999, exceeded: false },
        aiTokensPerMonth: { used: 0, limit: 250_000, remaining: 250_000, exceeded: false },
        seats: { used: 2, limit: 2, remaining: 0, exceeded: false },
      },
    });
  });

  it("answers an organization without a plan (a trial) with every limit null, counting its own and never another's", async () => {
    const reply = await usage(globex);
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body).to.deep.equal({
      mode: 'offline',
      offline: OFFLINE,
      period: calendarMonth('UTC'),
      plan: null,
      usage: {
        contacts: { ...unlimited, used: 2 },
        activeWorkflows: { ...unlimited, used: 1 },
        executionsPerMonth: unlimited,
        aiTokensPerMonth: unlimited,
        seats: { ...unlimited, used: 1 },
      },
    });
    expect(JSON.stringify(reply.body)).not.to.contain(planId);
  });

  it('is for owners and admins (billing:read): a member gets 403, no token 401; in /openapi.json with X-Min-Position', async () => {
    const refused = await system.http.get(PATH, { token: acmeMember.accessToken });
    expectProblem(refused, 403);
    expect(refused.body.code).to.equal('insufficient_permission');
    expectProblem(await system.http.get(PATH), 401);

    const operation = (await system.http.get('/openapi.json')).body.paths[PATH].get;
    expect(operation['x-permission']).to.equal('billing:read');
    expect(operation.parameters.map((p: { name: string }) => p.name)).to.include('X-Min-Position');
    expect(operation.responses['200'].content['application/json'].schema.required).to.include.members(['mode', 'period', 'plan', 'usage']);
  });
});

/** A workflow that waits an hour before its one step: a run stays running while the spec reads. */
function workflowBody(name: string) {
  return {
    name,
    steps: [
      { id: 'pause', type: 'wait', config: { duration: 'PT1H' }, next: 'mark' },
      { id: 'mark', type: 'add_tag', config: { tag: 'x' }, next: null },
    ],
  };
}

const day = (n: number) => new Date(Date.UTC(2026, 2, 1 + n)).toISOString();
/** The `minutes` of projection-spec's at() that is `instant`: facts at any moment, periods' edges included. */
const minutesAt = (instant: string) => (Date.parse(instant) - Date.parse(at(0))) / 60_000;
const minute = 60_000;
const shifted = (instant: string, ms: number) => new Date(Date.parse(instant) + ms).toISOString();

/** The organization's subscription for March 2026 (day(0) to day(31)), as the provider reports it. */
function subscription(organization: Tenant, planId: string) {
  const organizationId = organization.id;
  const stream = entityStream(billingAccountDecider, billingAccountStream(organizationId), {
    tenantId: organizationId,
    actor: { type: 'system', id: 'billing' },
  });
  const report = (status: SubscriptionStatus, minutes: number) =>
    stream.decide(
      {
        type: 'ApplySubscription',
        data: {
          organizationId,
          snapshot: {
            subscriptionId: `sub_${organizationId.slice(0, 8)}`,
            planId,
            interval: 'month',
            status,
            currentPeriodStart: day(0),
            currentPeriodEnd: day(31),
            cancelAtPeriodEnd: false,
            canceledAt: status === 'canceled' ? at(minutes) : null,
            trialEnd: null,
          },
          mode: 'stripe',
          reason: 'provider',
          now: at(minutes),
        },
      },
      minutes,
    );
  return { started: report('active', 1), canceled: (minutes: number) => report('canceled', minutes) };
}

/** A plan of the catalog, drafted and activated by staff, and the organization put on it. */
function onPlan(organization: Tenant, name: string, limits: PlanLimits) {
  const id = randomUUID();
  const stream = entityStream(planDecider, planStream(id), { tenantId: null, actor: { type: 'staff', id: randomUUID() } });
  const facts = [
    ...stream.decide({ type: 'DraftPlan', data: { planId: id, name, monthlyPriceCents: 1_900, currency: 'EUR', limits } }),
    ...stream.decide({ type: 'ActivatePlan', data: { planId: id } }),
    ...organization.organization.decide({ type: 'ChangeOrganizationPlan', data: { organizationId: organization.id, planId: id, plan: 'active' } }),
  ];
  return { id, facts };
}

/** Executions of one workflow started at `instants` (one contact: nothing here is about whom). */
function startedAt(organization: Tenant, instants: string[]) {
  const contact = organization.contact();
  const workflow = organization.workflow();
  return [
    ...contact.facts,
    ...workflow.facts,
    ...instants.flatMap((instant) => organization.execution(workflow.id, contact.id, minutesAt(instant)).facts),
  ];
}

/**
 * The period's edges, by facts at chosen instants on read models the real projections built: executions
 * count from the period's start (inclusive) to its end (exclusive), the subscription's while it is live,
 * else the calendar month in the organization's own time zone.
 */
describe('query API: GET /billing/usage, the billing period', function () {
  this.timeout(30_000);
  const api = queryApiSpec();
  const check = documented(() => api.http);
  const limits: PlanLimits = { contacts: null, activeWorkflows: null, executionsPerMonth: 3, aiTokensPerMonth: null, seats: null };

  it("counts the executions started within a live subscription's current period", async () => {
    const acme = tenant();
    const plan = onPlan(acme, 'Starter', limits);
    const billing = subscription(acme, plan.id);
    const executions = startedAt(acme, [
      shifted(day(0), -minute),
      day(0),
      day(14),
      shifted(day(31), -minute),
      day(31),
      shifted(day(31), 40 * 24 * 60 * minute),
    ]);
    const position = await api.given(acme.signup, plan.facts, billing.started, executions);

    const reply = await check(await api.get(acme.owner, PATH, { 'X-Min-Position': position }));
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body.period).to.deep.equal({ start: day(0), end: day(31), basis: 'subscription', timezone: 'UTC' });
    expect(reply.body.plan).to.deep.equal({ id: plan.id, name: 'Starter', status: 'active', limits });
    expect(reply.body.usage.executionsPerMonth).to.deep.equal({ used: 3, limit: 3, remaining: 0, exceeded: false });
  });

  it("once the subscription is canceled, counts the calendar month in the organization's time zone, from its midnight", async () => {
    // UTC+14 all year: the month starts at 10:00 UTC the day before, where a UTC month would be off by 14 hours.
    const timezone = 'Pacific/Kiritimati';
    const kiribati = tenant('Kiribati', timezone);
    const plan = onPlan(kiribati, 'Starter', limits);
    const billing = subscription(kiribati, plan.id);
    const month = calendarMonth(timezone);
    expect(month.start).to.match(/T10:00:00\.000Z$/);
    const executions = startedAt(kiribati, [shifted(month.start!, -minute), month.start!, shifted(month.end!, -minute), month.end!, day(14)]);
    const position = await api.given(kiribati.signup, plan.facts, billing.started, billing.canceled(2), executions);

    const reply = await check(await api.get(kiribati.owner, PATH, { 'X-Min-Position': position }));
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body.period).to.deep.equal(month);
    expect(reply.body.usage.executionsPerMonth).to.deep.equal({ used: 2, limit: 3, remaining: 1, exceeded: false });
  });
});
