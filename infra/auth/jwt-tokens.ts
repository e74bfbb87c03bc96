import { randomUUID } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';

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
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly accessTtlSeconds: number,
    private readonly refreshTtlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(claims: AccessClaims): Promise<IssuedTokens> {
    const accessToken = await this.sign(claims, 'access', this.accessTtlSeconds);
    const refreshToken = await this.sign(claims, 'refresh', this.refreshTtlSeconds);
    return { accessToken, refreshToken, expiresIn: this.accessTtlSeconds };
  }

  /** The claims of a valid access token, or null (expired, forged, wrong type...). */
  async verifyAccess(token: string): Promise<AccessClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: 'at+jwt',
      });
      const { sub, org, role } = payload as { sub?: unknown; org?: unknown; role?: unknown };
      if (typeof sub !== 'string' || typeof org !== 'string' || typeof role !== 'string') return null;
      return { userId: sub, organizationId: org, role };
    } catch (err) {
      if (err instanceof errors.JOSEError) return null;
      throw err;
    }
  }

  private sign(claims: AccessClaims, type: 'access' | 'refresh', ttlSeconds: number): Promise<string> {
    return new SignJWT({ org: claims.organizationId, role: claims.role })
      .setProtectedHeader({ alg: 'HS256', typ: type === 'access' ? 'at+jwt' : 'rt+jwt' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(this.key);
  }
}
