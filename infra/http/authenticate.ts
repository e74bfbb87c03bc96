import type Koa from 'koa';
import type { Principal } from '../../domain/access/principal.ts';
import { ProblemError } from './problem.ts';

/** Establishes who presents a credential: an access token of a live session, or a live API key. */
export interface PrincipalAuthenticator {
  /** The principal, or null when the credential is invalid, expired or revoked. */
  authenticate(credential: { bearer: string } | { apiKey: string }, request: { ip: string }): Promise<Principal | null>;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/**
 * Requires `Authorization: Bearer <access token or API key>` (or `X-API-Key: <API key>`) and puts the caller
 * in ctx.state.auth. A token whose session was revoked (logout, refresh-token theft), whose user was
 * deactivated or changed role, or a revoked API key, is refused even though it is otherwise well formed.
 */
export function authenticate(authenticator: PrincipalAuthenticator): Koa.Middleware {
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    const apiKey = ctx.get('X-API-Key');
    let credential: { bearer: string } | { apiKey: string };
    if (header) {
      const match = BEARER.exec(header);
      if (!match) throw ProblemError.unauthorized('The Authorization header is not a Bearer token.');
      credential = { bearer: match[1]! };
    } else if (apiKey) {
      credential = { apiKey: apiKey.trim() };
    } else {
      throw ProblemError.unauthorized('Authentication required.');
    }
    const principal = await authenticator.authenticate(credential, { ip: ctx.ip });
    if (!principal) throw ProblemError.unauthorized('The access token or API key is invalid, expired or revoked.');
    ctx.state.auth = principal;
    await next();
  };
}

export function authOf(ctx: Koa.Context): Principal {
  const auth = ctx.state.auth as Principal | undefined;
  if (!auth) throw ProblemError.unauthorized('Authentication required.');
  return auth;
}

/** The signed-in user; routes of one's own account are for users, never API keys (see account:self). */
export function userOf(ctx: Koa.Context): Extract<Principal, { kind: 'user' }> {
  const auth = authOf(ctx);
  if (auth.kind !== 'user') throw ProblemError.forbidden('Only a signed-in user can do this, not an API key.');
  return auth;
}
