import { randomUUID } from 'node:crypto';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import { userDecider, userStream, type User, type UserEvent } from '../../domain/users/user.ts';
import type { ClaimEvent, Claim } from '../../domain/uniqueness/claim.ts';
import { claimDecider } from '../../domain/uniqueness/claim.ts';
import type { CommandContext } from '../../domain/events.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import type { CommandHandler } from '../command-handling.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';
import type { LoginAttempts, PasswordHasher } from './ports.ts';
import type { Sessions } from './sessions.ts';

export interface Registration {
  organizationName: string;
  name: string;
  email: string;
  password: string;
  timezone?: string;
}

export interface SignedIn {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  organizationId: string;
  userId: string;
}

/** A user's login email is unique across the platform (it is how login finds the account). */
const userEmailClaimStream = (email: string) => claimStreamId('userEmail', email);

/**
 * Sign-up and sign-in, decided on the command side (the read models may lag; login must not).
 *
 * Registration touches three streams (email claim, organization, user) and no event store offers a
 * transaction across streams, so the order is chosen so that a crash in between leaves nothing that blocks
 * a retry: the claim is made first and is recognised as stale if its user never came to exist.
 */
export class Accounts {
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly handler: CommandHandler,
    private readonly claims: ValueClaims,
    private readonly hasher: PasswordHasher,
    private readonly sessions: Sessions,
    private readonly attempts: LoginAttempts,
  ) {}

  async register(request: Registration, context: Omit<CommandContext, 'tenantId' | 'actor'>): Promise<SignedIn & { position: string | null }> {
    const passwordHash = await this.hasher.hash(request.password);
    const userId = randomUUID();
    const organizationId = randomUUID();
    const ctx: CommandContext = { ...context, tenantId: organizationId, actor: { type: 'user', id: userId } };

    await this.claims.claim(
      userEmailClaimStream(request.email),
      {
        ownerId: userId,
        field: 'email',
        duplicateMessage: 'An account with this email already exists',
        ownerStatus: async (ownerId) => {
          const { state } = await this.handler.load<User, UserEvent>(userStream(ownerId), userDecider);
          if (state.status === 'absent') return 'absent';
          return state.email === request.email ? 'holds' : 'released';
        },
      },
      ctx,
    );
    await this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      {
        type: 'CreateOrganization',
        data: { organizationId, name: request.organizationName, ownerUserId: userId, timezone: request.timezone ?? 'UTC' },
      },
      ctx,
    );
    const user = await this.handler.handle(
      userStream(userId),
      userDecider,
      {
        type: 'RegisterUser',
        data: { userId, organizationId, name: request.name, email: request.email, passwordHash, role: 'owner' },
      },
      ctx,
    );
    const tokens = await this.sessions.start({ id: userId, organizationId, role: 'owner' }, context);
    return { ...tokens, position: user.position };
  }

  async login(email: string, password: string, context: Omit<CommandContext, 'tenantId' | 'actor'>): Promise<SignedIn> {
    // While locked, even the right password is refused: the lock is what stops guessing.
    const lockedForMs = await this.attempts.lockedForMs(email);
    if (lockedForMs > 0) throw loginLocked(lockedForMs);
    const claim = await this.handler.load<Claim, ClaimEvent>(userEmailClaimStream(email), claimDecider);
    const ownerId = claim.state.ownerId;
    const user = ownerId ? (await this.handler.load<User, UserEvent>(userStream(ownerId), userDecider)).state : null;
    if (!user || user.status !== 'active' || user.email !== email) {
      // Same work as a real check, so response time does not tell whether the email exists.
      await this.hasher.verify(password, await this.getDummyHash());
      await this.attempts.recordFailure(email);
      throw invalidCredentials();
    }
    if (!(await this.hasher.verify(password, user.passwordHash))) {
      await this.attempts.recordFailure(email);
      throw invalidCredentials();
    }
    await this.attempts.recordSuccess(email);
    return this.sessions.start(user, context);
  }

  private getDummyHash(): Promise<string> {
    this.dummyHash ??= this.hasher.hash(randomUUID());
    return this.dummyHash;
  }
}

function loginLocked(lockedForMs: number): ProblemError {
  const seconds = Math.max(1, Math.ceil(lockedForMs / 1000));
  return new ProblemError(
    429,
    'Too many failed sign-ins',
    `Sign-in for this email is locked for ${seconds} s after repeated failures.`,
    { code: 'login_locked' },
    { 'Retry-After': String(seconds) },
  );
}

function invalidCredentials(): ProblemError {
  return ProblemError.unauthorized('Invalid email or password.');
}
