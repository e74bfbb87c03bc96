import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable, optional } from 'inversify';
import { randomUUID } from 'node:crypto';
import type { Role } from '../../domain/access/permissions.ts';
import { NotAuthenticatedError, SignInLockedError, ValidationError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import {
  TRIAL_DAYS,
  organizationDecider,
  organizationStream,
  type Organization,
  type OrganizationEvent,
} from '../../domain/organizations/organization.ts';
import { signupDecider, signupStream, type Signup, type SignupEvent } from '../../domain/signups/signup.ts';
import { claimDecider, type Claim, type ClaimEvent } from '../../domain/uniqueness/claim.ts';
import { userDecider, userStream, type User, type UserEvent } from '../../domain/users/user.ts';
import { composeToken, newSecret, parseToken, sha256 } from '../../infra/auth/secret-tokens.ts';
import { retryPolicies, retrying } from '../../infra/retry.ts';
import type { BackgroundWork } from '../background.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { RequestContext } from '../http.ts';
import { WrongExpectedRevisionError, type Mailer, type StreamAppend } from '../ports.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';
import { membershipOf } from '../users/membership.ts';
import { emails } from './emails.ts';
import type { LoginAttempts, PasswordHasher, SessionRevocations, TokenIssuer } from './ports.ts';
import type { SessionTokens, Sessions } from './sessions.ts';

export interface Registration {
  organizationName: string;
  name: string;
  email: string;
  password: string;
  timezone?: string;
}

export type SignedIn = SessionTokens;

export interface MfaChallenge {
  mfaRequired: true;
  challengeToken: string;
  expiresIn: number;
  methods: ['totp', 'recovery_code'];
}

export interface AccountPolicy {
  /** Base URL of the web app, for the links in emails. */
  appUrl: string;
  signupTtlMs: number;
  resetTtlMs: number;
  challengeTtlSeconds: number;
}

/** A user's login email is unique across the platform (it is how login finds the account). */
export const userEmailClaimStream = (email: string) => claimStreamId('userEmail', email);

/** Requests nobody signed in to make: recorded on platform-level streams, with no organization yet. */
const anonymous = (context: RequestContext): CommandContext => ({
  ...context,
  tenantId: null,
  actor: { type: 'anonymous', id: 'unauthenticated' },
});

/**
 * Sign-up, sign-in and passwords, decided on the command side (the read models may lag; login must not).
 *
 * No answer here tells whether an email has an account: sign-up and forgot-password answer alike whatever
 * the email, and only the mailbox learns the outcome; sign-in failures are one message, with the same work
 * done for unknown emails; lockouts count unknown emails like real ones.
 */
@injectable()
export class Accounts {
  private dummyHash: Promise<string> | null = null;

  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.ValueClaims) private readonly claims: ValueClaims,
    @inject(TOKENS.PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(TOKENS.Sessions) private readonly sessions: Sessions,
    @inject(TOKENS.Tokens) private readonly tokens: TokenIssuer,
    @inject(TOKENS.LoginAttempts) private readonly attempts: LoginAttempts,
    @inject(TOKENS.SessionRevocations) private readonly revocations: SessionRevocations,
    /** Throttled per address (see ThrottledMailer). */
    @inject(TOKENS.AccountMailer) private readonly mailer: Mailer,
    @inject(TOKENS.BackgroundWork) private readonly background: BackgroundWork,
    @inject(TOKENS.AccountPolicy) private readonly policy: AccountPolicy,
    /** The plan limits (absent where a role does not enforce them). */
    @inject(TOKENS.QuotaGate) @optional() private readonly quotas?: QuotaGate,
  ) {}

  /**
   * Records the request and mails the address: a confirmation link, or (when the email already has an
   * account) a note saying so. Both paths hash the password and append one event, so neither the answer nor
   * its timing differs.
   */
  async requestSignup(request: Registration, context: RequestContext): Promise<void> {
    const passwordHash = await this.hasher.hash(request.password);
    const signupId = randomUUID();
    const platform = anonymous(context);
    if (await this.accountWithEmail(request.email)) {
      await this.handler.handle(
        signupStream(signupId),
        signupDecider,
        { type: 'NoteTakenEmailSignup', data: { signupId, email: request.email } },
        platform,
        { newStream: true },
      );
      await this.mailer.send(emails.accountExists(request.email, `${this.policy.appUrl}/login`, `${this.policy.appUrl}/forgot-password`));
      return;
    }
    const secret = newSecret();
    await this.handler.handle(
      signupStream(signupId),
      signupDecider,
      {
        type: 'RequestSignup',
        data: {
          signupId,
          organizationId: randomUUID(),
          userId: randomUUID(),
          organizationName: request.organizationName,
          name: request.name,
          email: request.email,
          passwordHash,
          timezone: request.timezone ?? 'UTC',
          secretHash: sha256(secret),
          expiresAt: new Date(context.now.getTime() + this.policy.signupTtlMs).toISOString(),
        },
      },
      platform,
      { newStream: true },
    );
    const link = `${this.policy.appUrl}/verify-email?token=${composeToken([signupId], secret)}`;
    await this.mailer.send(emails.signupConfirmation(request.email, link, Math.round(this.policy.signupTtlMs / 3_600_000)));
  }

  /**
   * The confirmation link: creates the organization and its owner, and signs in. Every step is safe to run
   * again (ids were chosen when the sign-up was requested), so a crash part-way is mended by clicking again.
   */
  async completeSignup(token: string, context: RequestContext): Promise<SignedIn & { position: string | null }> {
    const parsed = parseToken(token, 1);
    if (!parsed) throw new NotAuthenticatedError('This confirmation link is invalid, expired or already used.', 'invalid_signup_token');
    const [signupId] = parsed.ids as [string];
    const platform = anonymous(context);
    const loaded = await this.handler.load<Signup, SignupEvent>(signupStream(signupId), signupDecider);
    const complete = { type: 'CompleteSignup' as const, data: { signupId, secretHash: parsed.secretHash, now: context.now.toISOString() } };
    signupDecider.decide(complete, loaded.state); // refuses a wrong, used or expired link before anything is created
    const signup = loaded.state as Exclude<Signup, { status: 'absent' } | { status: 'refused' }>;
    const { organizationId, userId, email } = signup;
    const ctx: CommandContext = { ...context, tenantId: organizationId, actor: { type: 'user', id: userId } };

    await this.claimUserEmail(email, userId, platform);
    const organization = await this.handler.load<Organization, OrganizationEvent>(organizationStream(organizationId), organizationDecider);
    if (organization.state.status === 'absent') {
      await this.handler.handle(
        organizationStream(organizationId),
        organizationDecider,
        {
          type: 'CreateOrganization',
          data: {
            organizationId,
            name: signup.organizationName,
            ownerUserId: userId,
            timezone: signup.timezone,
            ownerEmail: email,
            trialEndsAt: new Date(context.now.getTime() + TRIAL_DAYS * 86_400_000).toISOString(),
          },
        },
        ctx,
      );
    }
    let position = (
      await this.registerUser({ userId, organizationId, name: signup.name, email, passwordHash: signup.passwordHash, role: 'owner' }, ctx)
    ).position;
    const completed = await this.handler.handle(signupStream(signupId), signupDecider, complete, platform, { expectedRevision: loaded.revision });
    position = completed.position ?? position;
    const tokens = await this.sessions.start({ id: userId, organizationId, role: 'owner' }, context);
    return { ...tokens, position };
  }

  /** The claim on a login email, for a user about to be created (sign-up, accepted invitation). */
  async claimUserEmail(email: string, userId: string, context: CommandContext): Promise<void> {
    await this.claims.claim(
      userEmailClaimStream(email),
      {
        ownerId: userId,
        field: 'email',
        duplicateMessage: 'An account with this email already exists',
        ownerStatus: async (ownerId) => {
          const { state } = await this.handler.load<User, UserEvent>(userStream(ownerId), userDecider);
          if (state.status === 'absent') return 'absent';
          return state.email === email ? 'holds' : 'released';
        },
      },
      { ...context, tenantId: null },
    );
  }

  /** Registers the user unless a previous attempt already did. */
  async registerUser(
    data: { userId: string; organizationId: string; name: string; email: string; passwordHash: string; role: Role },
    context: CommandContext,
  ): Promise<{ position: string | null }> {
    const existing = await this.handler.load<User, UserEvent>(userStream(data.userId), userDecider);
    if (existing.state.status === 'registered') return { position: existing.position };
    const register = (together: StreamAppend[]) =>
      this.handler.handle(userStream(data.userId), userDecider, { type: 'RegisterUser', data }, context, { together });
    // A member is a seat of the plan (QuotaGate), taken with the registration (what makes an active member in
    // the read models): refused at the limit, no user is left behind. A sign-up's first owner has no plan yet.
    return this.quotas ? this.quotas.taking(context, data.organizationId, 'seats', data.userId, register) : register([]);
  }

  async login(email: string, password: string, context: RequestContext): Promise<SignedIn | MfaChallenge> {
    // Counted before the hash runs (a failure needs no further step): past the limit, and while locked, even
    // the right password is refused without being checked. The lock is what stops guessing.
    const lockedForMs = await this.attempts.begin(email);
    if (lockedForMs > 0) throw new SignInLockedError(lockedForMs);
    const user = await this.accountWithEmail(email);
    if (!user) {
      // Same work as a real check, so response time does not tell whether the email exists.
      await this.hasher.verify(password, await this.getDummyHash());
      throw invalidCredentials();
    }
    if (!(await this.hasher.verify(password, user.passwordHash))) throw invalidCredentials();
    const membership = await membershipOf(this.handler, user.organizationId, user.id);
    // A deactivated member's right password gets the same answer as a wrong one (and counts like one).
    if (!membership?.active) throw invalidCredentials();
    await this.attempts.clear(email);
    if (user.mfa.status === 'on') {
      const challengeToken = await this.tokens.issueChallenge(
        { userId: user.id, organizationId: user.organizationId },
        this.policy.challengeTtlSeconds,
      );
      return { mfaRequired: true, challengeToken, expiresIn: this.policy.challengeTtlSeconds, methods: ['totp', 'recovery_code'] };
    }
    return this.sessions.start({ id: user.id, organizationId: user.organizationId, role: membership.role }, context);
  }

  /**
   * Answers at once and does the work in the background, so neither the answer nor its timing says whether
   * the email has an account. Only a registered, active member gets a link.
   */
  requestPasswordReset(email: string, context: RequestContext): void {
    this.background.run('password-reset-request', async () => {
      const user = await this.accountWithEmail(email);
      if (!user || !(await membershipOf(this.handler, user.organizationId, user.id))?.active) return;
      const resetId = randomUUID();
      const secret = newSecret();
      // Nobody waits for this work to retry it: when the user's stream keeps moving (other requests for the
      // same account) beyond the handler's own retries, try again after a pause, a bounded number of times.
      await retrying(
        retryPolicies.backgroundConflict,
        () =>
          this.handler.handle(
            userStream(user.id),
            userDecider,
            {
              type: 'RequestPasswordReset',
              data: { resetId, secretHash: sha256(secret), expiresAt: new Date(context.now.getTime() + this.policy.resetTtlMs).toISOString() },
            },
            { ...context, tenantId: user.organizationId, actor: { type: 'anonymous', id: 'unauthenticated' } },
          ),
        { retryIf: (err) => err instanceof WrongExpectedRevisionError },
      );
      const link = `${this.policy.appUrl}/reset-password?token=${composeToken([user.id, resetId], secret)}`;
      await this.mailer.send(emails.passwordReset(user.email, link, Math.round(this.policy.resetTtlMs / 60_000)));
    });
  }

  /** A reset link sets a new password once; every session of the user ends (the refresh tokens too). */
  async resetPassword(token: string, password: string, context: RequestContext): Promise<void> {
    const parsed = parseToken(token, 2);
    if (!parsed) throw new NotAuthenticatedError('This password reset link is invalid, expired or already used.', 'invalid_reset_token');
    const [userId, resetId] = parsed.ids as [string, string];
    const { state: user } = await this.handler.load<User, UserEvent>(userStream(userId), userDecider);
    if (user.status !== 'registered') {
      throw new NotAuthenticatedError('This password reset link is invalid, expired or already used.', 'invalid_reset_token');
    }
    const passwordHash = await this.hasher.hash(password);
    await this.handler.handle(
      userStream(userId),
      userDecider,
      { type: 'ResetPassword', data: { resetId, secretHash: parsed.secretHash, passwordHash, now: context.now.toISOString() } },
      { ...context, tenantId: user.organizationId, actor: { type: 'user', id: userId } },
    );
    await this.revocations.revokeUser(userId);
    // Whoever locked the account guessing does not keep its owner out after a reset: the lock is lifted.
    await this.attempts.clear(user.email);
    await this.mailer.send(emails.passwordChanged(user.email));
  }

  /** Needs the current password; ends every session and starts a fresh one for the caller. */
  async changePassword(
    user: { userId: string; organizationId: string; role: Role },
    currentPassword: string,
    newPassword: string,
    context: RequestContext,
  ): Promise<SignedIn> {
    const { state } = await this.handler.load<User, UserEvent>(userStream(user.userId), userDecider);
    if (state.status !== 'registered') throw invalidCredentials();
    // The same lock as sign-in: a stolen access token must not become a way to guess the password.
    const lockedForMs = await this.attempts.begin(state.email);
    if (lockedForMs > 0) throw new SignInLockedError(lockedForMs);
    if (!(await this.hasher.verify(currentPassword, state.passwordHash))) {
      throw new ValidationError([{ name: 'currentPassword', reason: 'is not your current password' }]);
    }
    await this.attempts.clear(state.email);
    const passwordHash = await this.hasher.hash(newPassword);
    await this.handler.handle(
      userStream(user.userId),
      userDecider,
      { type: 'ChangePassword', data: { passwordHash, now: context.now.toISOString() } },
      { ...context, tenantId: user.organizationId, actor: { type: 'user', id: user.userId } },
    );
    await this.revocations.revokeUser(user.userId);
    await this.mailer.send(emails.passwordChanged(state.email));
    return this.sessions.start({ id: user.userId, organizationId: user.organizationId, role: user.role }, context);
  }

  /** The registered user whose login email this is, or null. */
  private async accountWithEmail(email: string): Promise<Extract<User, { status: 'registered' }> | null> {
    const claim = await this.handler.load<Claim, ClaimEvent>(userEmailClaimStream(email), claimDecider);
    const ownerId = claim.state.ownerId;
    if (!ownerId) return null;
    const { state } = await this.handler.load<User, UserEvent>(userStream(ownerId), userDecider);
    return state.status === 'registered' && state.email === email ? state : null;
  }

  private getDummyHash(): Promise<string> {
    this.dummyHash ??= this.hasher.hash(randomUUID());
    return this.dummyHash;
  }
}

/** Every failed sign-in gets this one answer, whatever failed (no answer tells whether an email has an account). */
export function invalidCredentials(): NotAuthenticatedError {
  return new NotAuthenticatedError('Invalid email or password.', 'unauthorized');
}
