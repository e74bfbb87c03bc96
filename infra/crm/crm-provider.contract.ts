import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { providers } from '../../domain/integrations/providers.ts';
import {
  CrmError,
  CrmGrantRevoked,
  CrmQuotaExhausted,
  CrmRateLimited,
  CrmUnauthorized,
  type CrmConnection,
  type CrmContact,
  type CrmDeletion,
  type CrmGrant,
  type CrmProvider,
  type CrmValue,
  type WebhookDelivery,
} from '../../projectors/integrations/ports.ts';
import type { FakeCrmServer } from '../../test/support/fake-crm/fake-crm.ts';

/**
 * Where our webhook endpoint lives in these tests. A fake whose provider signs the URL (HubSpot's v3
 * signature) signs `new URL(path, WEBHOOK_ORIGIN)`; a fake may also answer a full URL as `path`.
 */
export const WEBHOOK_ORIGIN = 'https://hooks.nexusflow.test';

/** Requests longer than this are what real front ends refuse with 414; the fakes should too. */
export const MAX_REQUEST_TARGET = 8_192;

export interface CrmProviderUnderTest {
  server: FakeCrmServer;
  provider: CrmProvider;
  /** A fresh connection through the provider's OAuth (authorize, exchange) against `server`. */
  connection(): Promise<CrmConnection>;
  teardown(): Promise<void>;
  /**
   * The provider signs a timestamp with its webhooks and refuses deliveries older (or newer) than this many
   * milliseconds; absent: the provider signs no timestamp.
   */
  webhookToleranceMs?: number;
  /**
   * Whether the provider's webhook credential covers the body (an HMAC over it). False where it is a shared
   * secret beside the body (Pipedrive's HTTP Basic credentials, Zoho's echoed channel token): a changed body
   * with the right credential is then genuine, and harmless, because a webhook only triggers a targeted fetch.
   */
  webhookSignsBody?: boolean;
  /** The credential travels inside the body (Zoho's echoed channel token), not in a header. */
  webhookCredentialInBody?: boolean;
  /** At most this many record ids per delivery (Pipedrive sends one delivery per record); absent: many. */
  webhookIdsPerDelivery?: number;
}

/**
 * The CRM port's contract: what every provider adapter (infra/crm/<provider>/) does the same, driven through
 * its real client library against the provider's fake ({@link FakeCrmServer}). Written against the port and
 * the fake's steering interface only; field names come from `server.standardFields`. Each test gets a fresh
 * fake (setup runs before every test).
 */
