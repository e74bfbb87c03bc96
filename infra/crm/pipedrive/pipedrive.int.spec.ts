import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { CrmRateLimited, CrmRequestRejected, CrmUnauthorized, type CrmConnection, type CrmProvider } from '../../../projectors/integrations/ports.ts';
import { startFakePipedrive, type FakePipedriveServer } from '../../../test/support/fake-crm/pipedrive.ts';
import type { FakeCrmServer } from '../../../test/support/fake-crm/fake-crm.ts';
import { AddressPolicy } from '../../outbound/address-policy.ts';
import { GuardedHttpClient } from '../../outbound/guarded-http.ts';
import { crmProviderContract } from '../crm-provider.contract.ts';
import { basicAuth } from '../rest/rest.ts';
import { createPipedriveProvider } from './pipedrive-provider.ts';

async function start(allow: string[] = ['127.0.0.1/32']) {
  const server: FakePipedriveServer = await startFakePipedrive();
  const outbound = new GuardedHttpClient({ policy: new AddressPolicy(allow) });
  const provider = createPipedriveProvider({
    clientId: server.clientId,
    clientSecret: server.clientSecret,
    baseUrl: server.env.PIPEDRIVE_API_URL!,
    oauthUrl: server.env.PIPEDRIVE_OAUTH_URL!,
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

crmProviderContract('Pipedrive', async () => ({ ...(await start()), webhookSignsBody: false, webhookIdsPerDelivery: 1 }));

describe('Pipedrive adapter (loopback Pipedrive)', function () {
  this.timeout(30_000);
  let server: FakeCrmServer;
  let fake: FakePipedriveServer;
  let provider: CrmProvider;
  let connection: () => Promise<CrmConnection>;
  let teardown: () => Promise<void>;

  beforeEach(async () => {
    ({ server, provider, connection, teardown } = await start());
    fake = server as FakePipedriveServer;
  });
  afterEach(async () => teardown());

  describe('webhooks (HTTP Basic credentials, the webhook secret as password)', () => {
    const secrets = { clientSecret: 'app-secret', integrationSecret: 'whsec-pipedrive-1' };
    const delivery = (authorization: string | undefined, body: unknown) => ({
      method: 'POST',
      url: 'https://hooks.nexusflow.test/webhooks/pipedrive',
      headers: authorization === undefined ? {} : { authorization },
      rawBody: Buffer.from(JSON.stringify(body)),
      now: new Date(),
    });
    const v2Body = (id: string, entity = 'person') => ({
      meta: { action: 'change', entity, entity_id: id, version: '2.0' },
      data: { id: Number(id) },
    });

    it('a delivery from the fake verifies and names its person', () => {
      const [record] = server.data.seed(1, () => ({ first_name: 'Ada' }));
      const sent = server.webhook([record!.externalId], { integrationSecret: secrets.integrationSecret });
      const notice = provider.webhooks.verify(
        {
          method: sent.method,
          url: `https://hooks.nexusflow.test${sent.path}`,
          headers: sent.headers,
          rawBody: Buffer.from(sent.body),
          now: new Date(),
        },
        secrets,
      );
      expect(notice).to.deep.equal({ externalIds: [record!.externalId] });
    });

    it('the right password verifies whatever the user name; a wrong or missing password, or another scheme, does not', () => {
      expect(provider.webhooks.verify(delivery(basicAuth('anyone', secrets.integrationSecret), v2Body('42')), secrets)).to.deep.equal({
        externalIds: ['42'],
      });
      expect(provider.webhooks.verify(delivery(basicAuth('nexusflow', 'whsec-pipedrive-2'), v2Body('42')), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery(basicAuth('nexusflow', ''), v2Body('42')), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery(undefined, v2Body('42')), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery(`Bearer ${secrets.integrationSecret}`, v2Body('42')), secrets)).to.equal(null);
      // The app's client secret is not the webhook's password.
      expect(provider.webhooks.verify(delivery(basicAuth('nexusflow', secrets.clientSecret), v2Body('42')), secrets)).to.equal(null);
    });

    it('an authentic delivery about another entity names no person; a body that is not JSON is refused', () => {
      const auth = basicAuth('nexusflow', secrets.integrationSecret);
      expect(provider.webhooks.verify(delivery(auth, v2Body('7', 'deal')), secrets)).to.deep.equal({ externalIds: [] });
      expect(provider.webhooks.verify({ ...delivery(auth, {}), rawBody: Buffer.from('not json') }, secrets)).to.equal(null);
    });
  });

  describe('fields', () => {
    it('email is the primary entry of the emails array; writing it keeps the other addresses', async () => {
      const conn = await connection();
      const [record] = server.data.seed(1, () => ({ first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' }));
      const [read] = await provider.client.getContacts(conn, [record!.externalId], ['email', 'first_name', 'last_name', 'name']);
      expect(read!.fields).to.deep.equal({ email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', name: 'Ada Lovelace' });
      const [written] = await provider.client.writeContacts(conn, [
        { externalId: record!.externalId, fields: { email: 'ada@engine.test', last_name: 'King' } },
      ]);
      expect(written!.ok, JSON.stringify(written)).to.equal(true);
      expect(server.data.records.get(record!.externalId)!.fields).to.include({ email: 'ada@engine.test', first_name: 'Ada', last_name: 'King' });
    });

    it('a picklist custom field reads and writes by label (Pipedrive sends option ids)', async () => {
      server.data.customFields.push({
        name: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
        label: 'Tier',
        type: 'picklist',
        picklistValues: ['Gold', 'Silver'],
      });
      const conn = await connection();
      const [record] = server.data.seed(1, () => ({ first_name: 'Ada', a1b2c3d4e5f60718293a4b5c6d7e8f9012345678: 'Silver' }));
      const [read] = await provider.client.getContacts(conn, [record!.externalId], ['a1b2c3d4e5f60718293a4b5c6d7e8f9012345678']);
      expect(read!.fields).to.deep.equal({ a1b2c3d4e5f60718293a4b5c6d7e8f9012345678: 'Silver' });
      const results = await provider.client.writeContacts(conn, [
        { externalId: record!.externalId, fields: { a1b2c3d4e5f60718293a4b5c6d7e8f9012345678: 'Gold' } },
        { externalId: record!.externalId, fields: { a1b2c3d4e5f60718293a4b5c6d7e8f9012345678: 'Bronze' } },
      ]);
      expect(results[0]!.ok).to.equal(true);
      expect(results[1]).to.include({ ok: false });
      expect(server.data.records.get(record!.externalId)!.fields.a1b2c3d4e5f60718293a4b5c6d7e8f9012345678).to.equal('Gold');
    });
  });

  describe('the api_domain of a token answer', () => {
    for (const [label, domain] of [
      ['a metadata address', 'http://169.254.169.254'],
      ['a private address', 'http://10.0.0.7'],
      ['loopback (not opened by the operator)', null],
    ] as const) {
      it(`is never called when it is ${label}`, async () => {
        // A token server whose answer points api_domain elsewhere; the API host itself counts its requests.
        let apiRequests = 0;
        const api = createServer((_req, res) => {
          apiRequests++;
          res.end('{}');
        });
        await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
        const apiDomain = domain ?? `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
        const tokens = createServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ access_token: 'at', refresh_token: 'rt', expires_in: 3600, scope: 'base', api_domain: apiDomain }));
        });
        await new Promise<void>((resolve) => tokens.listen(0, '127.0.0.1', resolve));
        const outbound = new GuardedHttpClient({ policy: new AddressPolicy([]) });
        try {
          const tokenUrl = `http://127.0.0.1:${(tokens.address() as AddressInfo).port}`;
          const guarded = createPipedriveProvider({
            clientId: 'c',
            clientSecret: 's',
            baseUrl: tokenUrl,
            oauthUrl: tokenUrl,
            outbound,
            timeoutMs: 5_000,
          });
          const refused = await guarded.oauth.exchangeCode({ code: 'x', redirectUri: 'https://app.test/cb', codeVerifier: null }).then(
            () => null,
            (err: unknown) => err,
          );
          expect(refused).to.be.instanceOf(CrmRequestRejected);
          expect((refused as Error).message).to.match(/not allowed/);
          const data = await guarded.client.describeContactFields({ accessToken: 'at', instanceUrl: apiDomain }).then(
            () => null,
            (err: unknown) => err,
          );
          expect(data).to.be.instanceOf(CrmRequestRejected);
          expect(apiRequests).to.equal(0);
        } finally {
          await outbound.close();
          tokens.closeAllConnections();
          api.closeAllConnections();
          await Promise.all([new Promise((r) => tokens.close(r)), new Promise((r) => api.close(r))]);
        }
      });
    }
  });

  it('a spent burst window (x-ratelimit-remaining: 0 on a success) holds the next call without sending it', async () => {
    const conn = await connection();
    fake.spendBurstWindow(30);
    await provider.client.describeContactFields(conn);
    const sent = fake.requests.length;
    const held = await provider.client.describeContactFields(conn).then(
      () => null,
      (err: unknown) => err,
    );
    expect(held).to.be.instanceOf(CrmRateLimited);
    expect((held as CrmRateLimited).retryAfterMs).to.be.within(1, 30_000);
    expect(fake.requests.length).to.equal(sent);
  });

  it('a revoked grant answers API calls with 401: CrmUnauthorized', async () => {
    const conn = await connection();
    server.revokeGrant();
    expect(
      await provider.client.describeContactFields(conn).then(
        () => null,
        (err: unknown) => err,
      ),
    ).to.be.instanceOf(CrmUnauthorized);
  });
});
