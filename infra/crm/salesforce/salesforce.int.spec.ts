import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { CrmRateLimited, CrmRequestRejected, type CrmConnection, type CrmProvider } from '../../../projectors/integrations/ports.ts';
import { startFakeSalesforce, type FakeSalesforceServer } from '../../../test/support/fake-crm/salesforce.ts';
import { AddressPolicy } from '../../outbound/address-policy.ts';
import { GuardedHttpClient, type Resolve } from '../../outbound/guarded-http.ts';
import { crmProviderContract } from '../crm-provider.contract.ts';
import { createSalesforceProvider } from './salesforce-provider.ts';
import { TOLERANCE_MS } from './webhooks.ts';

const redirectUri = 'https://app.nexusflow.test/integrations/oauth/callback';

function build(server: FakeSalesforceServer, allow: string[] = ['127.0.0.1/32'], lookup?: Resolve) {
  const outbound = new GuardedHttpClient({ policy: new AddressPolicy(allow), ...(lookup ? { lookup } : {}) });
  const provider = createSalesforceProvider({
    clientId: server.clientId,
    clientSecret: server.clientSecret,
    baseUrl: server.baseUrl,
    outbound,
    timeoutMs: 10_000,
  });
  return { outbound, provider };
}

async function consent(server: FakeSalesforceServer, provider: CrmProvider) {
  const verifier = randomBytes(48).toString('base64url');
  const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
  const { code } = await server.authorize(provider.oauth.authorizationUrl({ state: 's', redirectUri, codeChallenge }));
  return { code, redirectUri, codeVerifier: verifier };
}

async function connect(server: FakeSalesforceServer, provider: CrmProvider): Promise<CrmConnection> {
  const grant = await provider.oauth.exchangeCode(await consent(server, provider));
  return { accessToken: grant.accessToken, instanceUrl: grant.instanceUrl };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, the call succeeded');
}

crmProviderContract('Salesforce (jsforce against the fake Salesforce)', async () => {
  const server = await startFakeSalesforce();
  const { outbound, provider } = build(server);
  return {
    server,
    provider,
    connection: () => connect(server, provider),
    teardown: async () => {
      await outbound.close();
      await server.close();
    },
    webhookToleranceMs: TOLERANCE_MS,
  };
});