export function crmProviderContract(name: string, setup: () => Promise<CrmProviderUnderTest>) {
  describe(`CRM provider contract: ${name}`, function () {
    this.timeout(30_000);
    let ctx: CrmProviderUnderTest;
    let server: FakeCrmServer;
    let provider: CrmProvider;
    let f: FakeCrmServer['standardFields'];

    beforeEach(async () => {
      ctx = await setup();
      ({ server, provider } = ctx);
      f = server.standardFields;
    });
    afterEach(async () => {
      await ctx?.teardown();
    });

    const redirectUri = 'https://app.nexusflow.test/integrations/oauth/callback';

    async function connect(): Promise<{ grant: CrmGrant; verifier: string | null }> {
      const state = randomBytes(16).toString('base64url');
      const pkce = providers[provider.id].pkce;
      const verifier = pkce ? randomBytes(48).toString('base64url') : null;
      const codeChallenge = verifier ? createHash('sha256').update(verifier).digest('base64url') : null;
      const url = provider.oauth.authorizationUrl({ state, redirectUri, codeChallenge });
      const consent = await server.authorize(url);
      expect(consent.state).to.equal(state);
      expect(consent.redirectUri).to.equal(redirectUri);
      const grant = await provider.oauth.exchangeCode({ code: consent.code, redirectUri, codeVerifier: verifier });
      return { grant, verifier };
    }

    const asConnection = (grant: CrmGrant): CrmConnection => ({ accessToken: grant.accessToken, instanceUrl: grant.instanceUrl });

    /** A clock mark after everything the fake holds so far: what a test creates from here on is "since" it. */
    function mark(): string {
      server.data.now += 60_000;
      return new Date(server.data.now).toISOString();
    }

    function person(index: number, extra: Record<string, CrmValue> = {}): Record<string, CrmValue> {
      return { [f.firstName]: `First${index}`, [f.lastName]: `Last${index}`, [f.email]: `person${index}@example.com`, ...extra };
    }

    async function allChanged(connection: CrmConnection, since: string | null, pageSize: number, fields: string[]): Promise<CrmContact[]> {
      const items: CrmContact[] = [];
      let pageToken: string | null = null;
      for (let pages = 0; ; pages++) {
        expect(pages, 'pages never end').to.be.below(10_000);
        const page = await provider.client.listChangedContacts(connection, { since, pageToken, pageSize, fields });
        expect(page.items.length).to.be.at.most(pageSize);
        items.push(...page.items);
        if (page.nextPageToken === null) return items;
        expect(page.nextPageToken).to.be.a('string');
        pageToken = page.nextPageToken;
      }
    }

    function expectAscending(items: readonly CrmContact[]) {
      for (let i = 1; i < items.length; i++) {
        const a = items[i - 1]!;
        const b = items[i]!;
        const order = Date.parse(a.modifiedAt) - Date.parse(b.modifiedAt) || (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0);
        expect(order, `${a.externalId}@${a.modifiedAt} before ${b.externalId}@${b.modifiedAt}`).to.be.below(0);
      }
    }

    function expectShortRequests() {
      const long = server.requests.filter((r) => r.path.length > MAX_REQUEST_TARGET);
      expect(long.map((r) => `${r.method} ${r.path.slice(0, 80)}… (${r.path.length})`)).to.deep.equal([]);
    }

    describe('OAuth', () => {
      it('exchanges the code of a consent for a grant naming the account, its expiry and (where the provider has one) its API host', async () => {
        const { grant } = await connect();
        expect(grant.accessToken).to.be.a('string').that.is.not.empty;
        expect(grant.refreshToken).to.be.a('string').that.is.not.empty;
        expect(Date.parse(grant.expiresAt), grant.expiresAt).to.be.above(Date.now());
        expect(grant.accountId).to.be.a('string').that.is.not.empty;
        expect(grant.accountLabel).to.be.a('string').that.is.not.empty;
        expect(grant.scopes).to.be.an('array');
        if (providers[provider.id].instanceUrl === 'required') expect(grant.instanceUrl).to.match(/^https?:\/\//);
        else expect(grant.instanceUrl).to.equal(null);
        const fields = await provider.client.describeContactFields(asConnection(grant));
        expect(fields.map((field) => field.name)).to.include(f.email);
      });

      it('refuses a code exchange with a wrong PKCE verifier (where the provider takes PKCE) or a code used twice', async function () {
        const state = 'state-1';
        const pkce = providers[provider.id].pkce;
        const verifier = pkce ? randomBytes(48).toString('base64url') : null;
        const codeChallenge = verifier ? createHash('sha256').update(verifier).digest('base64url') : null;
        const consent = await server.authorize(provider.oauth.authorizationUrl({ state, redirectUri, codeChallenge }));
        if (pkce) {
          const wrong = randomBytes(48).toString('base64url');
          expect(await failure(provider.oauth.exchangeCode({ code: consent.code, redirectUri, codeVerifier: wrong }))).to.be.instanceOf(CrmError);
        }
        await provider.oauth.exchangeCode({ code: consent.code, redirectUri, codeVerifier: verifier });
        expect(await failure(provider.oauth.exchangeCode({ code: consent.code, redirectUri, codeVerifier: verifier }))).to.be.instanceOf(CrmError);
      });

      it('refreshes: a new access token that works, the same account', async () => {
        const { grant } = await connect();
        const refreshed = await provider.oauth.refresh(grant.refreshToken!, grant);
        expect(refreshed.accessToken).to.be.a('string').that.is.not.empty;
        expect(refreshed.accountId).to.equal(grant.accountId);
        expect(Date.parse(refreshed.expiresAt)).to.be.above(Date.now());
        await provider.client.describeContactFields(asConnection(refreshed));
      });

      it('an expired access token fails with CrmUnauthorized; a refresh brings the API back', async () => {
        const { grant } = await connect();
        server.expireAccessTokens();
        expect(await failure(provider.client.describeContactFields(asConnection(grant)))).to.be.instanceOf(CrmUnauthorized);
        const refreshed = await provider.oauth.refresh(grant.refreshToken!, grant);
        await provider.client.describeContactFields(asConnection(refreshed));
      });

      it('a revoked grant: refresh fails with CrmGrantRevoked (not retryable), API calls with CrmUnauthorized', async () => {
        const { grant } = await connect();
        server.revokeGrant();
        const refused = await failure(provider.oauth.refresh(grant.refreshToken!, grant));
        expect(refused).to.be.instanceOf(CrmGrantRevoked);
        expect((refused as CrmGrantRevoked).retryable).to.equal(false);
        expect(await failure(provider.client.describeContactFields(asConnection(grant)))).to.be.instanceOf(CrmUnauthorized);
      });

      it('revoke (on disconnect) makes the refresh token useless', async () => {
        const { grant } = await connect();
        await provider.oauth.revoke({ accessToken: grant.accessToken, refreshToken: grant.refreshToken, instanceUrl: grant.instanceUrl });
        expect(await failure(provider.oauth.refresh(grant.refreshToken!, grant))).to.be.instanceOf(CrmGrantRevoked);
      });
    });

    describe('describe', () => {
      it('lists the standard contact fields and the custom ones, with picklist values', async () => {
        server.data.customFields.push(
          { name: customName(server, 'Score'), label: 'Score', type: 'number' },
          { name: customName(server, 'Tier'), label: 'Tier', type: 'picklist', picklistValues: ['Gold', 'Silver'] },
        );
        const fields = await provider.client.describeContactFields(await ctx.connection());
        const byName = new Map(fields.map((field) => [field.name, field]));
        for (const standard of Object.values(f)) {
          expect(byName.get(standard), standard).to.exist;
          expect(byName.get(standard)!.custom, standard).to.equal(false);
        }
        const score = byName.get(customName(server, 'Score'));
        expect(score).to.include({ custom: true, type: 'number', label: 'Score' });
        const tier = byName.get(customName(server, 'Tier'));
        expect(tier).to.include({ custom: true, type: 'picklist' });
        expect(tier!.picklistValues).to.deep.equal(['Gold', 'Silver']);
        expect(byName.get(f.email)!.type).to.equal('email');
      });

      it('a contact with 500 custom properties: described, read (changed and targeted) and written without a too-long URL', async () => {
        const names = Array.from({ length: 500 }, (_, i) => customName(server, `Custom_Property_Number_${String(i).padStart(3, '0')}`));
        for (const [i, name] of names.entries()) server.data.customFields.push({ name, label: `Custom property ${i}`, type: 'string' });
        const connection = await ctx.connection();
        const described = await provider.client.describeContactFields(connection);
        expect(described.filter((field) => field.custom).map((field) => field.name)).to.include.members(names);

        const since = mark();
        const seeded = server.data.seed(30, (i) => person(i, Object.fromEntries(names.map((name, n) => [name, `v${i}-${n}`]))));
        const fields = [f.email, f.firstName, ...names];
        const changed = await allChanged(connection, since, 7, fields);
        expect(changed.map((c) => c.externalId)).to.deep.equal(seeded.map((r) => r.externalId));
        expect(changed[3]!.fields[names[499]!]).to.equal('v3-499');
        expect(changed[3]!.fields[f.email]).to.equal('person3@example.com');

        const targeted = await provider.client.getContacts(
          connection,
          seeded.slice(0, 5).map((r) => r.externalId),
          fields,
        );
        expect(targeted.map((c) => c.fields[names[250]!]).sort()).to.deep.equal(['v0-250', 'v1-250', 'v2-250', 'v3-250', 'v4-250']);

        const written = await provider.client.writeContacts(connection, [
          { externalId: seeded[0]!.externalId, fields: Object.fromEntries(names.map((name) => [name, 'rewritten'])) },
        ]);
        expect(written[0]!.ok, JSON.stringify(written[0])).to.equal(true);
        expect(server.data.records.get(seeded[0]!.externalId)!.fields[names[499]!]).to.equal('rewritten');
        expectShortRequests();
      });
    });

    describe('changed contacts', () => {
      it('pages in ascending (modifiedAt, externalId) order from `since` inclusive, with the asked fields', async () => {
        const connection = await ctx.connection();
        const since = mark();
        const sinceMs = Date.parse(since);
        server.data.create(person(-1), sinceMs - 1); // before the window
        const atBoundary = server.data.create(person(0), sinceMs);
        const later = server.data.seed(5, (i) => person(10 + i)); // stamped since+1 … since+5
        const tied = [1, 2, 3].map((i) => server.data.create(person(i), sinceMs + 100));
        const items = await allChanged(connection, since, 2, [f.email, f.firstName]);
        expect(items.map((c) => c.externalId)).to.deep.equal([atBoundary, ...later, ...tied.sort(byId)].map((r) => r.externalId));
        expectAscending(items);
        expect(Date.parse(items[0]!.modifiedAt)).to.equal(sinceMs);
        expect(items[0]!.fields).to.include({ [f.email]: 'person0@example.com', [f.firstName]: 'First0' });
        expect(items[0]!.modifiedAt).to.match(/(Z|[+-]\d{2}:\d{2})$/);
      });

      it('many pages: no duplicate and no gap, even with edits made between pages', async () => {
        const connection = await ctx.connection();
        const since = mark();
        const seeded = server.data.seed(57, (i) => person(i));
        // A burst stamped alike (stamps are coarse): the id breaks the tie across page boundaries.
        const burstAt = server.data.tick();
        const burst = Array.from({ length: 9 }, (_, i) => server.data.create(person(100 + i), burstAt));
        const seen: CrmContact[] = [];
        let pageToken: string | null = null;
        let pages = 0;
        do {
          const page = await provider.client.listChangedContacts(connection, { since, pageToken, pageSize: 5, fields: [f.email] });
          seen.push(...page.items);
          pageToken = page.nextPageToken;
          pages++;
          if (pages === 2) {
            server.data.edit(seeded[0]!.externalId, { [f.firstName]: 'Edited after it was read' });
            server.data.edit(seeded[40]!.externalId, { [f.firstName]: 'Edited before it was read' });
          }
        } while (pageToken !== null);
        expect(pages).to.be.above(10);
        const pairs = seen.map((c) => `${c.externalId}@${Date.parse(c.modifiedAt)}`);
        expect(new Set(pairs).size, 'no (id, stamp) twice').to.equal(pairs.length);
        const finalStamps = new Map([...seeded, ...burst].map((r) => [r.externalId, server.data.records.get(r.externalId)!.modifiedAt]));
        for (const [id, stamp] of finalStamps) expect(pairs, `${id} at its latest stamp`).to.include(`${id}@${stamp}`);
        expect(seen.filter((c) => c.externalId === seeded[40]!.externalId)).to.have.length(1);
      });

      it('null `since` reads every live contact', async () => {
        const connection = await ctx.connection();
        const made = server.data.seed(6, (i) => person(i));
        server.data.remove(made[2]!.externalId);
        const items = await allChanged(connection, null, 4, [f.email]);
        const ids = items.map((c) => c.externalId);
        expect(ids).to.include.members([made[0]!, made[5]!].map((r) => r.externalId));
        expect(ids).not.to.include(made[2]!.externalId);
      });
    });

    describe('deleted contacts', () => {
      it('lists deletions since an instant, paged, each once', async () => {
        const connection = await ctx.connection();
        const made = server.data.seed(12, (i) => person(i));
        server.data.remove(made[0]!.externalId); // before the window
        const since = mark();
        const removed = made.slice(1, 10);
        for (const record of removed) server.data.remove(record.externalId);
        const deletions: CrmDeletion[] = [];
        let pageToken: string | null = null;
        do {
          const page = await provider.client.listDeletedContacts(connection, { since, pageToken, pageSize: 4 });
          expect(page.items.length).to.be.at.most(4);
          deletions.push(...page.items);
          pageToken = page.nextPageToken;
        } while (pageToken !== null);
        expect(deletions.map((d) => d.externalId).sort()).to.deep.equal(removed.map((r) => r.externalId).sort());
        for (const deletion of deletions) expect(Date.parse(deletion.deletedAt)).to.be.at.least(Date.parse(since));
      });
    });

    describe('targeted fetch', () => {
      it('answers the contacts that exist among the ids, leaving out deleted and unknown ones', async () => {
        const connection = await ctx.connection();
        const made = server.data.seed(4, (i) => person(i));
        server.data.remove(made[1]!.externalId);
        const unknown = server.data.nextId();
        const found = await provider.client.getContacts(
          connection,
          [made[0]!.externalId, made[1]!.externalId, unknown, made[3]!.externalId],
          [f.email],
        );
        expect(found.map((c) => c.externalId).sort()).to.deep.equal([made[0]!.externalId, made[3]!.externalId].sort());
        const first = found.find((c) => c.externalId === made[0]!.externalId)!;
        expect(first.fields[f.email]).to.equal('person0@example.com');
        expect(Date.parse(first.modifiedAt)).to.equal(made[0]!.modifiedAt);
      });
    });

    describe('writes', () => {
      it('creates and updates in one batch and reports a rejected record without failing the others', async () => {
        const connection = await ctx.connection();
        const [existing, gone] = server.data.seed(2, (i) => person(i));
        server.data.remove(gone!.externalId);
        const since = mark();
        const results = await provider.client.writeContacts(connection, [
          { externalId: null, fields: person(7, { [f.company]: 'Acme' }) },
          { externalId: gone!.externalId, fields: { [f.firstName]: 'Nobody' } },
          { externalId: existing!.externalId, fields: { [f.firstName]: 'Renamed' } },
        ]);
        expect(results).to.have.length(3);
        const [created, rejected, updated] = results;
        expect(created, JSON.stringify(created)).to.include({ ok: true, created: true });
        expect(updated, JSON.stringify(updated)).to.include({ ok: true, created: false, externalId: existing!.externalId });
        expect(rejected!.ok).to.equal(false);
        if (!rejected!.ok) {
          expect(rejected!.externalId).to.equal(gone!.externalId);
          expect(rejected!.reason).to.be.a('string').that.is.not.empty;
        }
        if (!created!.ok || !updated!.ok) throw new Error('unreachable');
        const stored = server.data.records.get(created!.externalId)!;
        expect(stored.fields).to.include({ [f.email]: 'person7@example.com', [f.company]: 'Acme' });
        expect(server.data.records.get(existing!.externalId)!.fields[f.firstName]).to.equal('Renamed');
        // The stamp a write reports is the one a later read shows (how our own writes are recognised when echoed).
        const read = await allChanged(connection, since, 50, [f.firstName]);
        const stampOf = (id: string) => Date.parse(read.find((c) => c.externalId === id)!.modifiedAt);
        expect(Date.parse(created!.modifiedAt)).to.equal(stampOf(created!.externalId));
        expect(Date.parse(updated!.modifiedAt)).to.equal(stampOf(existing!.externalId));
        expect(results.length).to.be.at.most(provider.client.limits.maxWriteBatch);
      });

      it('deletes contacts; an id already gone counts as deleted', async () => {
        const connection = await ctx.connection();
        const made = server.data.seed(3, (i) => person(i));
        server.data.remove(made[2]!.externalId);
        await provider.client.deleteContacts(
          connection,
          made.map((r) => r.externalId),
        );
        expect(made.map((r) => server.data.records.get(r.externalId)?.deletedAt ?? 'gone')).not.to.include(null);
        expect(server.data.live().map((r) => r.externalId)).not.to.include.members([made[0]!.externalId]);
      });

      it('logs an activity once per idempotency key', async () => {
        const connection = await ctx.connection();
        const [contact] = server.data.seed(1, (i) => person(i));
        const activity = {
          contactExternalId: contact!.externalId,
          subject: 'Call',
          body: 'Talked about pricing',
          idempotencyKey: 'step-run-1:step-a',
        };
        const first = await provider.client.logActivity(connection, activity);
        const again = await provider.client.logActivity(connection, activity);
        expect(again.reference).to.equal(first.reference);
        expect(server.data.activities.filter((a) => a.contactExternalId === contact!.externalId)).to.have.length(1);
        expect(server.data.activities[0]).to.include({ subject: 'Call' });
        await provider.client.logActivity(connection, { ...activity, idempotencyKey: 'step-run-2:step-a' });
        expect(server.data.activities.filter((a) => a.contactExternalId === contact!.externalId)).to.have.length(2);
      });

      it('creates a deal once per idempotency key', async () => {
        const connection = await ctx.connection();
        const [contact] = server.data.seed(1, (i) => person(i));
        const deal = { contactExternalId: contact!.externalId, name: 'Acme renewal', amount: 1200, stage: null, idempotencyKey: 'step-run-1:step-b' };
        const first = await provider.client.createDeal(connection, deal);
        const again = await provider.client.createDeal(connection, deal);
        expect(again.reference).to.equal(first.reference);
        const deals = server.data.deals.filter((d) => d.contactExternalId === contact!.externalId);
        expect(deals).to.have.length(1);
        expect(deals[0]).to.include({ name: 'Acme renewal', amount: 1200 });
        await provider.client.createDeal(connection, { ...deal, idempotencyKey: 'step-run-2:step-b' });
        expect(server.data.deals.filter((d) => d.contactExternalId === contact!.externalId)).to.have.length(2);
      });
    });

    describe('limits', () => {
      it('429 with Retry-After fails with CrmRateLimited carrying the wait; the next call goes through', async () => {
        const connection = await ctx.connection();
        server.rateLimitNext(1, 7);
        const limited = await failure(provider.client.describeContactFields(connection));
        expect(limited).to.be.instanceOf(CrmRateLimited);
        expect((limited as CrmRateLimited).retryAfterMs).to.equal(7_000);
        await provider.client.describeContactFields(connection);
      });

      it('a rate limit on a write is reported, not retried blindly (nothing written twice)', async () => {
        const connection = await ctx.connection();
        const before = server.data.live().length;
        server.rateLimitNext(1, 2);
        expect(await failure(provider.client.writeContacts(connection, [{ externalId: null, fields: person(1) }]))).to.be.instanceOf(CrmRateLimited);
        expect(server.data.live().length).to.equal(before);
      });

      it('a spent daily quota fails with CrmQuotaExhausted until it is restored', async () => {
        const connection = await ctx.connection();
        server.exhaustQuota(true);
        const exhausted = await failure(
          provider.client.listChangedContacts(connection, { since: null, pageToken: null, pageSize: 10, fields: [f.email] }),
        );
        expect(exhausted).to.be.instanceOf(CrmQuotaExhausted);
        server.exhaustQuota(false);
        await provider.client.listChangedContacts(connection, { since: null, pageToken: null, pageSize: 10, fields: [f.email] });
      });
    });

    describe('webhooks', () => {
      const integrationSecret = 'whsec-integration-contract';
      function delivery(ids: string[], overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
        const sent = server.webhook(ids, { integrationSecret });
        return {
          method: sent.method,
          url: new URL(sent.path, WEBHOOK_ORIGIN).toString(),
          headers: Object.fromEntries(Object.entries(sent.headers).map(([name, value]) => [name.toLowerCase(), value])),
          rawBody: Buffer.from(sent.body),
          now: new Date(),
          ...overrides,
        };
      }
      const secrets = () => ({ clientSecret: server.clientSecret, integrationSecret });

      it('a genuine delivery verifies and names the ids (only ids)', () => {
        const made = server.data.seed(Math.min(2, ctx.webhookIdsPerDelivery ?? 2), (i) => person(i));
        const ids = made.map((r) => r.externalId);
        const notice = provider.webhooks.verify(delivery(ids), secrets());
        expect(notice).to.not.equal(null);
        expect(notice!.externalIds).to.have.members(ids);
        expect(Object.keys(notice!)).to.deep.equal(['externalIds']);
      });

      it('a wrong secret or no credential → null', () => {
        const [record] = server.data.seed(1, (i) => person(i));
        const genuine = delivery([record!.externalId]);
        expect(provider.webhooks.verify(genuine, { clientSecret: 'not-the-secret', integrationSecret: 'not-the-secret' })).to.equal(null);
        if (!ctx.webhookCredentialInBody) expect(provider.webhooks.verify({ ...genuine, headers: {} }, secrets())).to.equal(null);
      });

      it('a tampered body → null (where the provider signs the body)', function () {
        if (ctx.webhookSignsBody === false) this.skip(); // skipped: this provider's credential does not cover the body
        const [record] = server.data.seed(1, (i) => person(i));
        const genuine = delivery([record!.externalId]);
        const other = server.data.nextId();
        const tampered = Buffer.from(genuine.rawBody.toString('utf8').replace(record!.externalId, other));
        expect(tampered.equals(genuine.rawBody)).to.equal(false);
        expect(provider.webhooks.verify({ ...genuine, rawBody: tampered }, secrets())).to.equal(null);
        expect(provider.webhooks.verify({ ...genuine, rawBody: Buffer.concat([genuine.rawBody, Buffer.from(' ')]) }, secrets())).to.equal(null);
      });

      it('a stale or future-dated signature → null (where the provider signs a timestamp)', function () {
        const tolerance = ctx.webhookToleranceMs;
        if (tolerance === undefined) this.skip(); // skipped: this provider signs no timestamp
        const [record] = server.data.seed(1, (i) => person(i));
        const genuine = delivery([record!.externalId]);
        const at = (offsetMs: number) => provider.webhooks.verify({ ...genuine, now: new Date(genuine.now.getTime() + offsetMs) }, secrets());
        expect(at(tolerance! / 2)).to.not.equal(null);
        expect(at(tolerance! + 60_000)).to.equal(null);
        expect(at(-(tolerance! + 60_000))).to.equal(null);
      });
    });
  });
}

/** A custom field's API name in the provider's style (Salesforce's `__c` suffix; lower case where the provider uses it). */
function customName(server: FakeCrmServer, base: string): string {
  switch (server.provider) {
    case 'salesforce':
      return `${base}__c`;
    case 'hubspot':
      return base.toLowerCase();
    default:
      return base;
  }
}

function byId(a: { externalId: string }, b: { externalId: string }): number {
  return a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, the call succeeded');
}
