import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { randomUUID } from 'node:crypto';
import type { Role } from '../../domain/access/permissions.ts';
import { NotAuthenticatedError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { sessionDecider, sessionStream, type RevocationReason } from '../../domain/sessions/session.ts';
import { userDecider, userStream, type User, type UserEvent } from '../../domain/users/user.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { RequestContext } from '../http.ts';
import { membershipOf } from '../users/membership.ts';
import type { RecentRotations, SessionRevocations, TokenIssuer } from './ports.ts';

export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  organizationId: string;
  userId: string;
}

const invalidRefresh = () => new NotAuthenticatedError('The refresh token is invalid or expired.', 'invalid_refresh_token');

/**
 * Sign-in sessions: each login starts one, each refresh rotates its refresh token, logout and theft
 * detection end it. The session's events are the record; revocation marks make its access tokens fail at
 * once (they are checked on every request).
 *
 * The refresh token a rotation retired, presented again within the reuse grace (tabs refreshing at once, a
 * retry after a lost answer), gets the pair its first use produced (kept sealed in the ephemeral store for
 * the grace only), so concurrent refreshes with one token all get the same pair and the session lives on.
 */
@injectable()
export class Sessions {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.Tokens) private readonly tokens: TokenIssuer,
    @inject(TOKENS.SessionRevocations) private readonly revocations: SessionRevocations,
    @inject(TOKENS.RecentRotations) private readonly recent: RecentRotations,
  ) {}

  async start(user: { id: string; organizationId: string; role: Role }, context: RequestContext): Promise<SessionTokens> {
    const sessionId = randomUUID();
    const issued = await this.tokens.issue({ userId: user.id, organizationId: user.organizationId, role: user.role, sessionId });
    await this.handler.handle(
      sessionStream(sessionId),
      sessionDecider,
      {
        type: 'StartSession',
        data: {
          sessionId,
          userId: user.id,
          organizationId: user.organizationId,
          tokenId: issued.refreshTokenId,
          expiresAt: issued.refreshExpiresAt.toISOString(),
          startedAt: context.now.toISOString(),
        },
      },
      { ...context, tenantId: user.organizationId, actor: { type: 'user', id: user.id } },
      { newStream: true },
    );
    return signedIn(issued, user);
  }

  async refresh(refreshToken: string, context: RequestContext): Promise<SessionTokens> {
    const claims = await this.tokens.verifyRefresh(refreshToken);
    if (!claims) throw invalidRefresh();
    const ctx: CommandContext = { ...context, tenantId: claims.organizationId, actor: { type: 'user', id: claims.userId } };
    // The role may have changed since sign-in, and a deactivated user gets no new tokens: ask the streams.
    const { state: user } = await this.handler.load<User, UserEvent>(userStream(claims.userId), userDecider);
    const membership = user.status === 'registered' ? await membershipOf(this.handler, user.organizationId, user.id) : null;
    if (user.status !== 'registered' || !membership?.active) {
      await this.revoke(claims.sessionId, 'user_deactivated', ctx);
      throw invalidRefresh();
    }
    const newTokenId = randomUUID();
    const issued = await this.tokens.issue(
      { userId: user.id, organizationId: user.organizationId, role: membership.role, sessionId: claims.sessionId },
      claims.generation + 1,
      newTokenId,
    );
    const outcome = await this.handler.handle(
      sessionStream(claims.sessionId),
      sessionDecider,
      {
        type: 'RefreshSession',
        data: {
          sessionId: claims.sessionId,
          presented: { generation: claims.generation, tokenId: claims.tokenId },
          newTokenId,
          newExpiresAt: issued.refreshExpiresAt.toISOString(),
          now: ctx.now.toISOString(),
          passwordChangedAt: user.passwordChangedAt,
          reuseGraceMs: this.recent.graceMs,
        },
      },
      ctx,
    );
    if (outcome.appended.length === 0) {
      // The token rotated out last, back within the grace: answer what its first use got. Without that
      // answer (lost, or its first use died before keeping it) the client signs in again; the session is
      // not revoked, nothing says it was stolen.
      const first = await this.recent.recall(refreshToken);
      if (!first) throw invalidRefresh();
      return first as SessionTokens;
    }
    const revoked = outcome.appended.find((event) => event.type === 'SessionRevoked');
    if (revoked) {
      await this.revocations.revokeSession(claims.sessionId);
      if ((revoked.data as { reason: RevocationReason }).reason === 'refresh_token_reuse') {
        throw new NotAuthenticatedError('This refresh token was already used. The session has been revoked; sign in again.', 'refresh_token_reused');
      }
      throw invalidRefresh();
    }
    const answer = signedIn(issued, user);
    // If it cannot be kept (the ephemeral store is down), this client still gets its pair; another
    // presentation of the same token within the grace is then refused (401) and signs in again.
    await this.recent.remember(refreshToken, answer).catch(() => undefined);
    return answer;
  }

  async logout(sessionId: string, context: CommandContext): Promise<void> {
    await this.revoke(sessionId, 'logout', context);
  }

  /** The mark first: if the append then fails, the session is over for access tokens anyway (fail closed). */
  private async revoke(sessionId: string, reason: RevocationReason, context: CommandContext): Promise<void> {
    await this.revocations.revokeSession(sessionId);
    await this.handler.handle(sessionStream(sessionId), sessionDecider, { type: 'RevokeSession', data: { sessionId, reason } }, context);
  }
}

function signedIn(
  issued: { accessToken: string; refreshToken: string; expiresIn: number },
  user: { id: string; organizationId: string },
): SessionTokens {
  const { accessToken, refreshToken, expiresIn } = issued;
  return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn, organizationId: user.organizationId, userId: user.id };
}
