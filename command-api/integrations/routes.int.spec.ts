import { expect } from 'chai';
import type { RecordedEvent } from '../../domain/events.ts';
import { integrationStream, type IntegrationConnected } from '../../domain/integrations/integration.ts';
import { CredentialsVault, sealingKeys } from '../../infra/crm/credentials-vault.ts';
import { IntegrationConnections, REFRESH_BEFORE_EXPIRY_MS } from '../../infra/crm/integration-connections.ts';
import { organizationAdmins } from '../../infra/crm/module.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { Mailer } from '../ports.ts';
import { startFakeHubSpot } from '../../test/support/fake-crm/hubspot.ts';
import { startFakeSalesforce, type FakeSalesforceServer } from '../../test/support/fake-crm/salesforce.ts';
import type { FakeCrmServer } from '../../test/support/fake-crm/fake-crm.ts';
import { inviteMember, registerAccount, startTestSystem, TEST_JWT_SECRET, type Account, type TestSystem } from '../../test/support/http.ts';
import { eventually } from '../../test/support/events.ts';
import { operationsOf } from '../../test/support/openapi.ts';
import { openServices } from '../../test/support/services.ts';
import { commandApiModules } from '../modules.ts';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { CrmProviders } from '../../projectors/integrations/ports.ts';
import pino from 'pino';

/**
 * The command side of CRM integrations over HTTP, with the real adapters (jsforce for Salesforce, HubSpot's
 * client library) against loopback fakes of the providers: connect through OAuth, state rules, mappings
 * checked against the described fields, settings, sync starts, signed webhooks, token refresh and a revoked
 * grant, disconnect, and tenant isolation.
 */
