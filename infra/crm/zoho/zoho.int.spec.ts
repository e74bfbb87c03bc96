import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { CrmGrantRevoked, CrmRequestRejected, type CrmConnection, type CrmProvider } from '../../../projectors/integrations/ports.ts';
import type { FakeCrmServer } from '../../../test/support/fake-crm/fake-crm.ts';
import { startFakeZoho } from '../../../test/support/fake-crm/zoho.ts';
import { AddressPolicy } from '../../outbound/address-policy.ts';
import { GuardedHttpClient } from '../../outbound/guarded-http.ts';
import { crmProviderContract } from '../crm-provider.contract.ts';
import { createZohoProvider } from './zoho-provider.ts';

async function start() {
  const server = await startFakeZoho();
  const outbound = new GuardedHttpClient({ policy: new AddressPolicy(['127.0.0.1/32']) });
  const provider = createZohoProvider({
    clientId: server.clientId,
    clientSecret: server.clientSecret,
    baseUrl: server.env.ZOHO_API_URL!,
    oauthUrl: server.env.ZOHO_ACCOUNTS_URL!,
    outbound,
    timeoutMs: 10_000,
  });
  const connection = async (): Promise<CrmConnection> => {
    const consent = await server.authorize(provider.oauth.authorizationUrl({ state: 's', redirectUri: 'https://app.test/cb', codeChallenge: null }));
    const grant = await provider.oauth.exchangeCode({ code: consent.code, redirectUri: consent.redirectUri, codeVerifier: null });
    return { accessToken: grant.accessToken, instanceUrl: grant.instanceUrl };
  };
  const teardown = async () => {
    await server.close();
    await outbound.close();
  };
  return { server, provider, connection, teardown };
}

/** A loopback server answering every request with one fixed JSON body and status. */
async function fixedServer(status: number, body: unknown, seen: string[] = []): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stop(...servers: Server[]) {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (err: unknown) => err,
  );

crmProviderContract('Zoho CRM', async () => ({ ...(await start()), webhookSignsBody: false, webhookCredentialInBody: true }));

