import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { organizationServicesModule } from '../../command-api/organizations/module.ts';
import type { OrganizationCommands } from '../../command-api/organizations/organization-commands.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { planCommandsModule } from '../../command-api/plans/module.ts';
import type { PlanCommands } from '../../command-api/plans/plan-commands.ts';
import type { EventStreams } from '../../command-api/ports.ts';
import { quotaStream } from '../../domain/billing/quota.ts';
import type { CommandContext } from '../../domain/events.ts';
import { providers } from '../../domain/integrations/providers.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../support/events.ts';
import { startFakeHubSpot } from '../support/fake-crm/hubspot.ts';
import type { FakeCrmServer } from '../support/fake-crm/fake-crm.ts';
import { registerAccount, startTestSystem, type Account, type TestSystem } from '../support/http.ts';
import { openServices, type Services } from '../support/services.ts';

const staff = (tenantId: string | null): CommandContext => ({
  tenantId,
  actor: { type: 'staff', id: 'staff-crm-limits' },
  correlationId: randomUUID(),
  causationId: randomUUID(),
  now: new Date(),
});

describe('CRM import within the plan’s contacts limit (hubspot, end to end)', function () {
  this.timeout(60_000);
  let fake: FakeCrmServer;
  let system: TestSystem;
  let staffSide: Services;
  let owner: Account;

  before(async () => {
    fake = await startFakeHubSpot();
    const f = fake.standardFields;
    for (const name of ['ada', 'grace', 'alan', 'barbara', 'edsger']) fake.data.create({ [f.email]: `${name}@example.com`, [f.firstName]: name });
    system = await startTestSystem(
      { commands: true, queries: true, projectors: true },
      {
        [providers.hubspot.env.baseUrl]: fake.baseUrl,
        ...fake.env,
        [providers.hubspot.env.clientId]: fake.clientId,
        [providers.hubspot.env.clientSecret]: fake.clientSecret,
        OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
        CRM_SYNC_POLL_MS: '200',
        CRM_SYNC_PAGE_SIZE: '2',
      },
    );
    staffSide = openServices(system, [commandCoreModule, organizationServicesModule, planCommandsModule]);
    owner = await registerAccount(system);
  });
  after(async () => {
    await staffSide?.close();
    await system?.stop();
    await fake?.close();
  });

  const contacts = async () => (await system.http.get<{ data: { email: string }[] }>('/contacts?limit=100', { token: owner.accessToken })).body.data;

  it('imports up to the limit, keeps the rest as rejects naming the limit, and takes them in once the limit is raised', async () => {
    const plans = await staffSide.get<PlanCommands>(TOKENS.PlanCommands);
    const organizations = await staffSide.get<OrganizationCommands>(TOKENS.OrganizationCommands);
    const limits = { contacts: 3, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null };
    const { planId } = await plans.draft(staff(null), { name: 'Three', monthlyPriceCents: 900, currency: 'EUR', limits });
    await plans.activate(staff(null), planId);
    await organizations.changePlan(staff(owner.organizationId), owner.organizationId, planId);
    const store = await staffSide.get<EventStreams>(TOKENS.EventStore);
    await eventually(
      () => store.readStream(quotaStream(owner.organizationId, 'contacts')),
      (events) => events.some((e) => e.type === 'QuotaCounted'),
      20_000,
    );

    const begun = await system.http.post('/integrations/hubspot/connect', {}, { token: owner.accessToken });
    expect(begun.status, JSON.stringify(begun.body)).to.equal(200);
    const consent = await fake.authorize(begun.body.authorizationUrl);
    const callback = await system.http.get(
      `/integrations/oauth/callback?code=${encodeURIComponent(consent.code)}&state=${encodeURIComponent(consent.state)}`,
    );
    expect(callback.status, JSON.stringify(callback.body)).to.equal(201);
    const integrationId = callback.body.id as string;
    const status = async () => (await system.http.get(`/integrations/${integrationId}/status`, { token: owner.accessToken })).body;

    const done = await eventually(status, (s) => s?.runInProgress === null && s?.rejects?.open === 2, 20_000);
    expect(done.rejects.items.map((r: { reason: string }) => r.reason)).to.deep.equal([
      "the plan's contacts limit is reached (Three allows 3)",
      "the plan's contacts limit is reached (Three allows 3)",
    ]);
    expect(await eventually(contacts, (list) => list.length === 3, 10_000)).to.have.length(3);
    // A contact through the API is refused as well: the import took the places.
    expect((await system.http.post('/contacts', { email: 'late@example.com' }, { token: owner.accessToken })).status).to.equal(402);

    await plans.revise(staff(null), { planId, limits: { contacts: 10 } });
    // The plan's terms are kept a few seconds: runs go on until one takes the rejected records in.
    const all = await eventually(
      async () => {
        const s = await status();
        if (s?.runInProgress === null)
          await system.http.post(`/integrations/${integrationId}/sync`, { kind: 'incremental' }, { token: owner.accessToken });
        return contacts();
      },
      (list) => list.length === 5,
      30_000,
    );
    expect(all.map((c) => c.email).sort()).to.deep.equal(['ada', 'alan', 'barbara', 'edsger', 'grace'].map((n) => `${n}@example.com`));
    expect((await eventually(status, (s) => s?.rejects?.open === 0, 20_000)).rejects.open).to.equal(0);
  });
});
