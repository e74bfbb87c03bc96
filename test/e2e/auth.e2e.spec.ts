import { expect } from 'chai';
import { Mailbox, registerAccount, startTestSystem, type HttpClient, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';
import { eventually } from '../support/events.ts';
import { totpCode } from '../support/totp.ts';

describe('Auth flows end to end: passwords and the second factor (real PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let http: HttpClient;
  before(async () => {
    system = await startTestSystem();
    http = system.http;
  });
  after(async () => system?.stop());

  describe('forgot and reset password', () => {
    it('answers alike for known and unknown emails, and only an account holder gets a link', async () => {
      const account = await registerAccount(system, 'Forgetful');
      const unknown = `nobody-${Date.now().toString(36)}@example.com`;
      const known = await http.post('/auth/forgot-password', { email: account.email });
      const nobody = await http.post('/auth/forgot-password', { email: unknown });
      expect(known.status).to.equal(202);
      expect(nobody.status).to.equal(202);
      expect(known.body).to.deep.equal(nobody.body);
      const mail = await system.mailbox.latest(account.email, 'password-reset');
      expect(mail.text).to.include('/reset-password?token=');
      expect(await system.mailbox.all(unknown)).to.deep.equal([]);
      expectProblem(await http.post('/auth/forgot-password', { email: 'not an email' }), 400, ['email']);
    });

    it('resets once with the link, ends every session, and the new password works', async () => {
      const account = await registerAccount(system, 'Resetter');
      const other = await http.post('/auth/login', { email: account.email, password: account.password });
      await http.post('/auth/forgot-password', { email: account.email });
      const token = Mailbox.tokenIn(await system.mailbox.latest(account.email, 'password-reset'));

      expectProblem(await http.post('/auth/reset-password', { token, password: 'short' }), 400, ['password']);
      const reset = await http.post('/auth/reset-password', { token, password: 'a brand new password' });
      expect(reset.status, JSON.stringify(reset.body)).to.equal(204);
      expect((await system.mailbox.latest(account.email, 'password-changed')).subject).to.match(/changed/);

      // Single use.
      expectProblem(await http.post('/auth/reset-password', { token, password: 'yet another password' }), 401);
      // Every session of the account is over: access tokens at once, refresh tokens too.
      expectProblem(await http.get('/contacts', { token: account.accessToken }), 401);
      expectProblem(await http.get('/contacts', { token: other.body.accessToken }), 401);
      expectProblem(await http.post('/auth/refresh', { refreshToken: account.refreshToken }), 401);
      expectProblem(await http.post('/auth/refresh', { refreshToken: other.body.refreshToken }), 401);

      expectProblem(await http.post('/auth/login', { email: account.email, password: account.password }), 401);
      const login = await http.post('/auth/login', { email: account.email, password: 'a brand new password' });
      expect(login.status).to.equal(200);
      expect((await http.get('/contacts', { token: login.body.accessToken })).status).to.equal(200);
    });

    it('refuses a forged or tampered token', async () => {
      const account = await registerAccount(system, 'Forger');
      await http.post('/auth/forgot-password', { email: account.email });
      const token = Mailbox.tokenIn(await system.mailbox.latest(account.email, 'password-reset'));
      const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
      expectProblem(await http.post('/auth/reset-password', { token: tampered, password: 'a brand new password' }), 401);
      expectProblem(await http.post('/auth/reset-password', { token: 'junk', password: 'a brand new password' }), 401);
      expect((await http.post('/auth/login', { email: account.email, password: account.password })).status).to.equal(200);
    });
  });

  describe('change password', () => {
    it('needs the current password, ends the other sessions and answers fresh tokens', async () => {
      const account = await registerAccount(system, 'Changer');
      const wrong = await http.post(
        '/auth/change-password',
        { currentPassword: 'not it at all', newPassword: 'a better password' },
        { token: account.accessToken },
      );
      expectProblem(wrong, 400, ['currentPassword']);
      const changed = await http.post(
        '/auth/change-password',
        { currentPassword: account.password, newPassword: 'a better password' },
        { token: account.accessToken },
      );
      expect(changed.status, JSON.stringify(changed.body)).to.equal(200);
      expectProblem(await http.get('/contacts', { token: account.accessToken }), 401);
      expect((await http.get('/contacts', { token: changed.body.accessToken })).status).to.equal(200);
      expect((await http.post('/auth/refresh', { refreshToken: changed.body.refreshToken })).status, 'the new session refreshes').to.equal(200);
    });
  });

  describe('two-factor authentication (TOTP)', () => {
    it('enrolls in two steps, then sign-in needs a code; each code works once; recovery codes work once', async () => {
      const account = await registerAccount(system, 'Careful');
      const token = account.accessToken;

      const started = await http.post('/auth/mfa/enable', {}, { token });
      expect(started.status, JSON.stringify(started.body)).to.equal(200);
      expect(started.body.status).to.equal('pending');
      const secret: string = started.body.secret;
      expect(started.body.otpauthUri)
        .to.match(/^otpauth:\/\/totp\//)
        .and.include(`secret=${secret}`);
      // Not on yet: sign-in still needs only the password.
      expect((await http.post('/auth/login', { email: account.email, password: account.password })).body).to.have.property('accessToken');

      expectProblem(await http.post('/auth/mfa/enable', { code: 'abc' }, { token }), 400, ['code']);
      const wrongCode = String((Number(totpCode(secret)) + 1) % 1_000_000).padStart(6, '0');
      expectProblem(await http.post('/auth/mfa/enable', { code: wrongCode }, { token }), 401, ['code']);
      const enabled = await http.post('/auth/mfa/enable', { code: totpCode(secret) }, { token });
      expect(enabled.status, JSON.stringify(enabled.body)).to.equal(200);
      expect(enabled.body.status).to.equal('enabled');
      const recoveryCodes: string[] = enabled.body.recoveryCodes;
      expect(recoveryCodes).to.have.length(10);
      expect(new Set(recoveryCodes).size).to.equal(10);

      // The password alone now yields a challenge, never tokens.
      const login = await http.post('/auth/login', { email: account.email, password: account.password });
      expect(login.status).to.equal(200);
      expect(login.body).to.include({ mfaRequired: true });
      expect(login.body).not.to.have.property('accessToken');
      expectProblem(await http.post('/auth/mfa/verify', { challengeToken: login.body.challengeToken, code: wrongCode }), 401);
      // The enrollment used the current step; the next step's code (within the accepted window) signs in.
      const nextCode = totpCode(secret, Date.now() + 30_000);
      const verified = await http.post('/auth/mfa/verify', { challengeToken: login.body.challengeToken, code: nextCode });
      expect(verified.status, JSON.stringify(verified.body)).to.equal(200);
      expect((await http.get('/contacts', { token: verified.body.accessToken })).status).to.equal(200);

      // The same code again (a replayed request, a shoulder-surfer) is refused.
      const again = await http.post('/auth/login', { email: account.email, password: account.password });
      const replay = await http.post('/auth/mfa/verify', { challengeToken: again.body.challengeToken, code: nextCode });
      expectProblem(replay, 401);
      expect(replay.body.code).to.equal('mfa_code_reused');

      // A recovery code, typed loosely, works once.
      const loose = recoveryCodes[0]!.toUpperCase().replace('-', ' ');
      expect((await http.post('/auth/mfa/verify', { challengeToken: again.body.challengeToken, code: loose })).status).to.equal(200);
      expectProblem(await http.post('/auth/mfa/verify', { challengeToken: again.body.challengeToken, code: recoveryCodes[0] }), 401);

      // A forged challenge is refused.
      expectProblem(await http.post('/auth/mfa/verify', { challengeToken: account.accessToken, code: totpCode(secret) }), 401);

      const me = await eventually(
        () => http.get('/auth/me', { token: verified.body.accessToken }),
        (reply) => reply.body?.mfaEnabled === true,
      );
      expect(me.status).to.equal(200);

      // Turning it off needs the password and a code.
      expectProblem(
        await http.post('/auth/mfa/disable', { password: 'wrong password', code: recoveryCodes[1] }, { token: verified.body.accessToken }),
        400,
        ['password'],
      );
      const disabled = await http.post(
        '/auth/mfa/disable',
        { password: account.password, code: recoveryCodes[1] },
        { token: verified.body.accessToken },
      );
      expect(disabled.status, JSON.stringify(disabled.body)).to.equal(204);
      expect((await http.post('/auth/login', { email: account.email, password: account.password })).body).to.have.property('accessToken');
    });

    it('locks the second step after repeated wrong codes', async () => {
      const account = await registerAccount(system, 'Guessed');
      const started = await http.post('/auth/mfa/enable', {}, { token: account.accessToken });
      await http.post('/auth/mfa/enable', { code: totpCode(started.body.secret) }, { token: account.accessToken });
      const login = await http.post('/auth/login', { email: account.email, password: account.password });
      const right = totpCode(started.body.secret, Date.now() + 30_000);
      const wrong = String((Number(right) + 7) % 1_000_000).padStart(6, '0');
      for (let i = 0; i < 5; i++) {
        expectProblem(await http.post('/auth/mfa/verify', { challengeToken: login.body.challengeToken, code: wrong }), 401);
      }
      const locked = await http.post('/auth/mfa/verify', { challengeToken: login.body.challengeToken, code: right });
      expectProblem(locked, 429);
      expect(Number(locked.headers.get('retry-after'))).to.be.greaterThan(0);
    });
  });
});
