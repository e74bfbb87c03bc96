/** Memory-hard password hashing (slow on purpose). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

export interface TokenIssuer {
  issue(
    claims: { userId: string; organizationId: string; role: string; sessionId: string },
    generation?: number,
    refreshTokenId?: string,
  ): Promise<{ accessToken: string; refreshToken: string; expiresIn: number; refreshTokenId: string; refreshExpiresAt: Date }>;
  verifyRefresh(token: string): Promise<{
    userId: string;
    organizationId: string;
    role: string;
    sessionId: string;
    generation: number;
    tokenId: string;
  } | null>;
}

/**
 * Marks that make access tokens of a revoked session (or a deactivated user) fail at once rather than at
 * expiry. Checked on every authenticated request.
 */
export interface SessionRevocations {
  revokeSession(sessionId: string): Promise<void>;
}

/** Brute-force protection for password sign-in (per login email, existing or not). */
export interface LoginAttempts {
  lockedForMs(email: string): Promise<number>;
  recordFailure(email: string): Promise<void>;
  recordSuccess(email: string): Promise<void>;
}
