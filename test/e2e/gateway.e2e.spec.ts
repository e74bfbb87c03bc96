import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { OrganizationCommands } from '../../command-api/organizations/organization-commands.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { organizationServicesModule } from '../../command-api/organizations/module.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../support/events.ts';
import { openServices } from '../support/services.ts';
import { registerAccount, startTestSystem, uniqueEmail, type HttpClient, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

describe('Gateway duties: rate limits (real Redis)', function () {
  this.timeout(60_000);

  describe('per client IP', () => {
    let system: TestSystem;
    before(async () => {
      system = await startTestSystem(undefined, { RATE_LIMIT_PER_IP: '5', RATE_LIMIT_WINDOW_SECONDS: '60' });
    });
    after(async () => system?.stop());

    it('answers 429 with Retry-After and RateLimit headers past the limit, whatever X-Forwarded-For says; health is not limited', async () => {
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const reply = await system.http.get('/openapi.json');
        expect(reply.status).to.equal(200);
        expect(reply.headers.get('ratelimit-limit')).to.equal('5');
        expect(reply.headers.get('ratelimit-policy')).to.equal('5;w=60');
        remaining.push(Number(reply.headers.get('ratelimit-remaining')));
      }
      expect(remaining).to.deep.equal([4, 3, 2, 1, 0]);
      const refused = await system.http.get('/openapi.json', { headers: { 'X-Forwarded-For': '198.51.100.7' } });
      expectProblem(refused, 429);
      expect(refused.body.code).to.equal('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).to.be.within(1, 120);
      expect(refused.headers.get('ratelimit-remaining')).to.equal('0');
      expect(Number(refused.headers.get('ratelimit-reset'))).to.be.within(1, 60);
      expectProblem(await system.http.post('/auth/login', { email: 'a@b.co', password: 'x' }), 429);
      expect((await system.http.get('/health/ready')).status).to.equal(200);
    });
  });

  describe('per organization', () => {
    let system: TestSystem;
    before(async () => {
      system = await startTestSystem(undefined, { RATE_LIMIT_PER_TENANT: '8' });
    });
    after(async () => system?.stop());

    it("counts every caller of an organization together (users and API keys), and never another organization's calls", async () => {
      const busy = await registerAccount(system, 'Busy');
      const calm = await registerAccount(system, 'Calm');
      // Registration itself made authenticated calls: none. Creating the key is call 1.
      const key = await system.http.post('/api-keys', { name: 'job', scopes: ['contacts:read'] }, { token: busy.accessToken });
      expect(key.status).to.equal(201);
      const statuses: number[] = [];
      const described: string[] = [];
      for (let i = 0; i < 7; i++) {
        const reply = await system.http.get('/contacts', { token: i % 2 === 0 ? busy.accessToken : key.body.key });
        statuses.push(reply.status);
        described.push(`${reply.headers.get('ratelimit-limit')}:${reply.headers.get('ratelimit-remaining')}`);
      }
      expect(statuses).to.deep.equal(Array(7).fill(200));
      // The headers describe the tighter limit: the organization's 8, not the IP's (calls 2 to 8 of the 8).
      expect(described).to.deep.equal(['8:6', '8:5', '8:4', '8:3', '8:2', '8:1', '8:0']);
      const refused = await system.http.get('/contacts', { token: key.body.key });
      expectProblem(refused, 429);
      expect(refused.body.detail).to.include('organization');
      expect((await system.http.get('/contacts', { token: calm.accessToken })).status).to.equal(200);
    });
  });
});

describe('Gateway duties: idempotency, CORS, headers, suspension (real PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let http: HttpClient;
  before(async () => {
    system = await startTestSystem(undefined, { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com/' });
    http = system.http;
  });
  after(async () => system?.stop());

  describe('Idempotency-Key', () => {
    it('replays the first answer for the same key and body, and refuses the key with another body (422)', async () => {
      const account = await registerAccount(system, 'Retrier');
      const key = randomUUID();
      const body = { email: uniqueEmail('once') };
      const first = await http.post('/contacts', body, { token: account.accessToken, headers: { 'Idempotency-Key': key } });
      expect(first.status).to.equal(201);
      expect(first.headers.get('idempotent-replayed')).to.equal(null);
      const retry = await http.post('/contacts', body, { token: account.accessToken, headers: { 'Idempotency-Key': key } });
      expect(retry.status).to.equal(201);
      expect(retry.body).to.deep.equal(first.body);
      expect(retry.headers.get('idempotent-replayed')).to.equal('true');
      expect(retry.headers.get('location')).to.equal(first.headers.get('location'));
      expect(retry.headers.get('etag')).to.equal(first.headers.get('etag'));

      const other = await http.post(
        '/contacts',
        { email: uniqueEmail('other') },
        { token: account.accessToken, headers: { 'Idempotency-Key': key } },
      );
      expectProblem(other, 422, ['Idempotency-Key']);
      expect(other.body.code).to.equal('idempotency_key_reused');

      const list = await http.get(`/contacts?email=${encodeURIComponent(body.email)}`, {
        token: account.accessToken,
        headers: { 'X-Min-Position': first.body.position },
      });
      expect(list.body.data.map((c: { id: string }) => c.id)).to.deep.equal([first.body.id]);
    });

    it('runs a command once when retries race, and keeps keys apart per caller', async () => {
      const account = await registerAccount(system, 'Racer');
      const other = await registerAccount(system, 'Neighbour');
      const key = randomUUID();
      const body = { email: uniqueEmail('race') };
      const replies = await Promise.all(
        Array.from({ length: 6 }, () => http.post('/contacts', body, { token: account.accessToken, headers: { 'Idempotency-Key': key } })),
      );
      const created = replies.filter((r) => r.status === 201);
      expect(created.length).to.be.at.least(1);
      expect(new Set(created.map((r) => r.body.id)).size, 'one contact, whatever the interleaving').to.equal(1);
      for (const reply of replies.filter((r) => r.status !== 201)) {
        expectProblem(reply, 409);
        expect(reply.body.code).to.equal('idempotency_key_in_use');
        expect(reply.headers.get('retry-after')).to.equal('1');
      }
      const theirs = await http.post('/contacts', body, { token: other.accessToken, headers: { 'Idempotency-Key': key } });
      expect(theirs.status, 'the same key from another organization is another key').to.equal(201);
      expect(theirs.body.id).not.to.equal(created[0]!.body.id);
    });

    it('does not keep failures, so a fixed request can reuse the key; refuses a malformed key', async () => {
      const account = await registerAccount(system, 'Fixer');
      const key = randomUUID();
      expectProblem(await http.post('/contacts', { email: 'nope' }, { token: account.accessToken, headers: { 'Idempotency-Key': key } }), 400);
      expectProblem(await http.post('/contacts', { email: 'nope' }, { token: account.accessToken, headers: { 'Idempotency-Key': key } }), 400);
      expectProblem(
        await http.post('/contacts', { email: uniqueEmail('x') }, { token: account.accessToken, headers: { 'Idempotency-Key': 'x'.repeat(300) } }),
        400,
        ['Idempotency-Key'],
      );
    });

    it('keeps no sign-in answers: a retried refresh gets its pair from the reuse grace, not from a replay', async () => {
      const account = await registerAccount(system, 'Flaky network');
      const key = randomUUID();
      const first = await http.post('/auth/refresh', { refreshToken: account.refreshToken }, { headers: { 'Idempotency-Key': key } });
      const retried = await http.post('/auth/refresh', { refreshToken: account.refreshToken }, { headers: { 'Idempotency-Key': key } });
      expect(first.status).to.equal(200);
      expect(retried.status).to.equal(200);
      expect(retried.headers.get('idempotent-replayed'), 'Idempotency-Key is ignored on routes that hand out credentials').to.equal(null);
      expect(retried.body, 'the same pair: within the grace the token rotated out last gets its first answer').to.deep.equal(first.body);
      expect((await http.post('/auth/refresh', { refreshToken: first.body.refreshToken })).status, 'the session lives on').to.equal(200);
    });
  });

  describe('CORS and security headers', () => {
    it('answers preflights and reads for allowed origins only', async () => {
      const preflight = await http.request('OPTIONS', '/contacts', {
        headers: {
          Origin: 'https://app.example.com',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization, content-type, idempotency-key',
        },
      });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers.get('access-control-allow-origin')).to.equal('https://app.example.com');
      expect(preflight.headers.get('access-control-allow-headers')).to.include('Idempotency-Key').and.include('Authorization');
      expect(preflight.headers.get('access-control-allow-credentials')).to.equal(null);

      const read = await http.get('/openapi.json', { headers: { Origin: 'https://admin.example.com' } });
      expect(read.headers.get('access-control-allow-origin')).to.equal('https://admin.example.com');
      expect(read.headers.get('access-control-expose-headers')).to.include('RateLimit-Remaining');

      const evil = await http.request('OPTIONS', '/contacts', {
        headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
      });
      expect(evil.headers.get('access-control-allow-origin')).to.equal(null);
      const evilRead = await http.get('/openapi.json', { headers: { Origin: 'https://evil.example' } });
      expect(evilRead.headers.get('access-control-allow-origin')).to.equal(null);
      expect(evilRead.headers.get('vary')).to.include('Origin');
    });

    it('sends the security headers on every answer, errors included', async () => {
      for (const reply of [await http.get('/openapi.json'), await http.get('/nowhere'), await http.get('/health')]) {
        expect(reply.headers.get('x-content-type-options')).to.equal('nosniff');
        expect(reply.headers.get('x-frame-options')).to.equal('DENY');
        expect(reply.headers.get('content-security-policy')).to.include("default-src 'none'");
        expect(reply.headers.get('strict-transport-security')).to.include('max-age=');
        expect(reply.headers.get('referrer-policy')).to.equal('no-referrer');
      }
    });
  });

  describe('suspended organizations', () => {
    it("refuses a suspended organization's writes (403) but serves its reads, and other organizations go on", async () => {
      const suspended = await registerAccount(system, 'Unpaid');
      const fine = await registerAccount(system, 'Paid');
      const key = await http.post('/api-keys', { name: 'job', scopes: ['contacts:write', 'contacts:read'] }, { token: suspended.accessToken });
      const before = await http.post('/contacts', { email: uniqueEmail('before') }, { token: suspended.accessToken });
      expect(before.status).to.equal(201);

      // Staff act from another process (the console's), built from the same modules: the API process hears of
      // the suspension through PostgreSQL NOTIFY.
      const staffSide = openServices(system, [commandCoreModule, organizationServicesModule]);
      try {
        const organizations = await staffSide.get<OrganizationCommands>(TOKENS.OrganizationCommands);
        const staff = {
          tenantId: suspended.organizationId,
          actor: { type: 'staff' as const, id: 'staff-1' },
          correlationId: randomUUID(),
          causationId: randomUUID(),
          now: new Date(),
        };
        const outcome = await organizations.suspend(staff, suspended.organizationId, 'invoice overdue');

        const refused = await eventually(
          () => http.post('/contacts', { email: uniqueEmail('after') }, { token: suspended.accessToken }),
          (reply) => reply.status !== 201,
        );
        expectProblem(refused, 403);
        expect(refused.body.code).to.equal('organization_suspended');
        expectProblem(await http.post('/contacts', { email: uniqueEmail('after') }, { token: key.body.key }), 403);
        expectProblem(await http.patch(`/contacts/${before.body.id}`, { title: 'x' }, { token: suspended.accessToken }), 403);
        const read = await http.get(`/contacts/${before.body.id}`, {
          token: suspended.accessToken,
          headers: { 'X-Min-Position': before.body.position },
        });
        expect(read.status).to.equal(200);
        const org = await http.get('/organizations/current', { token: suspended.accessToken, headers: { 'X-Min-Position': outcome.position! } });
        expect(org.body.status).to.equal('suspended');
        expect((await http.post('/contacts', { email: uniqueEmail('fine') }, { token: fine.accessToken })).status).to.equal(201);
        const events = await system.process.platform.eventStore.readStream(`organization-${suspended.organizationId}`);
        expect(events[events.length - 1]!.metadata.actor).to.deep.equal({ type: 'staff', id: 'staff-1' });

        await organizations.reactivate({ ...staff, now: new Date() }, suspended.organizationId);
        const again = await eventually(
          () => http.post('/contacts', { email: uniqueEmail('again') }, { token: suspended.accessToken }),
          (reply) => reply.status !== 403,
        );
        expect(again.status).to.equal(201);
      } finally {
        await staffSide.close();
      }
      // Signing out is not a write the suspension blocks.
      expect((await http.post('/auth/logout', undefined, { token: suspended.accessToken })).status).to.equal(204);
    });
  });
});
