import { expect } from 'chai';
import { registerAccount, startTestSystem, type HttpClient, type TestSystem } from '../support/http.ts';

describe('Sessions: rotating refresh tokens, theft detection, logout (real PostgreSQL and Redis)', function () {
  this.timeout(30_000);
  let system: TestSystem;
  let http: HttpClient;
  before(async () => {
    system = await startTestSystem();
    http = system.http;
  });
  after(async () => system?.stop());

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
    expect((await http.post('/auth/refresh', { refreshToken: first.body.refreshToken })).status).to.equal(401);
  });

  it('revokes the whole family when a used refresh token comes back, and says so', async () => {
    const account = await registerAccount(system, 'Theft');
    const rotated = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
    expect(rotated.status).to.equal(200);

    // An attacker replays the stolen first token.
    const replay = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
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

  it('lets exactly one of several concurrent refreshes with the same token win', async () => {
    const account = await registerAccount(system, 'Race');
    const answers = await Promise.all(Array.from({ length: 5 }, () => http.post('/auth/refresh', { refreshToken: account.refreshToken })));
    const statuses = answers.map((a) => a.status);
    // One rotation; the others present a token that was just rotated out, which revokes the family.
    expect(statuses.filter((s) => s === 200).length).to.be.at.most(1);
    expect(statuses.every((s) => s === 200 || s === 401)).to.equal(true);
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
    expect(revoked.ip).to.be.a('string').and.match(/127\.0\.0\.1/);
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