describe('Zoho CRM adapter (loopback Zoho)', function () {
  this.timeout(30_000);
  let server: FakeCrmServer;
  let provider: CrmProvider;
  let connection: () => Promise<CrmConnection>;
  let teardown: () => Promise<void>;

  beforeEach(async () => {
    ({ server, provider, connection, teardown } = await start());
  });
  afterEach(async () => teardown());

  describe("OAuth: Zoho's status-200 error bodies", () => {
    it('a refused refresh token ({"error":"invalid_code"} with status 200) is CrmGrantRevoked', async () => {
      const tokens = await fixedServer(200, { error: 'invalid_code' });
      const outbound = new GuardedHttpClient({ policy: new AddressPolicy([]) });
      try {
        const zoho = createZohoProvider({ clientId: 'c', clientSecret: 's', baseUrl: tokens.url, oauthUrl: tokens.url, outbound, timeoutMs: 5_000 });
        const refused = await failure(
          zoho.oauth.refresh('1000.rt', { instanceUrl: 'https://www.zohoapis.com', accountId: '1', accountLabel: 'Org', scopes: [] }),
        );
        expect(refused).to.be.instanceOf(CrmGrantRevoked);
        // The same body for a code exchange is a bad code, not a revoked grant.
        const bad = await failure(zoho.oauth.exchangeCode({ code: '1000.code', redirectUri: 'https://app.test/cb', codeVerifier: null }));
        expect(bad).to.be.instanceOf(CrmRequestRejected);
      } finally {
        await outbound.close();
        await stop(tokens.server);
      }
    });

    it('the refresh answer names no refresh token: the grant keeps none of its own, the account stays', async () => {
      const consent = await server.authorize(
        provider.oauth.authorizationUrl({ state: 's', redirectUri: 'https://app.test/cb', codeChallenge: null }),
      );
      const grant = await provider.oauth.exchangeCode({ code: consent.code, redirectUri: consent.redirectUri, codeVerifier: null });
      expect(grant.refreshToken).to.match(/^1000\./);
      const refreshed = await provider.oauth.refresh(grant.refreshToken!, grant);
      expect(refreshed.refreshToken).to.equal(null);
      expect(refreshed.accountId).to.equal(grant.accountId);
      expect(refreshed.instanceUrl).to.equal(grant.instanceUrl);
    });
  });

  describe('the api_domain of a token answer', () => {
    for (const [label, domain] of [
      ['a metadata address', 'http://169.254.169.254'],
      ['a private address', 'http://192.168.1.20'],
      ['loopback (not opened by the operator)', null],
    ] as const) {
      it(`is never called when it is ${label}`, async () => {
        const apiSeen: string[] = [];
        const api = await fixedServer(200, { org: [{ id: '1', company_name: 'Evil' }] }, apiSeen);
        const apiDomain = domain ?? api.url;
        const tokens = await fixedServer(200, {
          access_token: 'at',
          refresh_token: 'rt',
          expires_in: 3600,
          api_domain: apiDomain,
          token_type: 'Bearer',
        });
        const outbound = new GuardedHttpClient({ policy: new AddressPolicy([]) });
        try {
          const zoho = createZohoProvider({
            clientId: 'c',
            clientSecret: 's',
            baseUrl: tokens.url,
            oauthUrl: tokens.url,
            outbound,
            timeoutMs: 5_000,
          });
          const refused = await failure(zoho.oauth.exchangeCode({ code: 'x', redirectUri: 'https://app.test/cb', codeVerifier: null }));
          expect(refused).to.be.instanceOf(CrmRequestRejected);
          expect((refused as Error).message).to.match(/not allowed/);
          expect(
            await failure(
              zoho.client.listChangedContacts(
                { accessToken: 'at', instanceUrl: apiDomain },
                { since: null, pageToken: null, pageSize: 10, fields: ['Email'] },
              ),
            ),
          ).to.be.instanceOf(CrmRequestRejected);
          expect(apiSeen).to.deep.equal([]);
        } finally {
          await outbound.close();
          await stop(tokens.server, api.server);
        }
      });
    }
  });

  describe('notifications (the channel token echoed in the body)', () => {
    const secrets = { clientSecret: 'app-secret', integrationSecret: 'zoho-channel-token-1' };
    const delivery = (body: unknown) => ({
      method: 'POST',
      url: 'https://hooks.nexusflow.test/webhooks/zoho',
      headers: { 'content-type': 'application/json' },
      rawBody: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      now: new Date(),
    });

    it('names the ids when the token is ours; a wrong, missing or app-secret token, or a body that is not JSON, is refused', () => {
      const base = { module: 'Contacts', operation: 'update', ids: ['5725767000000000001', '5725767000000000002'], channel_id: '1000000068001' };
      expect(provider.webhooks.verify(delivery({ ...base, token: secrets.integrationSecret }), secrets)).to.deep.equal({ externalIds: base.ids });
      expect(provider.webhooks.verify(delivery({ ...base, token: 'zoho-channel-token-2' }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ ...base, token: secrets.clientSecret }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery(base), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery('not json'), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ ...base, module: 'Leads', token: secrets.integrationSecret }), secrets)).to.deep.equal({
        externalIds: [],
      });
    });
  });

  describe('records', () => {
    it('a contact whose account is a lookup reads and writes by the account name', async () => {
      const conn = await connection();
      const [record] = server.data.seed(1, () => ({ First_Name: 'Ada', Last_Name: 'Lovelace', Account_Name: 'Analytical Engines' }));
      const [read] = await provider.client.getContacts(conn, [record!.externalId], ['Account_Name', 'Last_Name']);
      expect(read!.fields).to.deep.equal({ Account_Name: 'Analytical Engines', Last_Name: 'Lovelace' });
      const [written] = await provider.client.writeContacts(conn, [
        { externalId: record!.externalId, fields: { Account_Name: 'Difference Engines' } },
      ]);
      expect(written!.ok, JSON.stringify(written)).to.equal(true);
      expect(server.data.records.get(record!.externalId)!.fields.Account_Name).to.equal('Difference Engines');
    });

    it("a record Zoho refuses (a mandatory field missing) is reported with Zoho's code; the others are written", async () => {
      const conn = await connection();
      const results = await provider.client.writeContacts(conn, [
        { externalId: null, fields: { First_Name: 'No', Email: 'no-last-name@example.com' } },
        { externalId: null, fields: { Last_Name: 'Fine' } },
      ]);
      expect(results[0]).to.include({ ok: false });
      expect(results[0]!.ok === false && results[0]!.reason).to.match(/MANDATORY_NOT_FOUND.*Last_Name/);
      expect(results[1]).to.include({ ok: true, created: true });
    });

    it('reads changes with one COQL query and field reads by id, never a field list over 50', async () => {
      const conn = await connection();
      const names = Array.from({ length: 120 }, (_, i) => `Extra_${i}`);
      for (const name of names) server.data.customFields.push({ name, label: name, type: 'string' });
      server.data.seed(3, (i) => Object.fromEntries([['Last_Name', `L${i}`], ...names.map((name) => [name, `${name}-${i}`])]));
      const page = await provider.client.listChangedContacts(conn, { since: null, pageToken: null, pageSize: 10, fields: names });
      expect(page.items).to.have.length(3);
      expect(page.items[2]!.fields.Extra_119).to.equal('Extra_119-2');
      const reads = server.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/crm/v6/Contacts?'));
      expect(reads).to.have.length(3); // 120 fields: three requests of at most 49 + Modified_Time
      for (const read of reads) expect(new URL(read.path, 'http://x').searchParams.get('fields')!.split(',').length).to.be.at.most(50);
    });
  });
});
