import { randomUUID, webcrypto } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';

export interface AccessClaims {
  userId: string;
  organizationId: string;
  role: string;
  /** The sign-in session the token belongs to (logout and theft detection revoke it). */
  sessionId: string;
  /** When the token was issued (ms since epoch), for marks that condemn older tokens. */
  issuedAtMs?: number;
}

/** What an MFA challenge says: who passed the password step, to finish with a second factor. */
export interface ChallengeClaims {
  userId: string;
  organizationId: string;
}

/** What a refresh token says: its session, its generation in the rotation, and its own id. */
export interface RefreshClaims extends AccessClaims {
  generation: number;
  tokenId: string;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  /** The refresh token's id and expiry, recorded in the session. */
  refreshTokenId: string;
  refreshExpiresAt: Date;
}

const ISSUER = 'nexusflow';
const AUDIENCE = 'nexusflow-api';

/**
 * Short-lived access tokens and longer-lived refresh tokens, HMAC-SHA256 signed. Verification pins the
 * algorithm (so "alg: none" and algorithm confusion are refused), the issuer, the audience and the token
 * type, so a refresh token is never accepted as an access token.
 */
export class JwtTokens {
  /** Imported once: importing the raw secret on every verification cost more than the HMAC itself. */
  private readonly key: Promise<webcrypto.CryptoKey>;

  constructor(
    secret: string,
    private readonly accessTtlSeconds: number,
    private readonly refreshTtlSeconds: number,
  ) {
    this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  /** An access token and the refresh token of `generation` in the session's rotation. */
  async issue(claims: AccessClaims, generation = 0, refreshTokenId: string = randomUUID()): Promise<IssuedTokens> {
    const accessToken = await this.sign(claims, 'access', this.accessTtlSeconds, {}, randomUUID());
    const refreshExpiresAt = new Date(Date.now() + this.refreshTtlSeconds * 1000);
    const refreshToken = await this.sign(claims, 'refresh', this.refreshTtlSeconds, { gen: generation }, refreshTokenId);
    return { accessToken, refreshToken, expiresIn: this.accessTtlSeconds, refreshTokenId, refreshExpiresAt };
  }

  /**
   * An access token alone, with no refresh token: it cannot outlive its time to live (a staff member's
   * read-only look into an organization).
   */
  async issueAccessOnly(claims: AccessClaims): Promise<{ accessToken: string; expiresIn: number }> {
    return { accessToken: await this.sign(claims, 'access', this.accessTtlSeconds, {}, randomUUID()), expiresIn: this.accessTtlSeconds };
  }

  /** The claims of a valid refresh token, or null. Never accepts an access token. */
  async verifyRefresh(token: string): Promise<RefreshClaims | null> {
    try {
      const { payload } = await jwtVerify(token, await this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, typ: 'rt+jwt' });
      const { sub, org, role, sid, gen, jti } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof org !== 'string' || typeof role !== 'string' || typeof sid !== 'string') return null;
      if (typeof gen !== 'number' || !Number.isInteger(gen) || gen < 0 || typeof jti !== 'string') return null;
      return { userId: sub, organizationId: org, role, sessionId: sid, generation: gen, tokenId: jti };
    } catch (err) {
      if (err instanceof errors.JOSEError) return null;
      throw err;
    }
  }

  /**
   * Tokens already verified, until they expire. A client sends the same token on every request for its
   * lifetime; the signature check and claim parsing cost more than the rest of a simple command. A token's
   * bytes fully determine its validity (bar expiry, which the cache keeps), so caching the answer is exact.
   */
  private readonly verified = new LRUCache<string, AccessClaims>({ max: 10_000, ttlAutopurge: false });

  /** The claims of a valid access token, or null (expired, forged, wrong type...). */
  async verifyAccess(token: string): Promise<AccessClaims | null> {
    const known = this.verified.get(token);
    if (known) return known;
    try {
      const { payload } = await jwtVerify(token, await this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: 'at+jwt',
      });
      const { sub, org, role, sid, exp, iat, iat_ms } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof org !== 'string' || typeof role !== 'string' || typeof sid !== 'string') return null;
      // Milliseconds, so a mark set a moment before a new token was issued does not condemn it.
      const issuedAtMs = typeof iat_ms === 'number' ? iat_ms : typeof iat === 'number' ? iat * 1000 : undefined;
      const claims: AccessClaims = { userId: sub, organizationId: org, role, sessionId: sid, ...(issuedAtMs !== undefined ? { issuedAtMs } : {}) };
      if (typeof exp === 'number') {
        const ttl = exp * 1000 - Date.now();
        if (ttl > 0) this.verified.set(token, claims, { ttl });
      }
      return claims;
    } catch (err) {
      if (err instanceof errors.JOSEError) return null;
      throw err;
    }
  }

  /** A short-lived token that proves the password step of a sign-in, to be finished with a second factor. */
  async issueChallenge(claims: ChallengeClaims, ttlSeconds: number): Promise<string> {
    return new SignJWT({ org: claims.organizationId })
      .setProtectedHeader({ alg: 'HS256', typ: 'mfa+jwt' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(await this.key);
  }

  async verifyChallenge(token: string): Promise<ChallengeClaims | null> {
    try {
      const { payload } = await jwtVerify(token, await this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, typ: 'mfa+jwt' });
      const { sub, org } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof org !== 'string') return null;
      return { userId: sub, organizationId: org };
    } catch (err) {
      if (err instanceof errors.JOSEError) return null;
      throw err;
    }
  }

  private async sign(
    claims: AccessClaims,
    type: 'access' | 'refresh',
    ttlSeconds: number,
    extra: Record<string, unknown>,
    tokenId: string,
  ): Promise<string> {
    const key = await this.key;
    const issuedAt = type === 'access' ? { iat_ms: Date.now() } : {};
    return new SignJWT({ org: claims.organizationId, role: claims.role, sid: claims.sessionId, ...issuedAt, ...extra })
      .setProtectedHeader({ alg: 'HS256', typ: type === 'access' ? 'at+jwt' : 'rt+jwt' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .setJti(tokenId)
      .sign(key);
  }
}
