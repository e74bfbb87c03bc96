import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, type HttpClient, type Reply, type TestSystem } from '../support/http.ts';

describe('Sessions: rotating refresh tokens, theft detection, logout (real PostgreSQL and Redis)', function () {
  this.timeout(30_000);
  let system: TestSystem;
  let http: HttpClient;
  before(async () => {
    // A short reuse grace, so that reuse past it (theft) is seen soon.
    system = await startTestSystem(undefined, { REFRESH_REUSE_GRACE_SECONDS: '1' });
    http = system.http;
  });
  after(async () => system?.stop());

  /**
   * Presents a rotated-out refresh token until the reuse grace is over (within it, it gets its first answer
   * again): the first answer that is not a 200.
   */
  async function reusedPastGrace(refreshToken: string): Promise<Reply> {
    return eventually(
      () => http.post('/auth/refresh', { refreshToken }),
      (reply) => reply.status !== 200,
    );
  }

  it('rotates the refresh token: the new pair works, the old refresh token is dead', async () => {
    const account = await registerAccount(system, 'Rotate');
    const first = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    expect(first.headers.get('cache-control')).to.equal('no-store');
    expect(first.body).to.include.keys('accessToken', 'refreshToken', 'expiresIn');
    expect(first.body.refreshToken).not.to.equal(account.refreshToken);
    expect((await http.get('/contacts', { token: first.body.accessToken })).status).to.equal(200);

    const second = await http.post('/auth/refresh', { refreshToken: first.body.refreshToken });
    expect(second.status).to.equal(200);
    expect((await reusedPastGrace(first.body.refreshToken)).status).to.equal(401);
  });

  it('revokes the whole family when a used refresh token comes back, and says so', async () => {
    const account = await registerAccount(system, 'Theft');
    const rotated = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
    expect(rotated.status).to.equal(200);

    // An attacker replays the stolen first token (past the grace a same-client retry would get).
    const replay = await reusedPastGrace(account.refreshToken);
    expect(replay.status).to.equal(401);
    expect(replay.contentType).to.match(/^application\/problem\+json/);
    expect(replay.body.code).to.equal('refresh_token_reused');

    // Everything issued from that sign-in is now dead: the newest refresh token and the access tokens.
    expect((await http.post('/auth/refresh', { refreshToken: rotated.body.refreshToken })).status).to.equal(401);
    expect((await http.get('/contacts', { token: rotated.body.accessToken })).status).to.equal(401);
    expect((await http.get('/contacts', { token: account.accessToken })).status).to.equal(401);

    // A fresh sign-in works, and the revocation is on record in the session's stream.
    const login = await http.post('/auth/login', { email: account.email, password: account.password });
    expect(login.status).to.equal(200);
    expect((await http.get('/contacts', { token: login.body.accessToken })).status).to.equal(200);
  });

  it('gives every one of several concurrent refreshes with one token the same new pair, and the session lives on', async () => {
    const account = await registerAccount(system, 'Tabs');
    // Five browser tabs refresh at once with the token they share.
    const answers = await Promise.all(Array.from({ length: 5 }, () => http.post('/auth/refresh', { refreshToken: account.refreshToken })));
    for (const answer of answers) {
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.headers.get('cache-control')).to.equal('no-store');
      expect(answer.body).to.deep.equal(answers[0]!.body);
    }
    const pair = answers[0]!.body;
    expect(pair.refreshToken).not.to.equal(account.refreshToken);
    expect((await http.get('/contacts', { token: pair.accessToken })).status, 'its access token works').to.equal(200);
    const next = await http.post('/auth/refresh', { refreshToken: pair.refreshToken });
    expect(next.status, 'the new refresh token refreshes again').to.equal(200);
    expect((await http.get('/contacts', { token: next.body.accessToken })).status).to.equal(200);
    // One rotation on record, not five.
    const { sid } = JSON.parse(Buffer.from(account.accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string };
    const events = await system.process.platform.eventStore.readStream(`session-${sid}`);
    expect(events.map((e) => e.type)).to.deep.equal(['SessionStarted', 'SessionRefreshed', 'SessionRefreshed']);
  });

  it('treats reuse past the grace as theft, as before: the session is revoked', async () => {
    const account = await registerAccount(system, 'Late');
    const rotated = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
    expect(rotated.status).to.equal(200);
    const within = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
    // (On a slow machine the grace may already be over; what matters is what happens past it.)
    if (within.status === 200) expect(within.body).to.deep.equal(rotated.body);
    const late = await reusedPastGrace(account.refreshToken);
    expect(late.status).to.equal(401);
    expect(late.body.code).to.equal('refresh_token_reused');
    expect((await http.post('/auth/refresh', { refreshToken: rotated.body.refreshToken })).status).to.equal(401);
    expect((await http.get('/contacts', { token: rotated.body.accessToken })).status).to.equal(401);
  });

  it("ignores Idempotency-Key on refresh: a spent token's answer is never replayed from the idempotency store", async () => {
    const account = await registerAccount(system, 'Replayer');
    const key = randomUUID();
    const first = await http.post('/auth/refresh', { refreshToken: account.refreshToken }, { headers: { 'Idempotency-Key': key } });
    expect(first.status).to.equal(200);
    expect(first.headers.get('cache-control')).to.equal('no-store');
    expect(first.headers.get('pragma')).to.equal('no-cache');
    // Past the grace, the same request with the same key is reuse of a spent token: theft, not a replay.
    const replay = await eventually(
      () => http.post('/auth/refresh', { refreshToken: account.refreshToken }, { headers: { 'Idempotency-Key': key } }),
      (reply) => reply.status !== 200,
    );
    expect(replay.headers.get('idempotent-replayed')).to.equal(null);
    expect(replay.status).to.equal(401);
    expect(replay.body.code).to.equal('refresh_token_reused');
    expect((await http.post('/auth/refresh', { refreshToken: first.body.refreshToken })).status, 'the session was revoked').to.equal(401);
  });

  it('marks every answer that carries or takes credentials no-store, errors included', async () => {
    const account = await registerAccount(system, 'Caches');
    const replies = [
      await http.post('/auth/login', { email: account.email, password: account.password }),
      await http.post('/auth/login', { email: account.email, password: 'not the password' }),
      await http.post('/auth/refresh', { refreshToken: 'junk' }),
      await http.post(
        '/auth/change-password',
        { currentPassword: account.password, newPassword: 'another fine password' },
        { token: account.accessToken },
      ),
      await http.post(
        '/api-keys',
        { name: 'cache test', scopes: ['contacts:read'] },
        { token: (await http.post('/auth/login', { email: account.email, password: 'another fine password' })).body.accessToken },
      ),
    ];
    for (const reply of replies) {
      expect(reply.headers.get('cache-control'), `${reply.status} ${JSON.stringify(reply.body)}`).to.equal('no-store');
      expect(reply.headers.get('pragma')).to.equal('no-cache');
    }
    expect(replies.map((r) => r.status)).to.deep.equal([200, 401, 401, 200, 201]);
  });

  it('logs out: the access token and the refresh token of that session stop working at once, other sessions go on', async () => {
    const account = await registerAccount(system, 'Logout');
    const other = await http.post('/auth/login', { email: account.email, password: account.password });
    const out = await http.post('/auth/logout', undefined, { token: account.accessToken });
    expect(out.status).to.equal(204);
    const after = await http.get('/contacts', { token: account.accessToken });
    expect(after.status).to.equal(401);
    expect((await http.post('/contacts', { email: 'x@example.com' }, { token: account.accessToken })).status).to.equal(401);
    expect((await http.post('/auth/refresh', { refreshToken: account.refreshToken })).status).to.equal(401);
    expect((await http.get('/contacts', { token: other.body.accessToken })).status).to.equal(200);
    expect((await http.post('/auth/logout', undefined, { token: account.accessToken })).status).to.equal(401);
  });

  it('refuses an access token as a refresh token, junk, and a missing field (400 naming it)', async () => {
    const account = await registerAccount(system, 'Junk');
    expect((await http.post('/auth/refresh', { refreshToken: account.accessToken })).status).to.equal(401);
    expect((await http.post('/auth/refresh', { refreshToken: 'junk' })).status).to.equal(401);
    const missing = await http.post('/auth/refresh', {});
    expect(missing.status).to.equal(400);
    expect(missing.body['invalid-params'].map((p: { name: string }) => p.name)).to.include('refreshToken');
  });

  it('records the session events with the actor, IP and user agent', async () => {
    const account = await registerAccount(system, 'Audit');
    // A client cannot choose the IP the audit trail records (no proxy is trusted by default).
    await http.post('/auth/logout', undefined, {
      token: account.accessToken,
      headers: { 'User-Agent': 'audit-test/1.0', 'X-Forwarded-For': '203.0.113.9' },
    });
    const { sid } = JSON.parse(Buffer.from(account.accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string };
    const events = await system.process.platform.eventStore.readStream(`session-${sid}`);
    expect(events.map((e) => e.type)).to.deep.equal(['SessionStarted', 'SessionRevoked']);
    expect(events.every((e) => e.metadata.tenantId === account.organizationId)).to.equal(true);
    const revoked = events[1]!.metadata;
    expect(revoked.actor).to.deep.equal({ type: 'user', id: account.userId });
    expect(revoked.userAgent).to.equal('audit-test/1.0');
    expect(revoked.ip)
      .to.be.a('string')
      .and.match(/127\.0\.0\.1/);
  });

  it('locks sign-in after repeated failures, for known and unknown emails alike, even with the right password', async () => {
    const account = await registerAccount(system, 'Brute');
    for (const email of [account.email, `nobody-${Date.now().toString(36)}@example.com`]) {
      for (let i = 0; i < 5; i++) {
        const wrong = await http.post('/auth/login', { email, password: `wrong password ${i}` });
        expect(wrong.status, `attempt ${i + 1} for ${email}`).to.equal(401);
      }
      const locked = await http.post('/auth/login', { email, password: account.password });
      expect(locked.status).to.equal(429);
      expect(locked.body.code).to.equal('login_locked');
      expect(Number(locked.headers.get('retry-after'))).to.be.within(1, 30);
    }
    // Another account is not affected.
    const other = await registerAccount(system, 'Unaffected');
    expect((await http.post('/auth/login', { email: other.email, password: other.password })).status).to.equal(200);
  });
});
