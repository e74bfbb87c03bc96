import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { randomInt } from 'node:crypto';
import type { Role } from '../../domain/access/permissions.ts';
import { NotAuthenticatedError, SignInLockedError, ValidationError, WrongCodeError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { userDecider, userStream, type User, type UserEvent } from '../../domain/users/user.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { RequestContext } from '../http.ts';
import { membershipOf } from '../users/membership.ts';
import { invalidCredentials, type SignedIn } from './accounts.ts';
import type { LoginAttempts, OneTimePasswords, PasswordHasher, SecretBox, TokenIssuer } from './ports.ts';
import type { Sessions } from './sessions.ts';

const SECRET_PURPOSE = 'totp-secret';
const RECOVERY_PURPOSE = 'recovery-code';
const RECOVERY_CODES = 10;
/** Lower-case letters and digits without the look-alikes 0/o, 1/l/i. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

type SignedInUser = { userId: string; organizationId: string; role: Role };

export type EnrollmentStarted = { status: 'pending'; secret: string; otpauthUri: string };
export type MfaEnabledAnswer = { status: 'enabled'; recoveryCodes: string[] };

/**
 * Two-factor sign-in with TOTP (RFC 6238) and one-time recovery codes. Enrolling is two calls: the first
 * hands out a secret for the authenticator app, the second proves the app produces its codes, and only then
 * does sign-in start asking for them. A code is accepted once; repeated wrong codes lock the user's second
 * step for a growing interval, like passwords.
 */
@injectable()
export class SecondFactors {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.OneTimePasswords) private readonly otp: OneTimePasswords,
    @inject(TOKENS.SecretBox) private readonly box: SecretBox,
    @inject(TOKENS.PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(TOKENS.Tokens) private readonly tokens: TokenIssuer,
    @inject(TOKENS.Sessions) private readonly sessions: Sessions,
    @inject(TOKENS.LoginAttempts) private readonly attempts: LoginAttempts,
  ) {}

  async enable(user: SignedInUser, code: string | undefined, context: RequestContext): Promise<EnrollmentStarted | MfaEnabledAnswer> {
    const ctx = contextOf(user, context);
    if (code === undefined) {
      const { state } = await this.load(user.userId);
      const secret = this.otp.newSecret();
      await this.handler.handle(
        userStream(user.userId),
        userDecider,
        { type: 'StartMfaEnrollment', data: { encryptedSecret: this.box.encrypt(secret, SECRET_PURPOSE) } },
        ctx,
      );
      return { status: 'pending', secret, otpauthUri: this.otp.uri(secret, state.email) };
    }
    const { state, revision } = await this.load(user.userId);
    if (state.mfa.status !== 'pending') {
      // Let the decider say why (already enabled, or not enrolling).
      userDecider.decide({ type: 'EnableMfa', data: { step: 0, recoveryCodeHashes: [] } }, state);
    }
    const secret = this.box.decrypt((state.mfa as { encryptedSecret: string }).encryptedSecret, SECRET_PURPOSE);
    const step = await this.checked(user.userId, () => this.otp.verify(secret, code, context.now));
    if (step === null) throw wrongCode('code');
    const recoveryCodes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    await this.handler.handle(
      userStream(user.userId),
      userDecider,
      { type: 'EnableMfa', data: { step, recoveryCodeHashes: recoveryCodes.map((c) => this.box.mac(normalizeCode(c), RECOVERY_PURPOSE)) } },
      ctx,
      { expectedRevision: revision },
    );
    return { status: 'enabled', recoveryCodes };
  }

  /** Turning the second factor off needs the password and a current code (or a recovery code). */
  async disable(user: SignedInUser, password: string, code: string, context: RequestContext): Promise<void> {
    const { state } = await this.load(user.userId);
    // The sign-in lock guards this password check too (a stolen access token must not guess with it).
    const lockedForMs = await this.attempts.begin(state.email);
    if (lockedForMs > 0) throw new SignInLockedError(lockedForMs);
    if (!(await this.hasher.verify(password, state.passwordHash))) {
      throw new ValidationError([{ name: 'password', reason: 'is not your current password' }]);
    }
    await this.attempts.clear(state.email);
    if (state.mfa.status === 'on') await this.verifySecondFactor(state, code, contextOf(user, context));
    await this.handler.handle(userStream(user.userId), userDecider, { type: 'DisableMfa', data: {} }, contextOf(user, context));
  }

  /** The second step of a sign-in: the challenge from POST /auth/login and a code. */
  async completeSignIn(challengeToken: string, code: string, context: RequestContext): Promise<SignedIn> {
    const challenge = await this.tokens.verifyChallenge(challengeToken);
    if (!challenge) throw new NotAuthenticatedError('The sign-in challenge is invalid or expired; sign in again.', 'invalid_challenge');
    const { state } = await this.load(challenge.userId);
    const membership = await membershipOf(this.handler, state.organizationId, state.id);
    if (!membership?.active || state.mfa.status !== 'on') throw invalidCredentials();
    const ctx: CommandContext = { ...context, tenantId: state.organizationId, actor: { type: 'user', id: state.id } };
    await this.verifySecondFactor(state, code, ctx);
    // Password and second factor both proven: whoever has been guessing the password meanwhile does not
    // keep the owner out of their next sign-in.
    await this.attempts.clear(state.email);
    return this.sessions.start({ id: state.id, organizationId: state.organizationId, role: membership.role }, context);
  }

  /** Records the code as used (the stream's concurrency makes a replayed code lose), or throws. */
  private async verifySecondFactor(user: Extract<User, { status: 'registered' }>, code: string, ctx: CommandContext): Promise<void> {
    if (user.mfa.status !== 'on') throw new NotAuthenticatedError('Two-factor authentication is not enabled', 'mfa_not_enabled');
    const { encryptedSecret, recoveryCodeHashes } = user.mfa;
    const normalized = normalizeCode(code);
    const proof = await this.checked(user.id, () => {
      if (/^\d{6}$/.test(normalized)) {
        const step = this.otp.verify(this.box.decrypt(encryptedSecret, SECRET_PURPOSE), normalized, ctx.now);
        return step === null ? null : ({ method: 'totp', step } as const);
      }
      const hash = this.box.mac(normalized, RECOVERY_PURPOSE);
      const codeIndex = recoveryCodeHashes.indexOf(hash);
      return codeIndex < 0 ? null : ({ method: 'recovery_code', codeIndex } as const);
    });
    if (proof === null) throw wrongCode('code');
    await this.handler.handle(userStream(user.id), userDecider, { type: 'RecordSecondFactor', data: proof }, ctx);
  }

  /**
   * Lockout around a code check: each attempt is counted before the check (so concurrent guesses cannot all
   * be checked), locked users are refused without one, a success clears the count and the lock.
   */
  private async checked<T>(userId: string, check: () => T | null): Promise<T | null> {
    const key = `mfa:${userId}`;
    const lockedForMs = await this.attempts.begin(key);
    if (lockedForMs > 0) throw new SignInLockedError(lockedForMs);
    const result = check();
    if (result !== null) await this.attempts.clear(key);
    return result;
  }

  private async load(userId: string) {
    const loaded = await this.handler.load<User, UserEvent>(userStream(userId), userDecider);
    if (loaded.state.status !== 'registered') throw invalidCredentials();
    return loaded as typeof loaded & { state: Extract<User, { status: 'registered' }> };
  }
}

function contextOf(user: SignedInUser, context: RequestContext): CommandContext {
  return { ...context, tenantId: user.organizationId, actor: { type: 'user', id: user.userId } };
}

function wrongCode(field: string): WrongCodeError {
  return new WrongCodeError(field, 'is not a current code of your authenticator app, nor an unused recovery code');
}

/** Codes are typed by people: spaces, dashes and capitals do not matter. */
function normalizeCode(code: string): string {
  return code.replace(/[\s-]/g, '').toLowerCase();
}

function newRecoveryCode(): string {
  const chars = Array.from({ length: 10 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}