describe('Salesforce adapter specifics', function () {
  this.timeout(30_000);
  let server: FakeSalesforceServer;
  let provider: CrmProvider;
  let outbound: GuardedHttpClient;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    server = await startFakeSalesforce();
    ({ provider, outbound } = build(server));
    closers.push(
      () => outbound.close(),
      () => server.close(),
    );
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  const queries = () =>
    server.requests.filter((r) => r.path.includes('/query?q=')).map((r) => new URL(r.path, server.baseUrl).searchParams.get('q') ?? '');

  it('the grant names the org, its name, and the expiry Salesforce reports by introspection', async () => {
    const grant = await provider.oauth.exchangeCode(await consent(server, provider));
    expect(grant.accountId).to.match(/^00D/);
    expect(grant.accountLabel).to.equal('Fake Salesforce Org');
    expect(grant.instanceUrl).to.equal(server.baseUrl);
    expect(grant.scopes).to.include.members(['api', 'refresh_token']);
    // The fake's sessions last two hours; without introspection we would assume 15 minutes.
    expect(Date.parse(grant.expiresAt) - Date.now()).to.be.above(60 * 60_000);
    const authorize = new URL(provider.oauth.authorizationUrl({ state: 'st', redirectUri, codeChallenge: 'abc' }));
    expect(authorize.searchParams.get('code_challenge')).to.equal('abc');
    expect(authorize.searchParams.get('state')).to.equal('st');
  });

  it('escapes SOQL values: quotes, backslashes and an injection attempt in a subject find only their own Task', async () => {
    const connection = await connect(server, provider);
    const [alice, bob] = server.data.seed(2, (i) => ({ LastName: `Person${i}` }));
    const tricky = [`O'Brien \\ "follow-up"\nline two`, `x' OR Subject != 'y`, `\\' OR WhoId != '`];
    for (const subject of tricky) {
      const first = await provider.client.logActivity(connection, {
        contactExternalId: alice!.externalId,
        subject,
        body: 'b',
        idempotencyKey: `k:${subject}`,
      });
      const again = await provider.client.logActivity(connection, {
        contactExternalId: alice!.externalId,
        subject,
        body: 'b',
        idempotencyKey: `k:${subject}`,
      });
      expect(again.reference).to.equal(first.reference);
    }
    expect(server.tasks.map((t) => t.Subject)).to.deep.equal(tricky);
    // Bob's task with the same key is his own: the lookup is bound to the contact.
    await provider.client.logActivity(connection, {
      contactExternalId: bob!.externalId,
      subject: tricky[1]!,
      body: 'b',
      idempotencyKey: `k:${tricky[1]}`,
    });
    expect(server.tasks).to.have.length(4);
    const deal = { contactExternalId: alice!.externalId, name: `Deal 'quoted' \\ back`, amount: null, stage: 'Qualification', idempotencyKey: 'd1' };
    const d1 = await provider.client.createDeal(connection, deal);
    expect((await provider.client.createDeal(connection, deal)).reference).to.equal(d1.reference);
    expect(server.opportunities.map((o) => [o.Name, o.StageName])).to.deep.equal([[deal.name, 'Qualification']]);
    expect(queries().some((q) => q.includes(`Subject = 'x\\' OR Subject != \\'y'`))).to.equal(true);
  });

  it('never puts a value that is not a Salesforce id into SOQL (webhook ids, page tokens)', async () => {
    const connection = await connect(server, provider);
    const [contact] = server.data.seed(1, () => ({ LastName: 'Only' }));
    const found = await provider.client.getContacts(connection, [contact!.externalId, `x') OR (Id != '`, "0035g0000' OR Id != '"], ['LastName']);
    expect(found.map((c) => c.externalId)).to.deep.equal([contact!.externalId]);
    const forged = Buffer.from(JSON.stringify({ v: 1, s: '2026-01-01T00:00:00Z', i: "x' OR Id != '" })).toString('base64url');
    expect(
      await failure(provider.client.listChangedContacts(connection, { since: null, pageToken: forged, pageSize: 5, fields: [] })),
    ).to.be.instanceOf(CrmRequestRejected);
    expect(
      await failure(provider.client.listChangedContacts(connection, { since: null, pageToken: null, pageSize: 5, fields: ['Name) FROM User --'] })),
    ).to.be.instanceOf(CrmRequestRejected);
  });

  it('a default stage is the org first open stage', async () => {
    const connection = await connect(server, provider);
    const [contact] = server.data.seed(1, () => ({ LastName: 'Stage' }));
    await provider.client.createDeal(connection, {
      contactExternalId: contact!.externalId,
      name: 'New',
      amount: 10,
      stage: null,
      idempotencyKey: 'x',
    });
    expect(server.opportunities[0]).to.include({ StageName: 'Prospecting', Amount: 10, ContactId: contact!.externalId });
  });

  it('a page larger than one SOQL batch follows nextRecordsUrl within the page', async () => {
    const connection = await connect(server, provider);
    server.data.seed(2_050, (i) => ({ LastName: `L${i}` }));
    const first = await provider.client.listChangedContacts(connection, { since: null, pageToken: null, pageSize: 2_000, fields: ['LastName'] });
    expect(first.items).to.have.length(2_000);
    expect(server.requests.some((r) => /\/query\/01g/.test(r.path))).to.equal(true);
    const second = await provider.client.listChangedContacts(connection, {
      since: null,
      pageToken: first.nextPageToken,
      pageSize: 2_000,
      fields: ['LastName'],
    });
    expect(second.items).to.have.length(50);
    expect(second.nextPageToken).to.equal(null);
  });

  it('a 429 is not retried by jsforce behind our back: one request, one CrmRateLimited', async () => {
    const connection = await connect(server, provider);
    server.rateLimitNext(5, 3);
    const before = server.requests.length;
    expect(await failure(provider.client.describeContactFields(connection))).to.be.instanceOf(CrmRateLimited);
    expect(server.requests.length - before).to.equal(1);
  });

  describe('the instance URL from a token answer goes through the outbound policy', () => {
    for (const address of ['10.0.0.1', '169.254.169.254', '[::1]']) {
      it(`a token answer naming ${address} as instance_url: the connect fails and that host is never called`, async () => {
        server.answerInstanceUrl = `http://${address}`;
        const refused = await failure(provider.oauth.exchangeCode(await consent(server, provider)));
        expect(refused).to.be.instanceOf(CrmRequestRejected);
        expect((refused as Error).message).to.match(/outbound policy/);
        const data = await failure(provider.client.describeContactFields({ accessToken: 't', instanceUrl: `http://${address}` }));
        expect(data).to.be.instanceOf(CrmRequestRejected);
      });
    }

    it('with loopback not allowed, the login host (operator-configured) is used but the instance on it is never called', async () => {
      const strict = build(server, []);
      closers.push(() => strict.outbound.close());
      const refused = await failure(strict.provider.oauth.exchangeCode(await consent(server, strict.provider)));
      expect(refused).to.be.instanceOf(CrmRequestRejected);
      expect(server.requests.map((r) => r.path)).to.include('/services/oauth2/token');
      expect(server.requests.filter((r) => r.path.startsWith('/services/data/') || r.path.startsWith('/id/'))).to.deep.equal([]);
    });

    it('a name that resolves to a private address is refused before connecting', async () => {
      const lookup: Resolve = (hostname) => Promise.resolve(hostname === 'acme.my.salesforce.test' ? [{ address: '10.0.0.7', family: 4 }] : []);
      const resolving = build(server, ['127.0.0.1/32'], lookup);
      closers.push(() => resolving.outbound.close());
      const port = new URL(server.baseUrl).port;
      const refused = await failure(
        resolving.provider.client.describeContactFields({ accessToken: 't', instanceUrl: `http://acme.my.salesforce.test:${port}` }),
      );
      expect(refused).to.be.instanceOf(CrmRequestRejected);
      expect((refused as Error).message).to.match(/10\.0\.0\.7/);
    });
  });
});
