import type Koa from 'koa';
import type { AccessClaims } from '../auth/jwt-tokens.ts';
import { ProblemError } from './problem.ts';

export interface AccessTokenVerifier {
  verifyAccess(token: string): Promise<AccessClaims | null>;
}

export interface RevocationCheck {
  isRevoked(claims: AccessClaims): Promise<boolean>;
}

/**
 * Requires `Authorization: Bearer <access token>` and puts the caller in ctx.state.auth. A token whose
 * session was revoked (logout, refresh-token theft) or whose user was deactivated is refused even though
 * its signature and expiry are fine.
 */
export function authenticate(verifier: AccessTokenVerifier, revocations: RevocationCheck): Koa.Middleware {
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (!match) throw ProblemError.unauthorized(header ? 'The Authorization header is not a Bearer token.' : 'Authentication required.');
    const claims = await verifier.verifyAccess(match[1]!);
    if (!claims) throw ProblemError.unauthorized('The access token is invalid or expired.');
    if (await revocations.isRevoked(claims)) throw ProblemError.unauthorized('The session of this access token has ended.');
    ctx.state.auth = claims;
    await next();
  };
}

export function authOf(ctx: Koa.Context): AccessClaims {
  const auth = ctx.state.auth as AccessClaims | undefined;
  if (!auth) throw ProblemError.unauthorized('Authentication required.');
  return auth;
}
