import { randomUUID, webcrypto } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';

export interface AccessClaims {
  userId: string;
  organizationId: string;
  role: string;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
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
    this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
  }

  async issue(claims: AccessClaims): Promise<IssuedTokens> {
    const accessToken = await this.sign(claims, 'access', this.accessTtlSeconds);
    const refreshToken = await this.sign(claims, 'refresh', this.refreshTtlSeconds);
    return { accessToken, refreshToken, expiresIn: this.accessTtlSeconds };
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
      const { sub, org, role, exp } = payload as { sub?: unknown; org?: unknown; role?: unknown; exp?: unknown };
      if (typeof sub !== 'string' || typeof org !== 'string' || typeof role !== 'string') return null;
      const claims = { userId: sub, organizationId: org, role };
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

  private async sign(claims: AccessClaims, type: 'access' | 'refresh', ttlSeconds: number): Promise<string> {
    const key = await this.key;
    return new SignJWT({ org: claims.organizationId, role: claims.role })
      .setProtectedHeader({ alg: 'HS256', typ: type === 'access' ? 'at+jwt' : 'rt+jwt' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(key);
  }
}
