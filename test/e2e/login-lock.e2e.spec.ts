import { expect } from 'chai';
import { ContainerModule } from 'inversify';
import type { PasswordHasher } from '../../command-api/auth/ports.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../support/events.ts';
import { Mailbox, registerAccount, startTestSystem, type Account, type HttpClient, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';
import { totpCode } from '../support/totp.ts';

/** The real hasher, counting how many passwords it checked. */
class CountingHasher implements PasswordHasher {
  verifications = 0;

  constructor(private readonly inner: PasswordHasher) {}

  hash(password: string): Promise<string> {
    return this.inner.hash(password);
  }

  verify(password: string, hash: string): Promise<boolean> {
    this.verifications++;
    return this.inner.verify(password, hash);
  }
}

const MAX_FAILURES = 5;

describe('Sign-in lock without races, and what lifts it (real PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  let system: TestSystem;
  let http: HttpClient;
  let hasher: CountingHasher;

  before(async () => {
    system = await startTestSystem(
      undefined,
      { LOGIN_MAX_FAILURES: String(MAX_FAILURES), LOGIN_LOCK_SECONDS: '600' },
      // Watches the hasher the modules build (a wrapper that counts), without replacing it.
      [
        new ContainerModule((_bind, _unbind, _isBound, _rebind, _unbindAsync, onActivation) => {
          onActivation<PasswordHasher>(TOKENS.PasswordHasher, (_ctx, real) => (hasher = new CountingHasher(real)));
        }),
      ],
    );
    http = system.http;
  });
  after(async () => system?.stop());

  const wrongPasswords = (email: string, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => http.post('/auth/login', { email, password: `wrong password ${i}` })));

  async function lockOut(email: string): Promise<void> {
    for (let i = 0; i < MAX_FAILURES; i++) expectProblem(await http.post('/auth/login', { email, password: `not it ${i}` }), 401);
    expectProblem(await http.post('/auth/login', { email, password: 'still not it' }), 429);
  }

  it('checks at most the allowed number of 30 concurrent wrong passwords; the rest are refused unchecked, then even the right one', async () => {
    const account = await registerAccount(system, 'Stampede');
    for (const email of [account.email, `nobody-${Date.now().toString(36)}@example.com`]) {
      const before = hasher.verifications;
      const answers = await wrongPasswords(email, 30);
      const checked = hasher.verifications - before;
      expect(checked, `password checks for ${email}`).to.be.within(1, MAX_FAILURES);
      // A 401 is an answer after a check; every other attempt was refused before any hashing.
      expect(answers.filter((a) => a.status === 401)).to.have.length(checked);
      expect(answers.filter((a) => a.status === 429)).to.have.length(30 - checked);
      for (const refused of answers.filter((a) => a.status === 429)) {
        expect(refused.body.code).to.equal('login_locked');
        expect(Number(refused.headers.get('retry-after'))).to.be.greaterThan(0);
      }

      const right = await http.post('/auth/login', { email, password: account.password });
      expectProblem(right, 429);
      expect(hasher.verifications - before, 'nor is the right password checked while locked').to.equal(checked);
    }
  });

  it('lifts the lock with a completed password reset: the new password signs in at once', async () => {
    const account = await registerAccount(system, 'Reset');
    await lockOut(account.email);
    await http.post('/auth/forgot-password', { email: account.email });
    const token = Mailbox.tokenIn(await system.mailbox.latest(account.email, 'password-reset'));
    const reset = await http.post('/auth/reset-password', { token, password: 'my brand new password' });
    expect(reset.status, JSON.stringify(reset.body)).to.equal(204);
    const login = await http.post('/auth/login', { email: account.email, password: 'my brand new password' });
    expect(login.status, JSON.stringify(login.body)).to.equal(200);
    expect(login.body).to.have.property('accessToken');
  });

  it('lifts the lock with a completed two-factor sign-in', async () => {
    const account = await registerAccount(system, 'Second factor');
    const secret = await enableMfa(account);
    // The owner passes the password step; meanwhile someone guessing locks the email.
    const challenge = await http.post('/auth/login', { email: account.email, password: account.password });
    expect(challenge.body.mfaRequired, JSON.stringify(challenge.body)).to.equal(true);
    await lockOut(account.email);
    expectProblem(await http.post('/auth/login', { email: account.email, password: account.password }), 429);

    const verified = await http.post('/auth/mfa/verify', {
      challengeToken: challenge.body.challengeToken,
      code: totpCode(secret, Date.now() + 30_000),
    });
    expect(verified.status, JSON.stringify(verified.body)).to.equal(200);
    const again = await http.post('/auth/login', { email: account.email, password: account.password });
    expect(again.status, JSON.stringify(again.body)).to.equal(200);
    expect(again.body.mfaRequired).to.equal(true);
  });

  it('counts second-factor codes before checking them: of 30 concurrent wrong codes at most the allowed number are checked', async () => {
    const account = await registerAccount(system, 'Code stampede');
    const secret = await enableMfa(account);
    const challenge = await http.post('/auth/login', { email: account.email, password: account.password });
    const right = totpCode(secret, Date.now() + 30_000);
    const wrong = String((Number(right) + 7) % 1_000_000).padStart(6, '0');
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => http.post('/auth/mfa/verify', { challengeToken: challenge.body.challengeToken, code: wrong })),
    );
    const checked = answers.filter((a) => a.status === 401).length;
    expect(checked).to.be.within(1, MAX_FAILURES);
    expect(answers.filter((a) => a.status === 429)).to.have.length(30 - checked);
    expectProblem(await http.post('/auth/mfa/verify', { challengeToken: challenge.body.challengeToken, code: right }), 429);
  });

  it('sends every requested reset link when requests for one account race (the background work retries on a moved stream)', async () => {
    const account = await registerAccount(system, 'Forgetful crowd');
    const requests = 20;
    const answers = await Promise.all(Array.from({ length: requests }, () => http.post('/auth/forgot-password', { email: account.email })));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(requests).fill(202));
    const mails = await eventually(
      () => system.mailbox.all(account.email),
      (all) => all.filter((mail) => mail.template === 'password-reset').length >= requests,
      30_000,
    );
    const links = mails.filter((mail) => mail.template === 'password-reset').map((mail) => Mailbox.tokenIn(mail));
    expect(new Set(links).size, 'one link per request').to.equal(requests);
    // Each works (the last one, here).
    expect((await http.post('/auth/reset-password', { token: links[links.length - 1], password: 'chosen at last' })).status).to.equal(204);
  });

  async function enableMfa(account: Account): Promise<string> {
    const started = await http.post('/auth/mfa/enable', {}, { token: account.accessToken });
    expect(started.status, JSON.stringify(started.body)).to.equal(200);
    const enabled = await http.post('/auth/mfa/enable', { code: totpCode(started.body.secret) }, { token: account.accessToken });
    expect(enabled.status, JSON.stringify(enabled.body)).to.equal(200);
    return started.body.secret;
  }
});
