import type Koa from 'koa';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import type { RateLimitDecision, RateLimitPolicy, SlidingWindowRateLimiter } from '../ratelimit/sliding-window-rate-limiter.ts';
import { ProblemError } from './problem.ts';

export interface RateLimits {
  limiter: SlidingWindowRateLimiter;
  /** Where the windows live: the gateway counts them with the revocation marks in one round trip. */
  store: EphemeralStore;
  perIp: RateLimitPolicy;
  perTenant: RateLimitPolicy;
}

/**
 * Headers of the IETF RateLimit fields draft (the widely deployed separate-field form), describing the
 * tightest limit the request met.
 */
export function describeLimit(ctx: Koa.Context, decision: RateLimitDecision, policy: RateLimitPolicy): void {
  const shown = ctx.state.rateLimit as RateLimitDecision | undefined;
  if (shown && shown.remaining < decision.remaining) return;
  ctx.state.rateLimit = decision;
  ctx.set('RateLimit-Limit', String(decision.limit));
  ctx.set('RateLimit-Remaining', String(decision.remaining));
  ctx.set('RateLimit-Reset', String(decision.resetSeconds));
  ctx.set('RateLimit-Policy', `${policy.limit};w=${Math.round(policy.windowMs / 1000)}`);
}

export function refusedByLimit(decision: RateLimitDecision, policy: RateLimitPolicy, who: string): ProblemError {
  return new ProblemError(
    429,
    'Too many requests',
    `The rate limit of ${policy.limit} requests per ${Math.round(policy.windowMs / 1000)} s ${who} was reached; retry after ${decision.retryAfterSeconds} s.`,
    { code: 'rate_limited' },
    { 'Retry-After': String(decision.retryAfterSeconds) },
  );
}

/**
 * Requests that authenticate nobody (sign-in, sign-up, the OpenAPI document, unknown routes) count toward
 * their client IP's limit here; authenticated routes count it in the gateway's round (authenticate.ts).
 * Health probes do not come through either.
 */
export function perIpRateLimit(limits: RateLimits): Koa.Middleware {
  return async (ctx, next) => {
    const decision = await limits.limiter.consume(`ip:${ctx.ip}`, limits.perIp);
    describeLimit(ctx, decision, limits.perIp);
    if (!decision.allowed) throw refusedByLimit(decision, limits.perIp, 'for your IP address');
    await next();
  };
}
