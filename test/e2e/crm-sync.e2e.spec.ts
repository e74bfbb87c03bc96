import { expect } from 'chai';
import { defaultMappings, providers, type ProviderId } from '../../domain/integrations/providers.ts';
import { eventually } from '../support/events.ts';
import type { FakeCrmServer } from '../support/fake-crm/fake-crm.ts';
import { startFakeHubSpot } from '../support/fake-crm/hubspot.ts';
import { startFakePipedrive } from '../support/fake-crm/pipedrive.ts';
import { startFakeSalesforce } from '../support/fake-crm/salesforce.ts';
import { startFakeZoho } from '../support/fake-crm/zoho.ts';
import { integrationStream, type IntegrationConnected } from '../../domain/integrations/integration.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { CredentialsVault, sealingKeys } from '../../infra/crm/credentials-vault.ts';
import { registerAccount, startTestSystem, TEST_JWT_SECRET, TEST_OPERATOR_TOKEN, type Account, type TestSystem } from '../support/http.ts';

/**
 * Two-way CRM sync through the whole system: the real adapter against a loopback provider, connected through
 * the OAuth routes, the sync worker in the projectors, our contacts through the API.
 */
const fakes: { id: ProviderId; start: () => Promise<FakeCrmServer> }[] = [
  { id: 'salesforce', start: startFakeSalesforce },
  { id: 'hubspot', start: startFakeHubSpot },
  { id: 'pipedrive', start: startFakePipedrive },
  { id: 'zoho', start: startFakeZoho },
];

