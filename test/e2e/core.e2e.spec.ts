import { expect } from 'chai';
import { SignJWT } from 'jose';
import {
  Mailbox,
  operatorHealth,
  registerAccount,
  startTestSystem,
  TEST_JWT_SECRET,
  type Account,
  type HttpClient,
  type Reply,
  type TestSystem,
} from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

const ada = { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', company: 'Analytical', tags: ['vip'] };

/** Reads a contact back once the read model includes the write that produced `position`. */
async function readAfter(http: HttpClient, account: Account, path: string, position: string) {
  return http.get(path, { token: account.accessToken, headers: { 'X-Min-Position': position } });
}

describe('Core, end to end over HTTP (real PostgreSQL)', function () {
  this.timeout(30_000);
  let system: TestSystem;
  let http: HttpClient;
  let acme: Account;
  let globex: Account;

  before(async () => {
    system = await startTestSystem();
    http = system.http;
    acme = await registerAccount(system, 'Acme');
    globex = await registerAccount(system, 'Globex');
  });
  after(async () => system?.stop());

  describe('auth', () => {
    it('registers an organization with its owner once the email is confirmed, and signs in', async () => {
      const reply = await http.post('/auth/register', {
        organizationName: 'Initech',
        name: 'Peter',
        email: 'peter@initech.test',
        password: 'correct horse battery',
      });
      expect(reply.status, JSON.stringify(reply.body)).to.equal(202);
      expect(
        (await http.post('/auth/login', { email: 'peter@initech.test', password: 'correct horse battery' })).status,
        'no account before confirming',
      ).to.equal(401);

      const confirmation = await system.mailbox.latest('peter@initech.test', 'signup-confirmation');
      const verified = await http.post('/auth/verify-email', { token: Mailbox.tokenIn(confirmation) });
      expect(verified.status, JSON.stringify(verified.body)).to.equal(201);
      expect(verified.body).to.include.keys('accessToken', 'refreshToken', 'organizationId', 'userId', 'position');
      const me = await http.get('/auth/me', {
        token: verified.body.accessToken,
        headers: { 'X-Min-Position': verified.body.position },
      });
      expect(me.status).to.equal(200);
      expect(me.body).to.deep.include({ id: verified.body.userId, email: 'peter@initech.test', role: 'owner', status: 'active', mfaEnabled: false });
      expect(me.body.organization).to.deep.equal({ id: verified.body.organizationId, name: 'Initech', status: 'active' });
      expect(me.body.permissions).to.include.members(['roles:manage', 'billing:manage', 'contacts:write']);
      expect(JSON.stringify(me.body)).not.to.match(/password/i);

      // The link works once.
      expectProblem(await http.post('/auth/verify-email', { token: Mailbox.tokenIn(confirmation) }), 401);
      const login = await http.post('/auth/login', { email: 'Peter@Initech.test', password: 'correct horse battery' });
      expect(login.status).to.equal(200);
      expect(login.body.userId).to.equal(verified.body.userId);
    });

    it('answers a registration with a taken email exactly like a new one, tells only the mailbox, and makes no second account', async () => {
      const body = (email: string) => ({ organizationName: 'Other', name: 'Other', email, password: 'correct horse battery' });
      const taken = await http.post('/auth/register', body(acme.email.toUpperCase()));
      const fresh = await http.post('/auth/register', body(`fresh-${Date.now().toString(36)}@example.com`));
      expect(taken.status).to.equal(202);
      expect(taken.body).to.deep.equal(fresh.body);
      const notice = await system.mailbox.latest(acme.email, 'signup-account-exists');
      expect(notice.text).to.include('already has an account');
      const confirmations = (await system.mailbox.all(acme.email)).filter((m) => m.template === 'signup-confirmation');
      expect(confirmations, 'only the confirmation of the original sign-up').to.have.length(1);
      expect((await http.post('/auth/login', { email: acme.email, password: acme.password })).body.userId).to.equal(acme.userId);
    });

    it('names every bad field of a registration', async () => {
      const reply = await http.post('/auth/register', { organizationName: '', email: 'not-an-email', password: 'short', extra: 1 });
      expectProblem(reply, 400, ['organizationName', 'name', 'email', 'password']);
    });

    it('answers a wrong password and an unknown email alike (401)', async () => {
      const wrong = await http.post('/auth/login', { email: acme.email, password: 'wrong password!' });
      const unknown = await http.post('/auth/login', { email: `nobody-${Date.now().toString(36)}@example.com`, password: 'wrong password!' });
      expectProblem(wrong, 401);
      expectProblem(unknown, 401);
      expect(wrong.body.detail).to.equal(unknown.body.detail);
    });

    it('requires a valid bearer token on every other route', async () => {
      expectProblem(await http.get('/contacts'), 401);
      expectProblem(await http.post('/contacts', ada), 401);
      expectProblem(await http.get('/contacts', { token: 'garbage' }), 401);
      expectProblem(await http.get('/contacts', { token: acme.refreshToken }), 401);

      const claims = { sub: acme.userId, org: acme.organizationId, organizationId: acme.organizationId };
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode('some-other-secret-0123456789abcdef0123'));
      expectProblem(await http.get('/contacts', { token: forged }), 401);

      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
        JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 }),
      ).toString('base64url')}.`;
      expectProblem(await http.get('/contacts', { token: unsigned }), 401);

      const expired = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      expectProblem(await http.get('/contacts', { token: expired }), 401);
    });

    it('lets a user read their organization', async () => {
      const reply = await http.get('/organizations/current', { token: acme.accessToken, headers: { 'X-Min-Position': acme.position } });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.include({ id: acme.organizationId, name: 'Acme', status: 'active' });
    });
  });

  describe('contacts', () => {
    it('creates a contact and reads it back with read-your-writes', async () => {
      const created = await http.post('/contacts', { ...ada, customFields: { score: 87, source: 'webinar' } }, { token: acme.accessToken });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      expect(created.body).to.have.keys('id', 'revision', 'position');
      expect(created.headers.get('etag')).to.equal(`"${created.body.revision}"`);
      expect(created.headers.get('location')).to.equal(`/contacts/${created.body.id}`);

      const read = await readAfter(http, acme, `/contacts/${created.body.id}`, created.body.position);
      expect(read.status).to.equal(200);
      expect(read.body).to.deep.include({
        id: created.body.id,
        email: 'ada@example.com',
        firstName: 'Ada',
        company: 'Analytical',
        tags: ['vip'],
        customFields: { score: 87, source: 'webinar' },
        revision: created.body.revision,
      });
      expect(read.headers.get('etag')).to.equal(`"${created.body.revision}"`);
    });

    it('updates fields, tags and untags, and deletes', async () => {
      const created = await http.post('/contacts', { email: 'grace@example.com', title: 'RADM', tags: ['navy'] }, { token: acme.accessToken });
      const id = created.body.id;
      const updated = await http.patch(
        `/contacts/${id}`,
        { title: null, company: 'Navy', customFields: { rank: 'admiral' } },
        { token: acme.accessToken },
      );
      expect(updated.status, JSON.stringify(updated.body)).to.equal(200);
      expect(updated.body.revision).to.be.greaterThan(created.body.revision);

      const tagged = await http.post(`/contacts/${id}/tags`, { add: ['cobol', 'navy'], remove: ['navy'] }, { token: acme.accessToken });
      expectProblem(tagged, 400, ['remove']);
      const retagged = await http.post(`/contacts/${id}/tags`, { add: ['cobol'], remove: ['navy'] }, { token: acme.accessToken });
      expect(retagged.status).to.equal(200);

      const read = await readAfter(http, acme, `/contacts/${id}`, retagged.body.position);
      expect(read.body).to.deep.include({ title: null, company: 'Navy', tags: ['cobol'], customFields: { rank: 'admiral' } });

      const deleted = await http.delete(`/contacts/${id}`, { token: acme.accessToken });
      expect(deleted.status).to.be.oneOf([200, 204]);
      const position = deleted.body?.position ?? retagged.body.position;
      expectProblem(await readAfter(http, acme, `/contacts/${id}`, position), 404);
      expectProblem(await http.patch(`/contacts/${id}`, { title: 'x' }, { token: acme.accessToken }), 404);
      expectProblem(await http.delete(`/contacts/${id}`, { token: acme.accessToken }), 404);

      // A deleted contact frees its email.
      const again = await http.post('/contacts', { email: 'grace@example.com' }, { token: acme.accessToken });
      expect(again.status).to.equal(201);
    });

    it('names each invalid field (400 problem+json) and writes nothing', async () => {
      const owner = await registerAccount(system, 'Validation');
      const reply = await http.post(
        '/contacts',
        { email: 'nope', firstName: 42, timezone: 'Mars/Olympus', customFields: { '1bad': 'x' }, tags: 'vip', unknown: true },
        { token: owner.accessToken },
      );
      expectProblem(reply, 400, ['email', 'firstName', 'timezone', 'tags', 'unknown']);
      expect(reply.body['invalid-params'].map((p: { name: string }) => p.name).some((n: string) => n.startsWith('customFields'))).to.equal(true);
      // A later write's position covers the refused one: once it is visible, only it is there.
      const marker = await http.post('/contacts', { email: 'marker@example.com' }, { token: owner.accessToken });
      const after = await http.get('/contacts?limit=100', { token: owner.accessToken, headers: { 'X-Min-Position': marker.body.position } });
      expect(after.body.data.map((c: { email: string }) => c.email)).to.deep.equal(['marker@example.com']);

      expectProblem(await http.patch(`/contacts/${await firstContactId()}`, {}, { token: acme.accessToken }), 400);
      expectProblem(
        await http.request('POST', '/contacts', { token: acme.accessToken, rawBody: '{"email":', headers: { 'Content-Type': 'application/json' } }),
        400,
        ['body'],
      );
    });

    async function firstContactId(): Promise<string> {
      const list = await http.get('/contacts?limit=1', { token: acme.accessToken });
      return list.body.data[0].id;
    }

    it('refuses a body that is not JSON (415) or too large (413)', async () => {
      expectProblem(
        await http.request('POST', '/contacts', {
          token: acme.accessToken,
          rawBody: 'email=a@b.c',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }),
        415,
      );
      // The default limit is 256 KiB.
      const huge = { email: 'big@example.com', firstName: 'x'.repeat(300 * 1024) };
      expectProblem(await http.post('/contacts', huge, { token: acme.accessToken }), 413);
    });

    it('keeps emails unique per organization (409, naming email), also under concurrent creates', async () => {
      const first = await http.post('/contacts', { email: 'dup@example.com' }, { token: acme.accessToken });
      expect(first.status).to.equal(201);
      expectProblem(await http.post('/contacts', { email: 'DUP@example.com' }, { token: acme.accessToken }), 409, ['email']);
      // Another organization may use the same email.
      expect((await http.post('/contacts', { email: 'dup@example.com' }, { token: globex.accessToken })).status).to.equal(201);

      const racers = await Promise.all(
        Array.from({ length: 10 }, () => http.post('/contacts', { email: 'race@example.com' }, { token: acme.accessToken })),
      );
      expect(racers.map((r) => r.status).sort()).to.deep.equal([201, ...Array(9).fill(409)]);
      const winner = racers.find((r) => r.status === 201)!;
      const list = await http.get('/contacts?email=race@example.com', {
        token: acme.accessToken,
        headers: { 'X-Min-Position': winner.body.position },
      });
      expect(list.body.data.map((c: { id: string }) => c.id)).to.deep.equal([winner.body.id]);
    });

    it('answers a stale If-Match with 409 and the current revision, and applies a fresh one', async () => {
      const created = await http.post('/contacts', { email: 'etag@example.com' }, { token: acme.accessToken });
      const id = created.body.id;
      const etag = created.headers.get('etag')!;
      const first = await http.patch(`/contacts/${id}`, { title: 'CEO' }, { token: acme.accessToken, headers: { 'If-Match': etag } });
      expect(first.status).to.equal(200);
      const stale = await http.patch(`/contacts/${id}`, { title: 'CTO' }, { token: acme.accessToken, headers: { 'If-Match': etag } });
      expectProblem(stale, 409);
      expect(stale.body.currentRevision).to.equal(first.body.revision);
      expectProblem(await http.patch(`/contacts/${id}`, { title: 'CTO' }, { token: acme.accessToken, headers: { 'If-Match': 'yesterday' } }), 400, [
        'If-Match',
      ]);
      const fresh = await http.patch(
        `/contacts/${id}`,
        { title: 'CTO' },
        { token: acme.accessToken, headers: { 'If-Match': first.headers.get('etag')! } },
      );
      expect(fresh.status).to.equal(200);
      const read = await readAfter(http, acme, `/contacts/${id}`, fresh.body.position);
      expect(read.body.title).to.equal('CTO');
    });

    it("answers 404 for unknown ids, malformed ids and another tenant's contacts", async () => {
      const created = await http.post('/contacts', { email: 'secret@globex.test' }, { token: globex.accessToken });
      const id = created.body.id;
      await readAfter(http, globex, `/contacts/${id}`, created.body.position);
      expectProblem(await readAfter(http, acme, `/contacts/${id}`, created.body.position), 404);
      expectProblem(await http.patch(`/contacts/${id}`, { title: 'x' }, { token: acme.accessToken }), 404);
      expectProblem(await http.post(`/contacts/${id}/tags`, { add: ['x'] }, { token: acme.accessToken }), 404);
      expectProblem(await http.delete(`/contacts/${id}`, { token: acme.accessToken }), 404);
      expectProblem(await http.get('/contacts/00000000-0000-4000-8000-000000000000', { token: acme.accessToken }), 404);
      expectProblem(await http.get('/contacts/not-a-uuid', { token: acme.accessToken }), 404);
      const list = await http.get('/contacts?limit=100', { token: acme.accessToken, headers: { 'X-Min-Position': created.body.position } });
      expect(list.body.data.map((c: { email: string }) => c.email)).not.to.include('secret@globex.test');
      const stillThere = await http.get(`/contacts/${id}`, { token: globex.accessToken });
      expect(stillThere.status).to.equal(200);
    });

    it('lists with tag and updated-since filters, sorts, and pages with a cursor', async () => {
      const owner = await registerAccount(system, 'Lister');
      let position = '';
      for (let i = 0; i < 7; i++) {
        const reply = await http.post(
          '/contacts',
          { email: `p${i}@example.com`, lastName: `Name${i}`, tags: i % 2 === 0 ? ['even'] : ['odd'] },
          { token: owner.accessToken },
        );
        position = reply.body.position;
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `/contacts?limit=3&sort=email${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: Reply = await http.get(query, { token: owner.accessToken, headers: { 'X-Min-Position': position } });
        expect(page.status).to.equal(200);
        expect(page.body.data.length).to.be.at.most(3);
        seen.push(...page.body.data.map((c: { email: string }) => c.email));
        cursor = page.body.page.nextCursor;
        expect(page.body.page.hasMore).to.equal(cursor !== null);
      } while (cursor);
      expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6].map((i) => `p${i}@example.com`));

      const even = await http.get('/contacts?tag=even&sort=-email', { token: owner.accessToken });
      expect(even.body.data.map((c: { email: string }) => c.email)).to.deep.equal([
        'p6@example.com',
        'p4@example.com',
        'p2@example.com',
        'p0@example.com',
      ]);

      const future = await http.get(`/contacts?updatedSince=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, {
        token: owner.accessToken,
      });
      expect(future.body.data).to.deep.equal([]);
      const past = await http.get('/contacts?updatedSince=2020-01-01T00:00:00Z', { token: owner.accessToken });
      expect(past.body.data).to.have.length(7);

      // A blank tag, alone or repeated, names the field (it was a 500: a malformed array literal).
      expectProblem(await http.get('/contacts?tag=%20', { token: owner.accessToken }), 400, ['tag']);
      expectProblem(await http.get('/contacts?tag=even&tag=%20', { token: owner.accessToken }), 400, ['tag.1']);
      expectProblem(await http.get('/contacts?limit=0&sort=shoe-size&updatedSince=yesterday', { token: owner.accessToken }), 400, [
        'limit',
        'sort',
        'updatedSince',
      ]);
      expectProblem(await http.get('/contacts?cursor=bogus', { token: owner.accessToken }), 400, ['cursor']);
    });

    it('records who did what: every event carries tenant, actor, correlation and causation ids and a time', async () => {
      const created = await http.post(
        '/contacts',
        { email: 'meta@example.com' },
        { token: acme.accessToken, headers: { 'X-Correlation-Id': 'corr-e2e-1' } },
      );
      const events = await system.process.platform.eventStore.readStream(`contact-${created.body.id}`);
      expect(events).to.have.length(1);
      const [event] = events;
      expect(event!.type).to.equal('ContactCreated');
      expect(event!.version).to.equal(1);
      expect(event!.metadata).to.include({ tenantId: acme.organizationId, correlationId: 'corr-e2e-1' });
      expect(event!.metadata.actor).to.deep.equal({ type: 'user', id: acme.userId });
      expect(event!.metadata.causationId).to.be.a('string').and.not.equal('');
      expect(Date.parse(event!.metadata.occurredAt)).to.be.closeTo(Date.now(), 60_000);
    });
  });

  describe('read-your-writes and operations', () => {
    it('refuses a malformed X-Min-Position (400 naming the header)', async () => {
      expectProblem(await http.get('/contacts', { token: acme.accessToken, headers: { 'X-Min-Position': 'soon' } }), 400, ['X-Min-Position']);
    });

    it('answers health on /health, /health/live and /health/ready with the status only; details need the operator token', async () => {
      for (const path of ['/health', '/health/live', '/health/ready']) {
        const reply = await http.get(path);
        expect(reply.status, path).to.equal(200);
        expect(reply.body, path).to.deep.equal({ status: 'ok', service: 'nexusflow' });
      }
      expect((await http.get('/health/ready?verbose')).status).to.equal(401);
      expect(
        (await http.get('/health/ready?verbose', { headers: { Authorization: 'Bearer not-the-operator-token-but-long-enough' } })).status,
      ).to.equal(401);
      const verbose = await http.get(operatorHealth.path, { headers: operatorHealth.headers });
      expect(verbose.status).to.equal(200);
      expect(verbose.body.checks).to.include.keys('database', 'eventStore', 'projections');
      expect(verbose.body.checks.projections.detail.contacts).to.include.keys('position', 'lag', 'parked', 'recentlyParked', 'stalled');
    });

    it('describes every route in /openapi.json', async () => {
      const reply = await http.get('/openapi.json');
      expect(reply.status).to.equal(200);
      const operations = Object.entries(reply.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      );
      // Every endpoint of the Auth Service in the product documents, and the ones that complete their flows.
      expect(operations).to.include.members([
        'POST /auth/login',
        'POST /auth/register',
        'POST /auth/logout',
        'POST /auth/refresh',
        'POST /auth/forgot-password',
        'POST /auth/reset-password',
        'GET /auth/me',
        'POST /auth/mfa/enable',
        'POST /auth/mfa/verify',
        'POST /auth/verify-email',
        'POST /auth/mfa/disable',
        'POST /auth/change-password',
        'GET /organizations/current',
        'POST /contacts',
        'GET /contacts',
        'GET /contacts/{id}',
        'PATCH /contacts/{id}',
        'DELETE /contacts/{id}',
        'POST /contacts/{id}/tags',
      ]);
    });

    it('answers 404 problem+json for an unknown route', async () => {
      expectProblem(await http.get('/nowhere', { token: acme.accessToken }), 404);
    });
  });
});

describe('Read-your-writes without projectors running (real PostgreSQL)', function () {
  this.timeout(30_000);
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ commands: true, queries: true, projectors: false }, { READ_YOUR_WRITES_TIMEOUT_MS: '300' });
  });
  after(async () => system?.stop());

  it('waits a bounded time, then answers 503 with Retry-After rather than stale data', async () => {
    const account = await registerAccount(system, 'Stalled');
    const created = await system.http.post('/contacts', { email: 'later@example.com' }, { token: account.accessToken });
    expect(created.status).to.equal(201);
    const reply = await system.http.get(`/contacts/${created.body.id}`, {
      token: account.accessToken,
      headers: { 'X-Min-Position': created.body.position },
    });
    expectProblem(reply, 503);
    expect(reply.headers.get('retry-after')).to.match(/^\d+$/);
    // It waited for the read models (the configured bound), not refused at once.
    expect(reply.body).to.include({ code: 'read_models_behind' });
    expect(reply.body.detail).to.match(/within 300 ms/);
  });
});
