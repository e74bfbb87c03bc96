import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';

/**
 * Revocation marks, in the ephemeral store. An access token is self-contained and lives minutes; a mark
 * only has to outlive the tokens it condemns, so it expires with the longest of them. API keys are checked
 * against their stream too (see ApiKeyVerifier); their mark only has to outlive that check's cache, and a
 * user's mark (which outlives it too) tells that cache to read again the role of the keys' creator. The
 * business record of every revocation is an event; the marks are the fast path every request checks, in one
 * round trip.
 */
/** What a revocation mark is checked against: the token's session, user and time of issue. */
export interface TokenClaims {
  sessionId: string;
  userId: string;
  issuedAtMs?: number;
}

export class SessionRevocations {
  constructor(
    private readonly store: EphemeralStore,
    /** How long an access token issued now stays valid. */
    private readonly accessTokenTtlMs: number,
    /** How long a verified API key is trusted without reading its stream again. */
    private readonly apiKeyCacheMs: number,
  ) {}

  async revokeSession(sessionId: string): Promise<void> {
    await this.store.set(`revoked:session:${sessionId}`, '1', this.accessTokenTtlMs + 60_000);
  }

  /**
   * Every access token of this user issued until now stops working (deactivation, role or password change);
   * a token issued afterwards (a refresh with the new role) is fine.
   */
  async revokeUser(userId: string): Promise<void> {
    await this.store.set(`revoked:user:${userId}`, String(Date.now()), this.accessTokenTtlMs + 60_000);
  }

  async revokeApiKey(keyId: string): Promise<void> {
    await this.store.set(`revoked:apiKey:${keyId}`, '1', this.apiKeyCacheMs + 60_000);
  }

  async isRevoked(claims: TokenClaims): Promise<boolean> {
    return SessionRevocations.revokedBy(claims, await this.store.getMany(SessionRevocations.marksOf(claims)));
  }

  /** The values of some marks (one round trip). */
  readMarks(marks: readonly string[]): Promise<(string | null)[]> {
    return marks.length === 0 ? Promise.resolve([]) : this.store.getMany(marks);
  }

  /** The marks an access token's validity depends on (read with others in one round trip by the gateway). */
  static marksOf(claims: TokenClaims): string[] {
    return [`revoked:session:${claims.sessionId}`, `revoked:user:${claims.userId}`];
  }

  /** Whether the marks' values (in marksOf's order) revoke the token. */
  static revokedBy(claims: TokenClaims, [session, user]: readonly (string | null)[]): boolean {
    if (session !== null && session !== undefined) return true;
    if (user === null || user === undefined) return false;
    return claims.issuedAtMs === undefined || claims.issuedAtMs <= Number(user);
  }

  async isApiKeyRevoked(keyId: string): Promise<boolean> {
    return (await this.store.get(`revoked:apiKey:${keyId}`)) !== null;
  }

  /**
   * What an API key's use depends on, in one round trip: whether any key of its chain (the key, the key that
   * created it, ...) was revoked, and the access-change mark of the user at the root of the chain (its value
   * changes whenever that user's role or status changes).
   */
  async apiKeyMarks(keyIds: readonly string[], userId: string | null): Promise<{ keyRevoked: boolean; userMark: string | null }> {
    const keys = keyIds.map((keyId) => `revoked:apiKey:${keyId}`);
    const values = await this.store.getMany(userId === null ? keys : [...keys, `revoked:user:${userId}`]);
    return {
      keyRevoked: values.slice(0, keys.length).some((value) => value !== null),
      userMark: userId === null ? null : (values[keys.length] ?? null),
    };
  }
}
