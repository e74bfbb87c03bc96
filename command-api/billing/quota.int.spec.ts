import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { billingPeriodAt } from '../../domain/billing/billing-account.ts';
import { quotaStream, type QuotaKind } from '../../domain/billing/quota.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { PlanLimits } from '../../domain/plans/plan.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { verifyChains } from '../../infra/eventstore/chain-verification.ts';
import type { StoredLog } from '../../infra/eventstore/event-store.ts';
import { eventually } from '../../test/support/events.ts';
import {
  inviteMember,
  Mailbox,
  registerAccount,
  startTestSystem,
  TEST_OPERATOR_TOKEN,
  uniqueEmail,
  type Account,
  type Reply,
  type TestSystem,
} from '../../test/support/http.ts';
import { openServices, withServices, type Services } from '../../test/support/services.ts';
import type { ContactCommands } from '../contacts/contact-commands.ts';
import { contactServicesModule } from '../contacts/module.ts';
import { commandCoreModule } from '../module.ts';
import { organizationServicesModule } from '../organizations/module.ts';
import type { OrganizationCommands } from '../organizations/organization-commands.ts';
import { planCommandsModule } from '../plans/module.ts';
import type { PlanCommands } from '../plans/plan-commands.ts';
import type { EventStreams } from '../ports.ts';
import { quotaModule } from './module.ts';

/** A plan's limits: a number for contacts alone, or the kinds named (the others unlimited). */
type Limited = number | null | Partial<Record<QuotaKind, number | null>>;
const limits = (limited: Limited): PlanLimits => ({
  contacts: null,
  activeWorkflows: null,
  executionsPerMonth: null,
  aiTokensPerMonth: null,
  seats: null,
  ...(typeof limited === 'object' && limited !== null ? limited : { contacts: limited }),
});

const limitNames: Record<QuotaKind, string> = {
  contacts: 'contacts',
  activeWorkflows: 'active workflows',
  seats: 'seats',
  executionsPerMonth: 'executions per billing period',
};

const staff = (tenantId: string | null): CommandContext => ({
  tenantId,
  actor: { type: 'staff', id: 'staff-quota-spec' },
  correlationId: randomUUID(),
  causationId: randomUUID(),
  now: new Date(),
});

