import type Koa from 'koa';
import type { Principal } from '../../domain/access/principal.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ProblemError } from './problem.ts';
import { refusedByLimit, describeLimit, type RateLimits } from './rate-limits.ts';

export type Credential = { bearer: string } | { apiKey: string };

/** A caller whose credential checks out, pending the revocation marks it depends on. */
export interface PreparedPrincipal {
  principal: Principal;
  /** Ephemeral-store keys to read; `stands` decides from their values (in this order). */
  marks: string[];
  stands(values: readonly (string | null)[]): boolean;
}

/** Establishes who presents a credential: an access token of a live session, or a live API key. */
export interface PrincipalAuthenticator {
  /** The principal, or null when the credential is invalid, expired or revoked. */
  authenticate(credential: Credential, request: { ip: string }): Promise<Principal | null>;
  /** The principal and the marks still to read, or null when the credential is invalid or expired. */
  prepare?(credential: Credential, request: { ip: string }): Promise<PreparedPrincipal | null>;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/** The credential of a request, or why there is none (a 401 to give once the IP's limit is counted). */
function credentialOf(ctx: Koa.Context): Credential | ProblemError {
  const header = ctx.get('Authorization');
  const apiKey = ctx.get('X-API-Key');
  if (header) {
    const match = BEARER.exec(header);
    return match ? { bearer: match[1]! } : ProblemError.unauthorized('The Authorization header is not a Bearer token.');
  }
  if (apiKey) return { apiKey: apiKey.trim() };
  return ProblemError.unauthorized('Authentication required.');
}

const invalid = () => ProblemError.unauthorized('The access token or API key is invalid, expired or revoked.');

/**
 * The gateway of an authenticated route, in ONE round trip to the ephemeral store on the usual path: the
 * credential is checked without one (an access token's signature; an API key through its own cache), then
 * its revocation marks, the client IP's window and the organization's window are read and counted together.
 * Then, as before: a client over its IP's limit gets 429 (also with a bad credential), a revoked or invalid
 * credential 401, an organization over its limit 429; a refused request is taken back out of the counts it
 * did not pass. Puts the caller in ctx.state.auth.
 */
export function authenticate(authenticator: PrincipalAuthenticator, limits: RateLimits, metrics?: Metrics): Koa.Middleware {
  const ipPolicy = limits.perIp;
  return async (ctx, next) => {
    const done = metrics?.layer('authentication_and_limits');
    const credential = credentialOf(ctx);
    const prepared =
      credential instanceof ProblemError
        ? null
        : authenticator.prepare
          ? await authenticator.prepare(credential, { ip: ctx.ip })
          : await authenticator
              .authenticate(credential, { ip: ctx.ip })
              .then((principal) => (principal ? { principal, marks: [], stands: () => true } : null));
    const ip = limits.limiter.window(`ip:${ctx.ip}`, ipPolicy);
    if (!prepared) {
      // No caller: the IP's window alone.
      const [answer] = (await limits.store.gatewayRound([], [ip.step])).counters;
      const decision = ip.decide(answer!);
      describeLimit(ctx, decision, ipPolicy);
      if (!decision.allowed) {
        await ip.uncount();
        done?.();
        throw refusedByLimit(decision, ipPolicy, 'for your IP address');
      }
      done?.();
      throw credential instanceof ProblemError ? credential : invalid();
    }
    const tenantPolicy = limits.perTenant;
    const tenant = limits.limiter.window(`tenant:${prepared.principal.organizationId}`, tenantPolicy);
    const round = await limits.store.gatewayRound(prepared.marks, [ip.step, tenant.step]);
    const ipDecision = ip.decide(round.counters[0]!);
    const tenantDecision = tenant.decide(round.counters[1]!);
    if (!ipDecision.allowed) {
      describeLimit(ctx, ipDecision, ipPolicy);
      await Promise.all([ip.uncount(), tenant.uncount()]);
      done?.();
      throw refusedByLimit(ipDecision, ipPolicy, 'for your IP address');
    }
    if (!prepared.stands(round.marks)) {
      describeLimit(ctx, ipDecision, ipPolicy);
      // A revoked credential does not count against the organization (it was refused before, as before).
      await tenant.uncount();
      done?.();
      throw invalid();
    }
    // The tighter of the two limits is the one the headers describe (the organization's on a tie).
    if (tenantDecision.remaining <= ipDecision.remaining) describeLimit(ctx, tenantDecision, tenantPolicy);
    else describeLimit(ctx, ipDecision, ipPolicy);
    if (!tenantDecision.allowed) {
      await tenant.uncount();
      done?.();
      throw refusedByLimit(tenantDecision, tenantPolicy, 'for your organization');
    }
    ctx.state.auth = prepared.principal;
    done?.();
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
