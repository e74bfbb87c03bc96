import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import type { AccessClaims } from './jwt-tokens.ts';

/**
 * Revocation marks for access tokens, in the ephemeral store. An access token is self-contained and lives
 * minutes; a mark only has to outlive the tokens it condemns, so it expires with the longest of them. The
 * business record of the revocation is the session's event; the mark is the fast path every request checks
 * (one round trip for both keys).
 */
export class SessionRevocations {
  constructor(
    private readonly store: EphemeralStore,
    /** How long an access token issued now stays valid. */
    private readonly accessTokenTtlMs: number,
  ) {}

  async revokeSession(sessionId: string): Promise<void> {
    await this.store.set(`revoked:session:${sessionId}`, '1', this.accessTokenTtlMs + 60_000);
  }

  /** Every access token of this user issued until now stops working (deactivation, password change). */
  async revokeUser(userId: string): Promise<void> {
    await this.store.set(`revoked:user:${userId}`, String(Date.now()), this.accessTokenTtlMs + 60_000);
  }

  async isRevoked(claims: Pick<AccessClaims, 'sessionId' | 'userId'> & { issuedAt?: number }): Promise<boolean> {
    const [session, user] = await this.store.getMany([`revoked:session:${claims.sessionId}`, `revoked:user:${claims.userId}`]);
    if (session !== null) return true;
    if (user === null) return false;
    // A user mark condemns tokens issued before it (a token issued after reactivation or a password reset is fine).
    return claims.issuedAt === undefined || claims.issuedAt * 1000 <= Number(user);
  }
}
