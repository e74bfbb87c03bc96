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
  /** A short-lived proof that the password step of a sign-in passed (MFA comes next). */
  issueChallenge(claims: { userId: string; organizationId: string }, ttlSeconds: number): Promise<string>;
  verifyChallenge(token: string): Promise<{ userId: string; organizationId: string } | null>;
}

/**
 * Marks that make access tokens of a revoked session, of a user whose access changed, or a revoked API key
 * fail at once rather than at expiry. Checked on every authenticated request.
 */
export interface SessionRevocations {
  revokeSession(sessionId: string): Promise<void>;
  revokeUser(userId: string): Promise<void>;
  revokeApiKey(keyId: string): Promise<void>;
}

/** Brute-force protection (per login email for passwords, per user for second factors), existing or not. */
export interface LoginAttempts {
  lockedForMs(key: string): Promise<number>;
  recordFailure(key: string): Promise<void>;
  recordSuccess(key: string): Promise<void>;
}

/** Time-based one-time passwords (RFC 6238). */
export interface OneTimePasswords {
  newSecret(): string;
  uri(secret: string, account: string): string;
  /** The time step of a valid code, or null. */
  verify(secret: string, code: string, now: Date): number | null;
}

/** Encryption and keyed hashes for secrets the server keeps. */
export interface SecretBox {
  encrypt(plaintext: string, purpose: string): string;
  decrypt(sealed: string, purpose: string): string;
  mac(value: string, purpose: string): string;
}

