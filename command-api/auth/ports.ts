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

/**
 * Brute-force protection (per login email for passwords, per user for second factors), existing or not.
 * An attempt is counted BEFORE its secret is checked, atomically, so concurrent guesses cannot all slip in
 * before the lock: past the limit they are refused without running the (slow) check.
 */
export interface LoginAttempts {
  /**
   * Counts an attempt about to be checked. 0: go ahead and check (a failure needs no further call: it was
   * counted); more: locked for that many milliseconds, do not check.
   */
  begin(key: string): Promise<number>;
  /** The attempt succeeded, or the owner proved themselves otherwise (a reset, a full sign-in): forget the failures and lift the lock. */
  clear(key: string): Promise<void>;
}

/**
 * What a refresh answered, kept sealed for the reuse grace, keyed by a hash of the refresh token presented:
 * the same token presented again within the grace gets the same answer.
 */
export interface RecentRotations {
  /** How long after a rotation its retired token may come back (0: never). */
  readonly graceMs: number;
  remember(presentedToken: string, answer: object): Promise<void>;
  /** The answer kept for this token, waiting a moment for a concurrent first use to keep it; null when none. */
  recall(presentedToken: string): Promise<object | null>;
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