for (const { id, start } of fakes) {
  describe(`CRM two-way sync (${id}, end to end)`, function () {
    this.timeout(60_000);
    let fake: FakeCrmServer;
    let system: TestSystem;
    let owner: Account;
    let integrationId: string;
    const f = () => fake.standardFields;

    const contacts = async () =>
      (
        await system.http.get<{ data: { id: string; email: string; firstName: string | null; lastName: string | null; revision: number }[] }>(
          '/contacts?limit=100',
          { token: owner.accessToken },
        )
      ).body.data;
    const byEmail = async (email: string) => (await contacts()).find((c) => c.email === email);
    const recordOf = (email: string) => fake.data.live().find((r) => String(r.fields[f().email]).toLowerCase() === email);
    const status = async () => (await system.http.get(`/integrations/${integrationId}/status`, { token: owner.accessToken })).body;
    const syncNow = async () => {
      // A run the worker started by itself (a poll, outbound changes) ends first.
      await eventually(status, (s) => s?.runInProgress === null, 20_000);
      const started = await system.http.post(`/integrations/${integrationId}/sync`, { kind: 'incremental' }, { token: owner.accessToken });
      expect(started.status, JSON.stringify(started.body)).to.equal(202);
      const runId = started.body.runId as string;
      await eventually(status, (s) => s?.lastRun?.runId === runId || s?.lastSync?.runId === runId, 20_000);
      return runId;
    };

    before(async () => {
      fake = await start();
      // Already in the CRM before the connect: the initial sync brings them in.
      fake.data.create({ [f().email]: 'ada@example.com', [f().firstName]: 'Ada', [f().lastName]: 'Lovelace' });
      fake.data.create({ [f().email]: 'grace@example.com', [f().firstName]: 'Grace', [f().lastName]: 'Hopper' });
      fake.data.create({ [f().email]: 'not an email', [f().firstName]: 'Nobody' });
      system = await startTestSystem(
        { commands: true, queries: true, projectors: true },
        {
          [providers[id].env.baseUrl]: fake.baseUrl,
          ...fake.env,
          [providers[id].env.clientId]: fake.clientId,
          [providers[id].env.clientSecret]: fake.clientSecret,
          OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
          CRM_SYNC_POLL_MS: '200',
          // Small pages: a run of a few records spans several pages and checkpoints.
          CRM_SYNC_PAGE_SIZE: '2',
        },
      );
      owner = await registerAccount(system);
    });
    after(async () => {
      await system?.stop();
      await fake?.close();
    });

    it('connects through OAuth and imports the CRM’s contacts, rejecting (and showing) the one without an email', async () => {
      const begun = await system.http.post(`/integrations/${id}/connect`, {}, { token: owner.accessToken });
      expect(begun.status, JSON.stringify(begun.body)).to.equal(200);
      const consent = await fake.authorize(begun.body.authorizationUrl);
      const callback = await system.http.get(
        `/integrations/oauth/callback?code=${encodeURIComponent(consent.code)}&state=${encodeURIComponent(consent.state)}`,
      );
      expect(callback.status, JSON.stringify(callback.body)).to.equal(201);
      integrationId = callback.body.id;

      const imported = await eventually(contacts, (list) => list.length === 2, 20_000);
      expect(imported.map((c) => c.email).sort()).to.deep.equal(['ada@example.com', 'grace@example.com']);
      const s = await eventually(status, (v) => v?.rejects?.open > 0, 20_000);
      expect(s.rejects.items[0].reason).to.match(/email/);
    });

    it('sends a contact created here to the CRM, once', async () => {
      const created = await system.http.post(
        '/contacts',
        { email: 'alan@example.com', firstName: 'Alan', lastName: 'Turing' },
        { token: owner.accessToken },
      );
      expect(created.status).to.equal(201);
      const record = await eventually(
        // Not there yet: what the CRM holds and the integration's status, to say why when it never comes.
        async () => recordOf('alan@example.com') ?? { status: await status(), live: fake.data.live() },
        (r) => !('live' in r),
        20_000,
      );
      expect((record as { fields: Record<string, unknown> }).fields[f().firstName]).to.equal('Alan');
      await syncNow();
      expect(fake.data.live().filter((r) => String(r.fields[f().email]) === 'alan@example.com')).to.have.length(1);
    });

    it('brings an edit made in the CRM in, and does not send it back (no echo)', async () => {
      const record = recordOf('ada@example.com')!;
      fake.data.edit(record.externalId, { [f().firstName]: 'Augusta' });
      const stampAfterEdit = record.modifiedAt;
      await syncNow();
      const ada = await eventually(
        () => byEmail('ada@example.com'),
        (c) => c?.firstName === 'Augusta',
        20_000,
      );
      await syncNow();
      expect((await byEmail('ada@example.com'))!.revision).to.equal(ada!.revision);
      // Nothing was written back to the CRM for it.
      expect(recordOf('ada@example.com')!.modifiedAt).to.equal(stampAfterEdit);
    });

    it('resolves a field both sides changed by the policy (most recent: the CRM’s later edit) and records both values in the contact’s history', async () => {
      const grace = (await byEmail('grace@example.com'))!;
      const patched = await system.http.patch(`/contacts/${grace.id}`, { lastName: 'Murray' }, { token: owner.accessToken });
      expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
      // Edited in the CRM after ours, before any sync ran both ways.
      fake.data.now = Date.now() + 60_000;
      fake.data.edit(recordOf('grace@example.com')!.externalId, { [f().lastName]: 'Brewster Murray Hopper' });
      await syncNow();
      await eventually(
        () => byEmail('grace@example.com'),
        (c) => c?.lastName === 'Brewster Murray Hopper',
        20_000,
      );
      expect(recordOf('grace@example.com')!.fields[f().lastName]).to.equal('Brewster Murray Hopper');
      const history = await eventually(
        async () => (await system.http.get(`/audit/entities/contact/${grace.id}?steps=true`, { token: owner.accessToken })).body,
        (body) => JSON.stringify(body).includes('ContactFieldConflictResolved'),
        20_000,
      );
      const entry = history.steps.find((e: { type: string }) => e.type === 'ContactFieldConflictResolved');
      expect(JSON.stringify(entry)).to.include('Murray').and.to.include('most_recent_theirs');
    });

    for (const policy of ['ours', 'theirs'] as const) {
      // One word each (Pipedrive keeps a person's name whole and splits it at spaces).
      const [oursValue, theirsValue] = [`Ours${policy}`, `Theirs${policy}`];
      const winner = policy === 'ours' ? oursValue : theirsValue;
      it(`resolves a field both sides changed under policy ${policy}: ${policy} wins on both sides, and the history says why`, async () => {
        const settings = await system.http.put(`/integrations/${integrationId}/settings`, { conflictPolicy: policy }, { token: owner.accessToken });
        expect(settings.status, JSON.stringify(settings.body)).to.equal(200);
        const grace = (await byEmail('grace@example.com'))!;
        // Both sides change the first name before any sync sees either.
        fake.data.edit(recordOf('grace@example.com')!.externalId, { [f().firstName]: theirsValue });
        const patched = await system.http.patch(`/contacts/${grace.id}`, { firstName: oursValue }, { token: owner.accessToken });
        expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
        await syncNow();
        await eventually(
          () => byEmail('grace@example.com'),
          (c) => c?.firstName === winner,
          20_000,
        );
        await eventually(
          () => recordOf('grace@example.com')?.fields[f().firstName],
          (v) => v === winner,
          20_000,
        );
        const history = (await system.http.get(`/audit/entities/contact/${grace.id}?steps=true`, { token: owner.accessToken })).body;
        const entry = history.steps.filter((e: { type: string }) => e.type === 'ContactFieldConflictResolved').at(-1);
        expect(entry.detail).to.deep.include({ field: 'firstName', winner: policy, reason: `policy_${policy}` });
        expect(entry.detail.ours.value).to.equal(oursValue);
        expect(entry.detail.theirs.value).to.equal(theirsValue);
      });
    }

    it('fetches the records a correctly signed webhook names, without a sync run (the body only names them)', async () => {
      const connected = (
        await system.process.platform.eventStore.readStream(integrationStream(integrationId))
      )[0] as unknown as RecordedEvent<IntegrationConnected>;
      const vault = new CredentialsVault(system.process.platform.pool, sealingKeys(undefined, TEST_JWT_SECRET));
      const { webhookSecret } = await vault.open(connected.data.credentialsRef, owner.organizationId);
      const record = recordOf('alan@example.com')!;
      fake.data.edit(record.externalId, { [f().lastName]: 'Mathison Turing' });
      // HubSpot signs the URL it delivers to: ours.
      const target = `${system.http.baseUrl}/integrations/${integrationId}/webhook`;
      if ('webhookTargetUrl' in fake) (fake as { webhookTargetUrl: string }).webhookTargetUrl = target;
      const delivery = fake.webhook([record.externalId], { integrationSecret: webhookSecret });
      const path = `/integrations/${integrationId}/webhook`;
      // Forgeries: signed with another secret (HubSpot signs with the app's secret, not the integration's), and
      // the genuine body without its credential (Zoho's travels in the body).
      const wrongSecret = fake.webhook([record.externalId], { integrationSecret: 'not-the-secret' });
      const forgeries = [
        ...(id === 'hubspot' ? [] : [{ rawBody: wrongSecret.body, headers: wrongSecret.headers }]),
        ...(id === 'zoho' ? [] : [{ rawBody: delivery.body, headers: { 'content-type': 'application/json' } }]),
      ];
      for (const forged of forgeries) expect((await system.http.request('POST', path, forged)).status).to.equal(401);
      expect((await byEmail('alan@example.com'))!.lastName).to.equal('Turing');
      const posted = await system.http.request('POST', path, { rawBody: delivery.body, headers: delivery.headers });
      expect(posted.status, JSON.stringify(posted.body)).to.equal(204);
      await eventually(
        () => byEmail('alan@example.com'),
        (c) => c?.lastName === 'Mathison Turing',
        20_000,
      );
    });

    it('applies an edit stamped exactly at the cursor, and one record’s edits once after a rate limit interrupts the run', async () => {
      const cursor = (await status()).cursors.in.stamp as string;
      const ada = recordOf('ada@example.com')!;
      // Stamped at the very instant the last run got to: a "modified after" query would lose it.
      fake.data.edit(ada.externalId, { [f().phone]: '+44 20 7946 0000' }, Date.parse(cursor));
      const grace = recordOf('grace@example.com')!;
      fake.data.now = Date.now() + 120_000;
      fake.data.edit(grace.externalId, { [f().phone]: '+1 555 0100' });
      // The second API call of the run answers 429: the run pauses (Retry-After) and resumes at its checkpoint.
      fake.rateLimitNext(1, 1);
      await syncNow();
      expect(((await byEmail('ada@example.com')) as { phone?: string } | undefined)?.phone).to.equal('+44 20 7946 0000');
      expect(((await byEmail('grace@example.com')) as { phone?: string } | undefined)?.phone).to.equal('+1 555 0100');
      expect((await contacts()).map((c) => c.email).sort()).to.deep.equal(['ada@example.com', 'alan@example.com', 'grace@example.com']);
    });

    it('propagates a deletion each way under the delete policy', async () => {
      const settings = await system.http.put(`/integrations/${integrationId}/settings`, { deletePolicy: 'delete' }, { token: owner.accessToken });
      expect(settings.status, JSON.stringify(settings.body)).to.equal(200);
      const alan = (await byEmail('alan@example.com'))!;
      expect((await system.http.delete(`/contacts/${alan.id}`, { token: owner.accessToken })).status).to.equal(200);
      await eventually(
        () => recordOf('alan@example.com'),
        (r) => r === undefined,
        20_000,
      );
      fake.data.now = Date.now() + 180_000;
      fake.data.remove(recordOf('ada@example.com')!.externalId);
      await syncNow();
      await eventually(
        () => byEmail('ada@example.com'),
        (c) => c === undefined,
        20_000,
      );
      expect((await contacts()).map((c) => c.email)).to.deep.equal(['grace@example.com']);
    });

    it('acts in the CRM from a workflow’s crm_action step, once per step, through the connected integration', async () => {
      const workflow = await system.http.post(
        '/workflows',
        {
          name: 'Log a call',
          settings: { mailbox: 'sales@example.com', exitOn: [] },
          steps: [
            {
              id: 'log',
              type: 'crm_action',
              config: { provider: id, action: 'log_activity', fields: { subject: 'Intro call', body: 'Talked.' } },
              next: null,
            },
          ],
        },
        { token: owner.accessToken },
      );
      expect(workflow.status, JSON.stringify(workflow.body)).to.equal(201);
      const grace = (await byEmail('grace@example.com'))!;
      const run = await system.http.post(`/workflows/${workflow.body.id}/run`, { contactId: grace.id }, { token: owner.accessToken });
      expect(run.status, JSON.stringify(run.body)).to.equal(202);
      const done = await eventually(
        async () => (await system.http.get(`/workflows/${workflow.body.id}/executions/${run.body.executionId}`, { token: owner.accessToken })).body,
        (e) => ['completed', 'failed'].includes(e?.status),
        20_000,
      );
      expect(done.status, JSON.stringify(done)).to.equal('completed');
      expect(fake.data.activities.filter((a) => a.subject === 'Intro call')).to.have.length(1);
    });

    it('re-syncs only what a changed mapping affects, at once (a forced run of those fields)', async () => {
      const grace = recordOf('grace@example.com')!;
      // Set in the CRM before the mapping existed; no run would read it again for the stamp alone.
      fake.data.edit(grace.externalId, { [f().company]: 'US Navy' }, grace.modifiedAt);
      const mappings = [
        ...defaultMappings(id).filter((m) => m.ours !== 'company'),
        { ours: 'company', theirs: f().company, direction: 'in' as const },
      ];
      const saved = await system.http.put(`/integrations/${integrationId}/mappings`, { mappings }, { token: owner.accessToken });
      expect(saved.status, JSON.stringify(saved.body)).to.equal(200);
      await eventually(
        () => byEmail('grace@example.com'),
        (c) => (c as { company?: string } | undefined)?.company === 'US Navy',
        20_000,
      );
      const runs = (await system.http.get(`/integrations/${integrationId}/runs`, { token: owner.accessToken })).body.data as {
        kind: string;
        fields: string[] | null;
      }[];
      expect(runs.find((r) => r.kind === 'forced')?.fields).to.deep.equal(['company']);
    });

    it('tries a record it refused again on every run, and takes it in once it fits (the refusal resolved)', async () => {
      const nobody = fake.data.live().find((r) => r.fields[f().email] === 'not an email')!;
      // Fixed without moving its stamp: only the retry of refused records can find it.
      fake.data.edit(nobody.externalId, { [f().email]: 'nobody@example.com' }, nobody.modifiedAt);
      await syncNow();
      expect(await byEmail('nobody@example.com')).to.not.equal(undefined);
      const s = await status();
      expect(s.rejects.items.filter((r: { externalId: string | null }) => r.externalId === nobody.externalId)).to.deep.equal([]);
    });

    it('shows operators what the sync did on /metrics: provider calls, records and runs', async () => {
      const text = (await system.http.get('/metrics', { headers: { Authorization: `Bearer ${TEST_OPERATOR_TOKEN}` } })).body as string;
      expect(text).to.match(new RegExp(`nexusflow_crm_api_calls_total\\{provider="${id}",outcome="ok"\\} [1-9]`));
      expect(text).to.match(new RegExp(`nexusflow_crm_api_calls_total\\{provider="${id}",outcome="rate_limited"\\} [1-9]`));
      expect(text).to.match(new RegExp(`nexusflow_crm_sync_records_total\\{provider="${id}",outcome="created"\\} [1-9]`));
      expect(text).to.match(new RegExp(`nexusflow_crm_sync_runs_total\\{provider="${id}",kind="initial",outcome="completed"\\} 1`));
      expect(text).to.match(/nexusflow_outbound_request_duration_seconds_count\{target="crm",outcome="ok"\} [1-9]/);
    });
  });
}
