import { createHmac } from 'node:crypto';
import { Client, Signature } from '@hubspot/api-client';
import { expect } from 'chai';
import {
  CrmRateLimited,
  CrmUnavailable,
  type ContactWrite,
  type CrmConnection,
  type CrmContact,
  type CrmProvider,
} from '../../../projectors/integrations/ports.ts';
import { startFakeHubSpot, type FakeHubSpot } from '../../../test/support/fake-crm/hubspot.ts';
import { AddressPolicy } from '../../outbound/address-policy.ts';
import { GuardedHttpClient } from '../../outbound/guarded-http.ts';
import { crmProviderContract } from '../crm-provider.contract.ts';
import { createHubSpotProvider } from './hubspot-provider.ts';
import { HUBSPOT_WEBHOOK_TOLERANCE_MS } from './webhooks.ts';

interface HubSpotUnderTest {
  server: FakeHubSpot;
  provider: CrmProvider;
  connection(): Promise<CrmConnection>;
  teardown(): Promise<void>;
  webhookToleranceMs: number;
}

async function hubSpotUnderTest(baseUrl?: string): Promise<HubSpotUnderTest> {
  const server = await startFakeHubSpot();
  // The tests' outbound policy opens loopback, as OUTBOUND_ALLOW_CIDRS=127.0.0.1/32 would.
  const outbound = new GuardedHttpClient({ policy: new AddressPolicy(['127.0.0.1/32']) });
  const provider = createHubSpotProvider({
    clientId: server.clientId,
    clientSecret: server.clientSecret,
    baseUrl: baseUrl ?? server.env.HUBSPOT_API_URL!,
    oauthUrl: server.env.HUBSPOT_OAUTH_URL!,
    outbound,
    timeoutMs: 10_000,
  });
  return {
    server,
    provider,
    webhookToleranceMs: HUBSPOT_WEBHOOK_TOLERANCE_MS,
    async connection() {
      const redirectUri = 'https://app.nexusflow.test/integrations/oauth/callback';
      const consent = await server.authorize(provider.oauth.authorizationUrl({ state: 'state', redirectUri, codeChallenge: null }));
      const grant = await provider.oauth.exchangeCode({ code: consent.code, redirectUri, codeVerifier: null });
      return { accessToken: grant.accessToken, instanceUrl: grant.instanceUrl };
    },
    async teardown() {
      await server.close();
      await outbound.close();
    },
  };
}

crmProviderContract('HubSpot', hubSpotUnderTest);