describe('command API: integrations (connect, callback, disconnect, sync, webhook, mappings, settings)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let salesforce: FakeSalesforceServer;
  let hubspot: FakeCrmServer;
  let acme: Account;
  let globex: Account;
  let vault: CredentialsVault;

  before(async () => {
    salesforce = await startFakeSalesforce();
    hubspot = await startFakeHubSpot();
    system = await startTestSystem(undefined, fakeEnvironment());
    acme = await registerAccount(system, 'Acme');
    globex = await registerAccount(system, 'Globex');
    // The test's own vault over the same database and key (the process derives it from JWT_SECRET).
    vault = new CredentialsVault(system.process.platform.pool, sealingKeys(undefined, TEST_JWT_SECRET));
  });
  after(async () => {
    await system?.stop();
    await salesforce?.close();
    await hubspot?.close();
  });

  /** The providers' settings pointing at the fakes; Pipedrive half configured, Zoho not at all. */
  const fakeEnvironment = () => ({
    OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
    // What these routes do, without the sync worker calling the same fakes meanwhile (test/e2e/crm-sync.e2e.spec.ts syncs).
    CRM_SYNC_ENABLED: 'false',
    SALESFORCE_LOGIN_URL: salesforce.baseUrl,
    SALESFORCE_CLIENT_ID: salesforce.clientId,
    SALESFORCE_CLIENT_SECRET: salesforce.clientSecret,
    ...salesforce.env,
    HUBSPOT_CLIENT_ID: hubspot.clientId,
    HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
    HUBSPOT_API_URL: hubspot.baseUrl,
    ...hubspot.env,
    PIPEDRIVE_CLIENT_ID: 'pd-app',
  });

  const eventsOf = (integrationId: string) => system.process.platform.eventStore.readStream(integrationStream(integrationId));
  const typesOf = (events: RecordedEvent[]) => events.map((event) => event.type);
  /**
   * Salesforce states a token's expiry in whole seconds: a refresh within the second of the previous token
   * moves no expiry and records nothing. Waits (on the clock, no fixed sleep) until the next second begins.
   */
  const nextSecond = () => {
    const second = Math.floor(Date.now() / 1000);
    return eventually(
      () => Date.now(),
      (now) => Math.floor(now / 1000) > second,
      2_000,
    );
  };

  async function startConnect(account: Account, type: string) {
    return system.http.post(`/integrations/${type}/connect`, undefined, { token: account.accessToken });
  }

  async function consent(account: Account, fake: FakeCrmServer) {
    const started = await startConnect(account, fake.provider);
    expect(started.status, JSON.stringify(started.body)).to.equal(200);
    return fake.authorize(started.body.authorizationUrl);
  }

  const callback = (query: Record<string, string>, token?: string) =>
    system.http.get(`/integrations/oauth/callback?${new URLSearchParams(query).toString()}`, token ? { token } : {});

  async function connect(account: Account, fake: FakeCrmServer): Promise<string> {
    const { code, state } = await consent(account, fake);
    const done = await callback({ code, state });
    expect(done.status, JSON.stringify(done.body)).to.equal(201);
    return done.body.id;
  }

  describe('connect', () => {
    let salesforceId: string;

    it('sends the browser to the provider with a state and a PKCE challenge, and connects on the callback; no secret in any event', async () => {
      const started = await startConnect(acme, 'salesforce');
      expect(started.status, JSON.stringify(started.body)).to.equal(200);
      expect(started.headers.get('cache-control')).to.equal('no-store');
      const url = new URL(started.body.authorizationUrl);
      expect(url.origin).to.equal(salesforce.baseUrl);
      expect(url.searchParams.get('state')).to.equal(started.body.state);
      // S256 (Salesforce assumes it when the method is absent).
      expect(url.searchParams.get('code_challenge_method')).to.be.oneOf(['S256', null]);
      expect(url.searchParams.get('code_challenge')).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(started.body.redirectUri).to.equal(`${system.http.baseUrl}/integrations/oauth/callback`);

      const { code, state, redirectUri } = await salesforce.authorize(started.body.authorizationUrl);
      expect(redirectUri).to.equal(started.body.redirectUri);
      const done = await callback({ code, state });
      expect(done.status, JSON.stringify(done.body)).to.equal(201);
      expect(done.body).to.include({ status: 'connected', reconnected: false });
      salesforceId = done.body.id;

      const events = await eventsOf(salesforceId);
      expect(typesOf(events)).to.deep.equal(['IntegrationConnected']);
      const connected = events[0] as unknown as RecordedEvent<IntegrationConnected>;
      expect(connected.data).to.include({ organizationId: acme.organizationId, provider: 'salesforce', instanceUrl: salesforce.baseUrl });
      expect(connected.metadata.actor).to.deep.equal({ type: 'user', id: acme.userId });
      const sealed = await vault.open(connected.data.credentialsRef, acme.organizationId);
      expect(sealed.accessToken).to.be.a('string').that.is.not.empty;
      for (const secret of [sealed.accessToken, sealed.refreshToken!, sealed.webhookSecret]) expect(JSON.stringify(events)).not.to.include(secret);
    });

    it('refuses a second connect of a connected provider (409), before and at the callback', async () => {
      const again = await startConnect(acme, 'salesforce');
      expect(again.status).to.equal(409);
      expect(again.body.code).to.equal('integration_exists');
    });

    it('refuses a used, unknown or missing state with 400 naming it', async () => {
      const { code, state } = await consent(acme, hubspot);
      const first = await callback({ code, state });
      expect(first.status, JSON.stringify(first.body)).to.equal(201);
      for (const reply of [await callback({ code, state }), await callback({ code: 'x', state: 'never-issued' })]) {
        expect(reply.status).to.equal(400);
        expect(reply.body['invalid-params'].map((p: { name: string }) => p.name)).to.deep.equal(['state']);
      }
      const missing = await callback({ code: 'x' });
      expect(missing.status).to.equal(400);
      expect(missing.body['invalid-params'][0].name).to.equal('state');
      await system.http.delete(`/integrations/${first.body.id}/disconnect`, { token: acme.accessToken });
    });

    it("refuses another caller's state (403, the state stays usable) and a starter who may no longer manage integrations", async () => {
      const admin = await inviteMember(system, acme, 'admin');
      const { code, state } = await consent(admin, hubspot);
      const stolen = await callback({ code, state }, acme.accessToken);
      expect(stolen.status).to.equal(403);
      expect(stolen.body.code).to.equal('state_not_yours');
      const demoted = await system.http.put(`/users/${admin.userId}/role`, { role: 'member' }, { token: acme.accessToken });
      expect(demoted.status, JSON.stringify(demoted.body)).to.equal(200);
      const refused = await callback({ code, state }, admin.accessToken).then((reply) => (reply.status === 401 ? callback({ code, state }) : reply));
      expect(refused.status, JSON.stringify(refused.body)).to.equal(403);
      expect(refused.body.code).to.equal('insufficient_permission');
    });

    it("answers the provider's refusal (error=access_denied) with 400 naming it", async () => {
      const started = await startConnect(acme, 'hubspot');
      const refused = await callback({ error: 'access_denied', error_description: 'The user denied access', state: started.body.state });
      expect(refused.status).to.equal(400);
      expect(refused.body['invalid-params'][0].name).to.equal('error');
      expect(refused.body['invalid-params'][0].reason).to.include('access_denied');
    });

    it('answers 503 naming the missing settings for an unconfigured provider, 400 for an unknown type', async () => {
      const pipedrive = await startConnect(acme, 'pipedrive');
      expect(pipedrive.status).to.equal(503);
      expect(pipedrive.contentType).to.include('application/problem+json');
      expect(pipedrive.body).to.include({ code: 'provider_not_configured' });
      expect(pipedrive.body.missingSettings).to.deep.equal(['PIPEDRIVE_CLIENT_SECRET']);
      const zoho = await startConnect(acme, 'zoho');
      expect(zoho.body.missingSettings).to.deep.equal(['ZOHO_CLIENT_ID', 'ZOHO_CLIENT_SECRET']);
      expect(zoho.body.detail).to.include('ZOHO_CLIENT_ID');
      const unknown = await startConnect(acme, 'dynamics');
      expect(unknown.status).to.equal(400);
      expect(unknown.body['invalid-params'][0].name).to.equal('type');
    });

    describe('with a connected Salesforce', () => {
      it('saves mappings that fit the described fields; 400 naming the bad mapping by index and field', async () => {
        const bad = await system.http.put(
          `/integrations/${salesforceId}/mappings`,
          {
            mappings: [
              { ours: 'email', theirs: 'Email', direction: 'both' },
              { ours: 'firstName', theirs: 'No_Such_Field__c', direction: 'both' },
              { ours: 'lastName', theirs: 'LastModifiedDate', direction: 'out' },
            ],
          },
          { token: acme.accessToken },
        );
        expect(bad.status, JSON.stringify(bad.body)).to.equal(400);
        expect(bad.body['invalid-params'].map((p: { name: string }) => p.name)).to.include.members(['mappings[1].theirs', 'mappings[2].direction']);
        expect(typesOf(await eventsOf(salesforceId))).not.to.include('IntegrationMappingsChanged');

        const good = await system.http.put(
          `/integrations/${salesforceId}/mappings`,
          {
            mappings: [
              { ours: 'email', theirs: 'Email', direction: 'both' },
              { ours: 'firstName', theirs: 'FirstName', direction: 'in', transform: { kind: 'trim' } },
            ],
          },
          { token: acme.accessToken },
        );
        expect(good.status, JSON.stringify(good.body)).to.equal(200);
        expect(typesOf(await eventsOf(salesforceId))).to.include('IntegrationMappingsChanged');
      });

      it('changes settings; 400 naming a bad one', async () => {
        const bad = await system.http.put(
          `/integrations/${salesforceId}/settings`,
          { pollIntervalMinutes: 1, deletePolicy: 'shred' },
          { token: acme.accessToken },
        );
        expect(bad.status).to.equal(400);
        expect(bad.body['invalid-params'].map((p: { name: string }) => p.name).sort()).to.deep.equal(['deletePolicy', 'pollIntervalMinutes']);
        const good = await system.http.put(
          `/integrations/${salesforceId}/settings`,
          { deletePolicy: 'archive', pollIntervalMinutes: 30 },
          { token: acme.accessToken },
        );
        expect(good.status, JSON.stringify(good.body)).to.equal(200);
        const changed = (await eventsOf(salesforceId)).find((event) => event.type === 'IntegrationSyncSettingsChanged');
        expect(changed?.data).to.deep.include({ changes: { deletePolicy: 'archive', pollIntervalMinutes: 30 } });
      });

      it('records the ids of a correctly signed webhook; a bad signature is 401 and records nothing', async () => {
        const connected = (await eventsOf(salesforceId))[0] as unknown as RecordedEvent<IntegrationConnected>;
        const { webhookSecret } = await vault.open(connected.data.credentialsRef, acme.organizationId);
        const delivery = salesforce.webhook(['0035g00000AAAAA', '0035g00000BBBBB'], { integrationSecret: webhookSecret });
        const path = `/integrations/${salesforceId}/webhook`;

        const forged = await system.http.request('POST', path, { rawBody: delivery.body.replace('AAAAA', 'CCCCC'), headers: delivery.headers });
        expect(forged.status).to.equal(401);
        const wrongKey = salesforce.webhook(['0035g00000AAAAA'], { integrationSecret: 'not-the-secret' });
        expect((await system.http.request('POST', path, { rawBody: wrongKey.body, headers: wrongKey.headers })).status).to.equal(401);
        const unknown = await system.http.request('POST', '/integrations/00000000-0000-4000-8000-000000000000/webhook', {
          rawBody: delivery.body,
          headers: delivery.headers,
        });
        expect(unknown.status).to.equal(401);
        expect(typesOf(await eventsOf(salesforceId))).not.to.include('IntegrationWebhookReceived');

        const good = await system.http.request('POST', path, { rawBody: delivery.body, headers: delivery.headers });
        expect(good.status, JSON.stringify(good.body)).to.equal(204);
        const received = (await eventsOf(salesforceId)).filter((event) => event.type === 'IntegrationWebhookReceived');
        expect(received).to.have.length(1);
        expect(received[0]!.data).to.deep.include({ provider: 'salesforce', externalIds: ['0035g00000AAAAA', '0035g00000BBBBB'] });
      });

      it('refreshes a token the provider stopped accepting, and records the refresh', async () => {
        await nextSecond();
        salesforce.expireAccessTokens();
        const saved = await system.http.put(
          `/integrations/${salesforceId}/mappings`,
          { mappings: [{ ours: 'email', theirs: 'Email', direction: 'both' }] },
          { token: acme.accessToken },
        );
        expect(saved.status, JSON.stringify(saved.body)).to.equal(200);
        expect(typesOf(await eventsOf(salesforceId))).to.include('IntegrationTokensRefreshed');
      });

      it('refreshes before expiry (and daily), one refresh for concurrent callers, recorded as RefreshTokens', async () => {
        await nextSecond();
        const services = openServices(system, commandApiModules);
        try {
          const handler = await services.get<CommandHandler>(TOKENS.CommandHandler);
          const { state } = await handler.load(
            integrationStream(salesforceId),
            (await import('../../domain/integrations/integration.ts')).integrationDecider,
          );
          if (state.status !== 'connected') throw new Error(`expected a connected integration, not ${state.status}`);
          const connected = state;
          const { expiresAt } = await vault.open(connected.credentialsRef, acme.organizationId);
          const clock = { at: Date.parse(expiresAt) - REFRESH_BEFORE_EXPIRY_MS - 60_000 };
          const connections = new IntegrationConnections({
            providers: await services.get<CrmProviders>(TOKENS.CrmProviders),
            vault,
            handler,
            mailer: await services.get<Mailer>(TOKENS.Mailer),
            admins: organizationAdmins(await services.get<MikroORM>(TOKENS.Orm)),
            logger: pino({ level: 'silent' }),
            appUrl: null,
            now: () => new Date(clock.at),
          });
          const tokenCalls = () =>
            salesforce.requests.filter((request) => request.method === 'POST' && request.path.startsWith('/services/oauth2/token')).length;
          const before = tokenCalls();
          const early = await connections.connectionFor(connected);
          expect(early.accessToken).to.equal((await vault.open(connected.credentialsRef, acme.organizationId)).accessToken);

          clock.at += 2 * 60_000; // now within five minutes of expiry
          const together = await Promise.all([1, 2, 3, 4].map(() => connections.connectionFor(connected)));
          expect(new Set(together.map((c) => c.accessToken)).size).to.equal(1);
          expect(together[0]!.accessToken).not.to.equal(early.accessToken);
          expect(tokenCalls(), 'one refresh call for the four callers').to.equal(before + 1);
          // Recorded when the expiry moved (the fake's expiry has second precision: a refresh within the same second moves nothing).
          const refreshed = (await eventsOf(salesforceId)).filter((event) => event.type === 'IntegrationTokensRefreshed').at(-1);
          expect(refreshed?.data).to.include({ credentialsRef: connected.credentialsRef });
          expect((await vault.open(connected.credentialsRef, acme.organizationId)).accessToken).to.equal(together[0]!.accessToken);
        } finally {
          await services.close();
        }
      });

      it('moves a revoked grant to needs_reconnect, mails the admins, stops syncing; a reconnect of the same account resumes', async () => {
        salesforce.revokeGrant();
        const refused = await system.http.put(
          `/integrations/${salesforceId}/mappings`,
          { mappings: [{ ours: 'email', theirs: 'Email', direction: 'in' }] },
          { token: acme.accessToken },
        );
        expect(refused.status, JSON.stringify(refused.body)).to.equal(409);
        expect(refused.body.code).to.equal('needs_reconnect');
        const types = typesOf(await eventsOf(salesforceId));
        expect(types).to.include('IntegrationNeedsReconnect');
        const mail = await system.mailbox.latest(acme.email, 'integration-needs-reconnect');
        expect(mail.subject).to.include('Salesforce');
        const sync = await system.http.post(`/integrations/${salesforceId}/sync`, {}, { token: acme.accessToken });
        expect(sync.status).to.equal(409);
        expect(sync.body.code).to.equal('needs_reconnect');

        const { code, state } = await consent(acme, salesforce);
        const again = await callback({ code, state });
        expect(again.status, JSON.stringify(again.body)).to.equal(201);
        expect(again.body).to.include({ id: salesforceId, status: 'connected', reconnected: true });
        expect(typesOf(await eventsOf(salesforceId))).to.include('IntegrationReconnected');
      });

      it('answers 404 to another organization for every id route, and changes nothing', async () => {
        const before = (await eventsOf(salesforceId)).length;
        const token = globex.accessToken;
        const replies = [
          await system.http.delete(`/integrations/${salesforceId}/disconnect`, { token }),
          await system.http.post(`/integrations/${salesforceId}/sync`, {}, { token }),
          await system.http.put(`/integrations/${salesforceId}/mappings`, { mappings: [] }, { token }),
          await system.http.put(`/integrations/${salesforceId}/settings`, { pollIntervalMinutes: 60 }, { token }),
        ];
        for (const reply of replies) {
          expect(reply.status, JSON.stringify(reply.body)).to.equal(404);
          expect(JSON.stringify(reply.body)).not.to.include(acme.organizationId);
        }
        expect((await eventsOf(salesforceId)).length).to.equal(before);
      });

      it('disconnects: syncing stops, the credentials are destroyed, and the provider can be connected again', async () => {
        const connected = (await eventsOf(salesforceId)).filter((event) => event.type === 'IntegrationReconnected').at(-1)!;
        const ref = (connected.data as { credentialsRef: string }).credentialsRef;
        const done = await system.http.delete(`/integrations/${salesforceId}/disconnect`, { token: acme.accessToken });
        expect(done.status, JSON.stringify(done.body)).to.equal(200);
        expect(typesOf(await eventsOf(salesforceId)).at(-1)).to.equal('IntegrationDisconnected');
        const { rows } = await system.process.platform.pool.query('SELECT 1 FROM integration_credentials WHERE credentials_ref = $1', [ref]);
        expect(rows).to.have.length(0);
        expect((await system.http.delete(`/integrations/${salesforceId}/disconnect`, { token: acme.accessToken })).status).to.equal(200);
        const sync = await system.http.post(`/integrations/${salesforceId}/sync`, {}, { token: acme.accessToken });
        expect(sync.status).to.equal(409);
        const reconnected = await connect(acme, salesforce);
        expect(reconnected).not.to.equal(salesforceId);
      });
    });
  });

  // The projectors' sync runner starts runs by itself; here commands only, so every run is this test's.
  describe('sync starts (commands only: no sync runner picks the run up)', () => {
    let commandsOnly: TestSystem;
    let owner: Account;
    let integrationId: string;

    before(async () => {
      commandsOnly = await startTestSystem({ commands: true, queries: false, projectors: false }, fakeEnvironment());
      owner = await registerAccount(commandsOnly, 'Initech');
      const started = await commandsOnly.http.post('/integrations/hubspot/connect', undefined, { token: owner.accessToken });
      expect(started.status, JSON.stringify(started.body)).to.equal(200);
      const { code, state } = await hubspot.authorize(started.body.authorizationUrl);
      const done = await commandsOnly.http.get(`/integrations/oauth/callback?${new URLSearchParams({ code, state }).toString()}`);
      expect(done.status, JSON.stringify(done.body)).to.equal(201);
      integrationId = done.body.id;
    });
    after(async () => commandsOnly?.stop());

    it('starts an initial run the first time (202 with its runId), 409 while it runs, 400 naming a bad field', async () => {
      const path = `/integrations/${integrationId}/sync`;
      const started = await commandsOnly.http.post(path, {}, { token: owner.accessToken });
      expect(started.status, JSON.stringify(started.body)).to.equal(202);
      expect(started.body).to.include({ id: integrationId, kind: 'initial', direction: 'both' });
      expect(started.body.runId).to.be.a('string');
      const events = await commandsOnly.process.platform.eventStore.readStream(integrationStream(integrationId));
      expect(events.at(-1)!.data).to.deep.include({ runId: started.body.runId, kind: 'initial' });
      const again = await commandsOnly.http.post(path, { kind: 'forced' }, { token: owner.accessToken });
      expect(again.status).to.equal(409);
      expect(again.body.code).to.equal('sync_in_progress');
      const bad = await commandsOnly.http.post(path, { kind: 'sometimes', direction: 'sideways' }, { token: owner.accessToken });
      expect(bad.status).to.equal(400);
      expect(bad.body['invalid-params'].map((p: { name: string }) => p.name).sort()).to.deep.equal(['direction', 'kind']);
    });
  });

  it('lists every command route in /openapi.json with the permission it needs', async () => {
    const operations = await operationsOf(system.http);
    const ours = (method: string, path: string) => operations.find((op) => op.method === method && op.path === path);
    expect(ours('POST', '/integrations/{type}/connect')?.permission).to.equal('integrations:manage');
    expect(ours('DELETE', '/integrations/{id}/disconnect')?.permission).to.equal('integrations:manage');
    expect(ours('POST', '/integrations/{id}/sync')?.permission).to.equal('integrations:manage');
    expect(ours('PUT', '/integrations/{id}/mappings')?.permission).to.equal('integrations:manage');
    expect(ours('PUT', '/integrations/{id}/settings')?.permission).to.equal('integrations:manage');
    expect(ours('POST', '/integrations/{id}/webhook')).to.include({ permission: undefined });
    expect(ours('GET', '/integrations/oauth/callback')).to.include({ permission: undefined });
  });

  it('refuses members (403): integrations are for owners and admins', async () => {
    const member = await inviteMember(system, globex, 'member');
    const reply = await startConnect(member, 'hubspot');
    expect(reply.status).to.equal(403);
    await eventually(
      () => Promise.resolve(reply.body.code),
      (code) => code === 'insufficient_permission',
    );
  });
});
