import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { quotaStream } from '../../domain/billing/quota.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { PlanLimits } from '../../domain/plans/plan.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../../test/support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type Reply, type TestSystem } from '../../test/support/http.ts';
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

const limits = (contacts: number | null): PlanLimits => ({
  contacts,
  activeWorkflows: null,
  executionsPerMonth: null,
  aiTokensPerMonth: null,
  seats: null,
});

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

  async function putOnPlan(account: Account, contactsLimit: number | null, name = 'Starter'): Promise<string> {
    const plans = await staffSide.get<PlanCommands>(TOKENS.PlanCommands);
    const organizations = await staffSide.get<OrganizationCommands>(TOKENS.OrganizationCommands);
    const drafted = await plans.draft(staff(null), { name, monthlyPriceCents: 1_900, currency: 'EUR', limits: limits(contactsLimit) });
    await plans.activate(staff(null), drafted.planId);
    await organizations.changePlan(staff(account.organizationId), account.organizationId, drafted.planId);
    return drafted.planId;
  }

  /** Until the projectors have counted the organization's contacts for its plan (what a limit starts from). */
  async function counted(account: Account): Promise<number> {
    const store = await staffSide.get<EventStreams>(TOKENS.EventStore);
    const events = await eventually(
      () => store.readStream(quotaStream(account.organizationId, 'contacts')),
      (list) => list.some((event) => event.type === 'QuotaCounted'),
      20_000,
    );
    return (events.findLast((event) => event.type === 'QuotaCounted')!.data as { count: number }).count;
  }

  function expectLimitReached(reply: Reply, planId: string, name: string, allowed: number, usage: number) {
    expect(reply.status, JSON.stringify(reply.body)).to.equal(402);
    expect(reply.headers.get('content-type')).to.match(/application\/problem\+json/);
    expect(reply.body).to.include({ code: 'plan_limit_reached', limit: 'contacts', allowed, usage, upgrade: '/billing/plans' });
    expect(reply.body.plan).to.deep.equal({ id: planId, name });
    expect(reply.body.detail).to.contain(`allows ${allowed} contacts`);
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
});