describe('HubSpot adapter (against the loopback HubSpot)', function () {
  this.timeout(60_000);
  let ctx: HubSpotUnderTest;
  let server: FakeHubSpot;
  let provider: CrmProvider;
  let connection: CrmConnection;

  beforeEach(async () => {
    ctx = await hubSpotUnderTest();
    ({ server, provider } = ctx);
    connection = await ctx.connection();
  });
  afterEach(async () => {
    await ctx?.teardown();
  });

  async function readAll(since: string | null, pageSize: number): Promise<CrmContact[]> {
    const items: CrmContact[] = [];
    let pageToken: string | null = null;
    do {
      const page = await provider.client.listChangedContacts(connection, { since, pageToken, pageSize, fields: ['email'] });
      items.push(...page.items);
      pageToken = page.nextPageToken;
    } while (pageToken !== null);
    return items;
  }

  describe('webhook signature v3', () => {
    // HubSpot's documented algorithm, written out here rather than taken from the adapter: base64 of
    // HMAC-SHA256 under the client secret over method + URI (escapes like %3A decoded) + body + timestamp.
    const clientSecret = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
    const timestamp = '1767225600000';
    const body =
      '[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1767225599000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,"propertyName":"email","propertyValue":"a@b.co"},{"subscriptionType":"deal.creation","objectId":999}]';
    const delivered = 'https://hooks.nexusflow.test/integrations/i-1/webhook?source=hubspot%3Aapp';
    const signedUri = 'https://hooks.nexusflow.test/integrations/i-1/webhook?source=hubspot:app';
    const vector = createHmac('sha256', clientSecret).update(`POST${signedUri}${body}${timestamp}`).digest('base64');
    const delivery = (overrides: Record<string, unknown> = {}) => ({
      method: 'POST',
      url: delivered,
      headers: { 'x-hubspot-signature-v3': vector, 'x-hubspot-request-timestamp': timestamp, 'content-type': 'application/json' },
      rawBody: Buffer.from(body),
      now: new Date(Number(timestamp) + 1_000),
      ...overrides,
    });
    const secrets = { clientSecret, integrationSecret: 'unused by HubSpot' };

    it('accepts the known vector and names only the contact ids', () => {
      // The vector is also what HubSpot's own client library computes (without the URI decoding it leaves to the caller).
      expect(
        Signature.getSignature('POST', 'v3', { signature: '', clientSecret, requestBody: body, url: signedUri, timestamp: Number(timestamp) }),
      ).to.equal(vector);
      expect(provider.webhooks.verify(delivery(), secrets)).to.deep.equal({ externalIds: ['123'] });
    });

    it('refuses another method, URL, body, secret or timestamp, an old or future timestamp, and the unsigned v1 form', () => {
      expect(provider.webhooks.verify(delivery({ method: 'PUT' }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ url: delivered.replace('i-1', 'i-2') }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ rawBody: Buffer.from(body.replace('123', '124')) }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery(), { ...secrets, clientSecret: 'other' })).to.equal(null);
      const retimed = { 'x-hubspot-signature-v3': vector, 'x-hubspot-request-timestamp': String(Number(timestamp) + 1) };
      expect(provider.webhooks.verify(delivery({ headers: retimed }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ now: new Date(Number(timestamp) + 5 * 60_000 + 1) }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ now: new Date(Number(timestamp) - 5 * 60_000 - 1) }), secrets)).to.equal(null);
      expect(provider.webhooks.verify(delivery({ now: new Date(Number(timestamp) + 5 * 60_000) }), secrets)).to.not.equal(null);
      const v1 = createHmac('sha256', clientSecret)
        .update(clientSecret + body)
        .digest('hex');
      expect(provider.webhooks.verify(delivery({ headers: { 'x-hubspot-signature': v1, 'x-hubspot-signature-version': 'v1' } }), secrets)).to.equal(
        null,
      );
    });
  });

  describe("search's 10,000-result cap", () => {
    it('pages through more than 10,000 changed contacts by moving the filter, never by an offset past the cap', async () => {
      const since = new Date(server.data.now + 1).toISOString();
      const made = server.data.seed(10_250, (i) => ({ email: `bulk${i}@example.com` }));
      const items = await readAll(since, 100);
      expect(items.map((c) => c.externalId)).to.deep.equal(made.map((r) => r.externalId));
      const offsets = server.searches.map((s) => Number(s.after ?? 0));
      // Distinct stamps: every page is a fresh query from the last stamp answered, skipping only the one record at it.
      expect(Math.max(...offsets)).to.equal(1);
      expect(server.searches.every((s) => JSON.stringify(s.filterGroups).includes('lastmodifieddate'))).to.equal(true);
    });

    it('more than 10,000 contacts in one millisecond: read through that millisecond in id order, nothing missed', async () => {
      const at = server.data.tick();
      const tied = Array.from({ length: 10_050 }, (_, i) => server.data.create({ email: `tie${i}@example.com` }, at));
      const after = server.data.seed(3, (i) => ({ email: `after${i}@example.com` }));
      const items = await readAll(new Date(at).toISOString(), 100);
      const ids = new Set(items.map((c) => c.externalId));
      for (const record of [...tied, ...after]) expect(ids.has(record.externalId), record.externalId).to.equal(true);
      // Once the millisecond is read by id, the ones answered before come again (same id and stamp: the caller's dedupe drops them).
      expect(items.length).to.be.below(2 * tied.length + after.length);
      expect(items.slice(-3).map((c) => c.externalId)).to.deep.equal(after.map((r) => r.externalId));
      expect(server.searches.every((s) => Number(s.after ?? 0) + (s.limit ?? 10) <= 10_000)).to.equal(true);
    });
  });

  describe('batch writes', () => {
    const writes = (existing: string, gone: string): ContactWrite[] => [
      { externalId: null, fields: { email: 'new@example.com', firstname: 'New' } },
      { externalId: null, fields: { email: 'bad@example.com', lifecyclestage: 'not-a-stage' } },
      { externalId: null, fields: { email: 'taken@example.com' } },
      { externalId: gone, fields: { firstname: 'Ghost' } },
      { externalId: existing, fields: { firstname: 'Renamed', createdate: '2020-01-01' } },
      { externalId: existing, fields: { lastname: 'Kept' } },
    ];

    async function seed() {
      const [existing, gone] = server.data.seed(3, (i) => ({ email: i === 2 ? 'taken@example.com' : `seed${i}@example.com` }));
      server.data.remove(gone!.externalId);
      return { existing: existing!.externalId, gone: gone!.externalId };
    }

    function expectPerRecord(results: Awaited<ReturnType<CrmProvider['client']['writeContacts']>>, existing: string, gone: string) {
      expect(results.map((r) => r.ok)).to.deep.equal([true, false, false, false, false, true]);
      const reasons = results.map((r) => (r.ok ? '' : r.reason));
      expect(reasons[1]).to.match(/INVALID_OPTION/);
      expect(reasons[2]).to.match(/already exists/);
      expect(reasons[3]).to.match(/not found/i);
      expect(reasons[4]).to.match(/READ_ONLY_VALUE/);
      expect(results[3]).to.include({ externalId: gone });
      expect(results[5]).to.include({ externalId: existing, created: false });
      const created = results[0]!;
      if (!created.ok) throw new Error('unreachable');
      expect(server.data.records.get(created.externalId)!.fields).to.include({ email: 'new@example.com', firstname: 'New' });
      expect(server.data.records.get(existing)!.fields).to.include({ lastname: 'Kept' });
      expect(server.data.records.get(existing)!.fields.firstname).to.equal(undefined);
    }

    it('207 multi-status: each refused record is reported with HubSpot’s reason, the rest written, in one call per kind', async () => {
      const { existing, gone } = await seed();
      const results = await provider.client.writeContacts(connection, writes(existing, gone));
      expectPerRecord(results, existing, gone);
      expect(server.batches.map((b) => b.path)).to.deep.equal(['/crm/v3/objects/contacts/batch/create', '/crm/v3/objects/contacts/batch/update']);
      // Inputs carry their trace id (HubSpot does not promise results in input order).
      const createBody = server.batches[0]!.body as { inputs: { objectWriteTraceId?: string }[] };
      expect(createBody.inputs.map((input) => input.objectWriteTraceId)).to.deep.equal(['0', '1', '2']);
    });

    it('a batch HubSpot refuses whole for one record is split until the bad records stand alone', async () => {
      server.batchErrors = 'whole-batch';
      const { existing, gone } = await seed();
      const results = await provider.client.writeContacts(connection, writes(existing, gone));
      expectPerRecord(results, existing, gone);
      expect(server.batches.length).to.be.above(2);
    });
  });

  describe('errors and retries', () => {
    it("a 429 is answered at once even when another Client in the process turned the library's retries on", async () => {
      // The library keeps its retry decorator in a process-wide singleton that every new Client overwrites.
      const other = new Client({ accessToken: 'elsewhere', numberOfApiCallRetries: 6 });
      expect(other).to.exist;
      server.rateLimitNext(1, 3);
      const before = server.requests.length;
      const err = await provider.client.describeContactFields(connection).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CrmRateLimited);
      expect((err as CrmRateLimited).retryAfterMs).to.equal(3_000);
      expect(server.requests.length - before).to.equal(1);
    });

    it('a 5xx is CrmUnavailable, answered at once (the library does not retry it behind our back)', async () => {
      server.failNext(1, 503);
      const before = server.requests.length;
      const err = await provider.client.getContacts(connection, ['1000000000001'], ['email']).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CrmUnavailable);
      expect(server.requests.length - before).to.equal(1);
    });

    it('no answer at all (connection refused) is CrmUnavailable', async () => {
      const unreachable = await hubSpotUnderTest('http://127.0.0.1:9');
      try {
        const err = await unreachable.provider.client.describeContactFields(connection).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(CrmUnavailable);
      } finally {
        await unreachable.teardown();
      }
    });
  });

  describe('OAuth and crm_action details', () => {
    it('asks for consent at HUBSPOT_OAUTH_URL without PKCE, with the contacts and deals scopes', () => {
      const url = new URL(provider.oauth.authorizationUrl({ state: 's', redirectUri: 'https://app.nexusflow.test/cb', codeChallenge: 'ignored' }));
      expect(`${url.origin}${url.pathname}`).to.equal(`${server.baseUrl}/oauth/authorize`);
      expect(url.searchParams.has('code_challenge')).to.equal(false);
      expect(url.searchParams.get('scope')!.split(' ')).to.include.members([
        'crm.objects.contacts.read',
        'crm.objects.contacts.write',
        'crm.objects.deals.write',
      ]);
    });

    it('names the account by hub id and domain', async () => {
      const consent = await server.authorize(
        provider.oauth.authorizationUrl({ state: 's', redirectUri: 'https://app.nexusflow.test/cb', codeChallenge: null }),
      );
      const grant = await provider.oauth.exchangeCode({ code: consent.code, redirectUri: 'https://app.nexusflow.test/cb', codeVerifier: null });
      expect(grant).to.include({ accountId: '24681357', accountLabel: 'nexusflow-test.hubspot.com', instanceUrl: null });
      expect(grant.scopes).to.include('crm.objects.contacts.read');
    });

    it('a deal stage given by label is sent as its id; the key property is made once, unique on deals', async () => {
      const [contact] = server.data.seed(1, () => ({ email: 'deal@example.com' }));
      await provider.client.createDeal(connection, {
        contactExternalId: contact!.externalId,
        name: 'Won',
        amount: null,
        stage: 'Closed Won',
        idempotencyKey: 'k1',
      });
      await provider.client.createDeal(connection, {
        contactExternalId: contact!.externalId,
        name: 'Next',
        amount: 5,
        stage: 'qualifiedtobuy',
        idempotencyKey: 'k2',
      });
      expect(server.data.deals.map((d) => [d.stage, d.amount, d.marker])).to.deep.equal([
        ['closedwon', null, 'k1'],
        ['qualifiedtobuy', 5, 'k2'],
      ]);
      expect(server.createdProperties.get('deals')!.map((p) => [p.name, p.hasUniqueValue])).to.deep.equal([['nexusflow_idempotency_key', true]]);
    });
  });
});