describe('Plan limits at the moment of the write (real PostgreSQL, the projectors counting)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let staffSide: Services;

  before(async () => {
    system = await startTestSystem({ commands: true, queries: true, projectors: true });
    staffSide = openServices(system, [commandCoreModule, organizationServicesModule, planCommandsModule]);
  });
  after(async () => {
    await staffSide?.close();
    await system?.stop();
  });

  const createContact = (account: Account, name = 'someone') =>
    system.http.post('/contacts', { email: uniqueEmail(name), firstName: 'Ada' }, { token: account.accessToken });

  async function putOnPlan(account: Account, limited: Limited, name = 'Starter'): Promise<string> {
    const plans = await staffSide.get<PlanCommands>(TOKENS.PlanCommands);
    const organizations = await staffSide.get<OrganizationCommands>(TOKENS.OrganizationCommands);
    const drafted = await plans.draft(staff(null), { name, monthlyPriceCents: 1_900, currency: 'EUR', limits: limits(limited) });
    await plans.activate(staff(null), drafted.planId);
    await organizations.changePlan(staff(account.organizationId), account.organizationId, drafted.planId);
    return drafted.planId;
  }

  /** Until the projectors have counted the organization's units of a kind for its plan (what a limit starts from). */
  async function counted(account: Account, kind: QuotaKind = 'contacts', period?: string): Promise<number> {
    const store = await staffSide.get<EventStreams>(TOKENS.EventStore);
    const events = await eventually(
      () => store.readStream(quotaStream(account.organizationId, kind, period)),
      (list) => list.some((event) => event.type === 'QuotaCounted'),
      20_000,
    );
    return (events.findLast((event) => event.type === 'QuotaCounted')!.data as { count: number }).count;
  }

  /** One sample of the operator's /metrics (0 when absent): a series and the labels its line must hold. */
  async function metric(series: string, ...labels: string[]): Promise<number> {
    const reply = await system.http.get('/metrics', { headers: { Authorization: `Bearer ${TEST_OPERATOR_TOKEN}` } });
    expect(reply.status).to.equal(200);
    const line = (reply.body as string).split('\n').find((l) => l.startsWith(`${series}{`) && labels.every((label) => l.includes(label)));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }

  /** nexusflow_plan_limit_decisions_total for contacts, by outcome. */
  async function planLimitDecisions(): Promise<Record<'taken' | 'refused' | 'decided_again', number>> {
    const of = (outcome: string) => metric('nexusflow_plan_limit_decisions_total', 'kind="contacts"', `outcome="${outcome}"`);
    return { taken: await of('taken'), refused: await of('refused'), decided_again: await of('decided_again') };
  }

  function expectLimitReached(reply: Reply, planId: string, name: string, allowed: number, usage: number, kind: QuotaKind = 'contacts') {
    expect(reply.status, JSON.stringify(reply.body)).to.equal(402);
    expect(reply.headers.get('content-type')).to.match(/application\/problem\+json/);
    expect(reply.body).to.include({ code: 'plan_limit_reached', limit: kind, allowed, usage, upgrade: '/billing/plans' });
    expect(reply.body.plan).to.deep.equal({ id: planId, name });
    expect(reply.body.detail).to.contain(`allows ${allowed} ${limitNames[kind]}`);
  }

  it('counts what the organization had, lets the last allowed contact in, refuses the first beyond with the numbers, and frees a place on delete', async () => {
    const owner = await registerAccount(system);
    const before = await createContact(owner, 'before');
    expect(before.status).to.equal(201);
    const planId = await putOnPlan(owner, 3, 'Starter');
    expect(await counted(owner)).to.equal(1);

    expect((await createContact(owner, 'second')).status).to.equal(201);
    const last = await createContact(owner, 'third');
    expect(last.status, 'the last allowed').to.equal(201);
    expectLimitReached(await createContact(owner, 'fourth'), planId, 'Starter', 3, 3);

    expect((await system.http.delete(`/contacts/${last.body.id}`, { token: owner.accessToken })).status).to.equal(200);
    expect((await createContact(owner, 'after-delete')).status, 'the freed place').to.equal(201);
    expectLimitReached(await createContact(owner, 'again'), planId, 'Starter', 3, 3);
  });

  it('lets exactly one of many requests racing for the last place in, across two processes', async () => {
    const owner = await registerAccount(system);
    const planId = await putOnPlan(owner, 2, 'Solo');
    expect(await counted(owner)).to.equal(0);
    expect((await createContact(owner, 'first')).status).to.equal(201);

    // A second command side, as another process would be: its own caches, the same log.
    await withServices(system, [commandCoreModule, organizationServicesModule, quotaModule, contactServicesModule], async (other) => {
      const contacts = await other.get<ContactCommands>(TOKENS.ContactCommands);
      const viaOther = () =>
        contacts.create({ ...staff(owner.organizationId), actor: { type: 'user', id: owner.userId } }, owner.organizationId, {
          email: uniqueEmail('racer'),
        });
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 4 }, () => createContact(owner, 'racer')),
        ...Array.from({ length: 4 }, viaOther),
      ]);
      const fromApi = outcomes.slice(0, 4).map((o) => (o.status === 'fulfilled' ? (o.value as Reply).status : 500));
      const fromOther = outcomes.slice(4).map((o) => (o.status === 'fulfilled' ? 201 : (o.reason as { code?: string }).code));
      const won = [...fromApi, ...fromOther].filter((s) => s === 201);
      expect(won, JSON.stringify({ fromApi, fromOther })).to.have.length(1);
      expect(fromApi.filter((s) => s !== 201).every((s) => s === 402)).to.equal(true);
      expect(fromOther.filter((s) => s !== 201).every((s) => s === 'plan_limit_reached')).to.equal(true);
    });
    expectLimitReached(await createContact(owner, 'late'), planId, 'Solo', 2, 2);
    const listed = await eventually(
      async () => (await system.http.get('/contacts?limit=100', { token: owner.accessToken })).body.data as unknown[],
      (list) => list.length === 2,
      10_000,
    );
    expect(listed).to.have.length(2);
  });

  it('takes exactly the places left when many creations of one organization overlap, some failing for their own reasons, and keeps the quota’s chain whole', async () => {
    const owner = await registerAccount(system);
    const planId = await putOnPlan(owner, 12, 'Team');
    expect(await counted(owner)).to.equal(0);
    const decisionsBefore = await planLimitDecisions();
    expect((await createContact(owner, 'first')).status).to.equal(201);

    // Eleven places left; fourteen people and six requests for one more new address, all at once. The gate lets
    // each decide on the takes still under way, so the creations whose address another one claimed first (409,
    // refused by the store with the take they carried) make those decided after them decide again.
    const twin = uniqueEmail('twin');
    // Interleaved, so that twins are decided among the first.
    const requests = Array.from({ length: 20 }, (_, i) =>
      i % 3 === 0 && i < 18
        ? system.http.post('/contacts', { email: twin, firstName: 'Twin' }, { token: owner.accessToken })
        : createContact(owner, 'crowd'),
    );
    const statuses = (await Promise.all(requests)).map((reply) => reply.status);
    const twins = statuses.filter((_, i) => i % 3 === 0 && i < 18);
    const crowd = statuses.filter((_, i) => !(i % 3 === 0 && i < 18));
    expect(
      statuses.filter((status) => status === 201),
      JSON.stringify(statuses),
    ).to.have.length(11);
    expect(
      crowd.every((status) => status === 201 || status === 402),
      JSON.stringify(statuses),
    ).to.equal(true);
    expect(twins.filter((status) => status === 201).length, JSON.stringify(statuses)).to.be.at.most(1);
    expect(
      twins.every((status) => status === 201 || status === 409 || status === 402),
      JSON.stringify(statuses),
    ).to.equal(true);
    expectLimitReached(await createContact(owner, 'late'), planId, 'Team', 12, 12);
    // Operators see the decisions: twelve taken, every 402 refused (the late one too).
    const decisions = await planLimitDecisions();
    expect(decisions.taken - decisionsBefore.taken).to.equal(12);
    expect(decisions.refused - decisionsBefore.refused).to.equal(statuses.filter((status) => status === 402).length + 1);

    // Twelve units taken, none by a refused creation, and every link of the organization's streams holds.
    const { log } = await staffSide.get<StoredLog>(TOKENS.StoredLog);
    const quota = await log.readStream(quotaStream(owner.organizationId, 'contacts'));
    expect(quota.filter((event) => event.type === 'QuotaTaken')).to.have.length(12);
    expect(await verifyChains(log, { tenantId: owner.organizationId })).to.deep.include({ brokenLinks: 0, unchained: 0 });
  });

  it('refuses at the limit only on stored takes: a creation decided while the last place’s take is under way waits, and gets the place that take leaves', async () => {
    const owner = await registerAccount(system);
    await putOnPlan(owner, 2, 'Pair');
    expect(await counted(owner)).to.equal(0);
    const first = await createContact(owner, 'first');
    expect(first.status).to.equal(201);
    const contested = uniqueEmail('contested');
    const decisions = () => metric('nexusflow_request_layer_duration_seconds_count', 'layer="plan_limits"');
    const gatewayRounds = () => metric('nexusflow_redis_round_trips_total', 'operation="gateway"');

    // Nothing commits while the log head is held.
    const head = new pg.Client({ connectionString: system.database.url });
    await head.connect();
    try {
      await head.query('BEGIN');
      await head.query('SELECT position FROM nf_log_head WHERE id = 1 FOR UPDATE');
      // The first contact moves to the contested address: its claim is written first, no place taken.
      const moved = system.http.patch(`/contacts/${first.body.id}`, { email: contested }, { token: owner.accessToken });
      await eventually(
        async () => {
          // pg_stat_activity is read once per transaction: a fresh look each time.
          await head.query('SELECT pg_stat_clear_snapshot()');
          const { rows } = await head.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%nf_append_batch%'`,
          );
          return rows[0].n as number;
        },
        (waiting) => waiting >= 1,
        10_000,
      );
      // A creation at that address takes the last place; the store will refuse it (the claim went first): 409.
      const decided = await decisions();
      const twin = system.http.post('/contacts', { email: contested, firstName: 'Twin' }, { token: owner.accessToken });
      await eventually(decisions, (n) => n > decided, 10_000);
      // Decided while that take is under way: at the limit counting it, so it waits for its outcome.
      const rounds = await gatewayRounds();
      const next = createContact(owner, 'next');
      await eventually(gatewayRounds, (n) => n > rounds, 10_000);
      await head.query('ROLLBACK');
      expect((await moved).status).to.equal(200);
      expect((await twin).status).to.equal(409);
      expect((await next).status, 'the place the refused take left').to.equal(201);
    } finally {
      await head.end();
    }
  });

  it('keeps other organizations apart: one at its limit does not touch another on the same plan, nor one without a plan', async () => {
    const full = await registerAccount(system);
    const planId = await putOnPlan(full, 1, 'Tiny');
    await counted(full);
    expect((await createContact(full)).status).to.equal(201);
    expectLimitReached(await createContact(full), planId, 'Tiny', 1, 1);

    const samePlan = await registerAccount(system);
    const organizations = await staffSide.get<OrganizationCommands>(TOKENS.OrganizationCommands);
    await organizations.changePlan(staff(samePlan.organizationId), samePlan.organizationId, planId);
    expect(await counted(samePlan)).to.equal(0);
    expect((await createContact(samePlan)).status).to.equal(201);

    const trial = await registerAccount(system);
    for (let i = 0; i < 3; i++) expect((await createContact(trial)).status).to.equal(201);
  });

  it('counts again on a move to a plan with a limit, and a higher limit lets more in without a new count', async () => {
    const owner = await registerAccount(system);
    await putOnPlan(owner, null, 'Unlimited');
    for (let i = 0; i < 3; i++) expect((await createContact(owner)).status).to.equal(201);
    const planId = await putOnPlan(owner, 3, 'Three');
    expect(await counted(owner)).to.equal(3);
    expectLimitReached(await createContact(owner), planId, 'Three', 3, 3);

    const plans = await staffSide.get<PlanCommands>(TOKENS.PlanCommands);
    await plans.revise(staff(null), { planId, limits: { contacts: 4 } });
    // The command side keeps a plan's terms briefly: the raised limit applies within seconds.
    await eventually(
      () => createContact(owner),
      (reply) => reply.status === 201,
      15_000,
    );
    expectLimitReached(await createContact(owner), planId, 'Three', 4, 4);
  });

  describe('active workflows', () => {
    const createWorkflow = (account: Account, name = 'Nurture') =>
      system.http.post(
        '/workflows',
        { name, steps: [{ id: 'mark', type: 'add_tag', config: { tag: 'x' }, next: null }] },
        { token: account.accessToken },
      );
    const act = (account: Account, id: string, action: 'pause' | 'resume') =>
      system.http.post(`/workflows/${id}/${action}`, undefined, { token: account.accessToken });
    const remove = (account: Account, id: string) => system.http.delete(`/workflows/${id}`, { token: account.accessToken });

    it('counts the active ones, lets the last allowed in, refuses the next (created or resumed) with the numbers; pausing frees a place', async () => {
      const owner = await registerAccount(system);
      const running = await createWorkflow(owner, 'Running');
      const paused = await createWorkflow(owner, 'Paused');
      expect([running.status, paused.status]).to.deep.equal([201, 201]);
      expect((await act(owner, paused.body.id, 'pause')).status).to.equal(200);
      const planId = await putOnPlan(owner, { activeWorkflows: 2 }, 'Flows');
      expect(await counted(owner, 'activeWorkflows'), 'the paused one is not counted').to.equal(1);

      const last = await createWorkflow(owner, 'Last');
      expect(last.status, 'the last allowed').to.equal(201);
      expectLimitReached(await createWorkflow(owner, 'Beyond'), planId, 'Flows', 2, 2, 'activeWorkflows');
      expectLimitReached(await act(owner, paused.body.id, 'resume'), planId, 'Flows', 2, 2, 'activeWorkflows');
      expect((await act(owner, running.body.id, 'resume')).status, 'an active one resumed is already so').to.equal(200);

      expect((await act(owner, last.body.id, 'pause')).status).to.equal(200);
      expect((await act(owner, paused.body.id, 'resume')).status, 'the place the pause freed').to.equal(200);
      expectLimitReached(await createWorkflow(owner, 'Again'), planId, 'Flows', 2, 2, 'activeWorkflows');
    });

    it('frees a place when an active workflow is deleted, none when a paused one is', async () => {
      const owner = await registerAccount(system);
      const planId = await putOnPlan(owner, { activeWorkflows: 1 }, 'One flow');
      expect(await counted(owner, 'activeWorkflows')).to.equal(0);
      const first = await createWorkflow(owner, 'First');
      expect(first.status).to.equal(201);
      expectLimitReached(await createWorkflow(owner), planId, 'One flow', 1, 1, 'activeWorkflows');

      expect((await act(owner, first.body.id, 'pause')).status).to.equal(200);
      const second = await createWorkflow(owner, 'Second');
      expect(second.status).to.equal(201);
      expect((await remove(owner, first.body.id)).status, 'deleting the paused one').to.equal(200);
      expectLimitReached(await createWorkflow(owner), planId, 'One flow', 1, 1, 'activeWorkflows');
      expect((await remove(owner, second.body.id)).status, 'deleting the active one').to.equal(200);
      expect((await createWorkflow(owner, 'Third')).status).to.equal(201);
    });

    it('lets exactly one of several resumes and creations racing for the last place in', async () => {
      const owner = await registerAccount(system);
      const paused: string[] = [];
      for (const name of ['p1', 'p2', 'p3']) {
        const created = await createWorkflow(owner, name);
        expect((await act(owner, created.body.id, 'pause')).status).to.equal(200);
        paused.push(created.body.id);
      }
      await putOnPlan(owner, { activeWorkflows: 1 }, 'Race flow');
      expect(await counted(owner, 'activeWorkflows')).to.equal(0);
      const replies = await Promise.all([...paused.map((id) => act(owner, id, 'resume')), createWorkflow(owner), createWorkflow(owner)]);
      const statuses = replies.map((reply) => reply.status);
      expect(
        statuses.filter((status) => status === 200 || status === 201),
        JSON.stringify(statuses),
      ).to.have.length(1);
      expect(statuses.filter((status) => status === 402)).to.have.length(4);
    });
  });

  describe('seats', () => {
    const invite = async (owner: Account) => {
      const email = uniqueEmail('invitee');
      const invited = await system.http.post('/invitations', { email, role: 'member' }, { token: owner.accessToken });
      expect(invited.status, 'an invitation sent takes no seat').to.equal(201);
      return Mailbox.tokenIn(await system.mailbox.latest(email, 'invitation'));
    };
    const accept = (token: string) => system.http.post('/invitations/accept', { token, name: 'Invitee', password: 'correct horse battery staple' });

    it('refuses an invitation accepted beyond the limit with the numbers, creating no one; a deactivation frees the seat', async () => {
      const owner = await registerAccount(system);
      const member = await inviteMember(system, owner, 'member');
      const planId = await putOnPlan(owner, { seats: 2 }, 'Duo');
      expect(await counted(owner, 'seats'), 'the owner and the member').to.equal(2);

      const token = await invite(owner);
      const refused = await accept(token);
      expectLimitReached(refused, planId, 'Duo', 2, 2, 'seats');

      expect((await system.http.post(`/users/${member.userId}/deactivate`, undefined, { token: owner.accessToken })).status).to.equal(200);
      const joined = await accept(token);
      expect(joined.status, `the freed seat, with the same link: ${JSON.stringify(joined.body)}`).to.equal(201);
      // Read at the join's position: the refused attempt left no one behind, the join one member.
      const listed = await system.http.get('/users?limit=100', { token: owner.accessToken, headers: { 'X-Min-Position': joined.body.position } });
      expect(listed.body.data.map((user: { status: string }) => user.status)).to.have.members(['active', 'deactivated', 'active']);
      const reactivated = await system.http.post(`/users/${member.userId}/reactivate`, undefined, { token: owner.accessToken });
      expectLimitReached(reactivated, planId, 'Duo', 2, 2, 'seats');
      const again = await system.http.post(`/users/${joined.body.userId}/reactivate`, undefined, { token: owner.accessToken });
      expect(again.status, 'an active member reactivated is already so').to.equal(200);
    });

    it('counts only active members when an organization comes onto a plan', async () => {
      const owner = await registerAccount(system);
      const leaver = await inviteMember(system, owner, 'viewer');
      expect((await system.http.post(`/users/${leaver.userId}/deactivate`, undefined, { token: owner.accessToken })).status).to.equal(200);
      const planId = await putOnPlan(owner, { seats: 1 }, 'Solo seat');
      expect(await counted(owner, 'seats')).to.equal(1);
      expectLimitReached(await accept(await invite(owner)), planId, 'Solo seat', 1, 1, 'seats');
    });
  });

  describe('executions per billing period', () => {
    const workflowOf = async (account: Account, trigger: object) => {
      const created = await system.http.post(
        '/workflows',
        { name: 'Welcome', trigger, steps: [{ id: 'mark', type: 'add_tag', config: { tag: 'welcomed' }, next: null }] },
        { token: account.accessToken },
      );
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      return created.body.id as string;
    };
    const run = (account: Account, workflowId: string, contactId: string) =>
      system.http.post(`/workflows/${workflowId}/run`, { contactId }, { token: account.accessToken });
    // A trial's or comped plan's period: the calendar month in the organization's zone (UTC at sign-up).
    const thisMonth = () => billingPeriodAt(null, 'UTC', new Date()).start.toISOString();

    it('counts the period’s executions, starts the last allowed, refuses the next run with the numbers, and a trigger starts none beyond', async () => {
      const owner = await registerAccount(system);
      const contact = await createContact(owner, 'runner');
      const manual = await workflowOf(owner, { type: 'manual' });
      expect((await run(owner, manual, contact.body.id)).status).to.equal(202);
      const planId = await putOnPlan(owner, { executionsPerMonth: 2 }, 'Two runs');
      expect(await counted(owner, 'executionsPerMonth', thisMonth())).to.equal(1);

      expect((await run(owner, manual, contact.body.id)).status, 'the last allowed').to.equal(202);
      const refused = await run(owner, manual, contact.body.id);
      expectLimitReached(refused, planId, 'Two runs', 2, 2, 'executionsPerMonth');

      // A workflow started by contact.created: the new contact is created, its execution is not.
      const triggered = await workflowOf(owner, { type: 'event', event: 'contact.created' });
      const late = await createContact(owner, 'late');
      expect(late.status).to.equal(201);
      const executionsOf = async (contactId: string) =>
        (
          (await system.http.get(`/workflows/${triggered}/executions?limit=100`, { token: owner.accessToken })).body.data as {
            contactId: string;
          }[]
        ).filter((execution) => execution.contactId === contactId);

      // Raised, the limit lets the trigger start again: once a later contact's execution shows, the reactor has
      // passed the late contact's event (it takes events in order), and that one started nothing.
      const plans = await staffSide.get<PlanCommands>(TOKENS.PlanCommands);
      await plans.revise(staff(null), { planId, limits: { executionsPerMonth: 100 } });
      let proof: unknown[] = [];
      for (let attempt = 0; attempt < 30 && proof.length === 0; attempt++) {
        const later = await createContact(owner, 'later');
        proof = await eventually(
          () => executionsOf(later.body.id),
          (list) => list.length > 0,
          1_000,
        ).catch(() => []);
      }
      expect(proof, 'a later contact started an execution').to.have.length(1);
      expect(await executionsOf(late.body.id)).to.deep.equal([]);
    });
  });
});
