import type Koa from 'koa';
import type { RateLimitDecision, RateLimitPolicy, SlidingWindowRateLimiter } from '../ratelimit/sliding-window-rate-limiter.ts';
import { ProblemError } from './problem.ts';

export interface RateLimits {
  limiter: SlidingWindowRateLimiter;
  perIp: RateLimitPolicy;
  perTenant: RateLimitPolicy;
}

/**
 * Headers of the IETF RateLimit fields draft (the widely deployed separate-field form), describing the
 * tightest limit the request met.
 */
function describe(ctx: Koa.Context, decision: RateLimitDecision, policy: RateLimitPolicy): void {
  const shown = ctx.state.rateLimit as RateLimitDecision | undefined;
  if (shown && shown.remaining < decision.remaining) return;
  ctx.state.rateLimit = decision;
  ctx.set('RateLimit-Limit', String(decision.limit));
  ctx.set('RateLimit-Remaining', String(decision.remaining));
  ctx.set('RateLimit-Reset', String(decision.resetSeconds));
  ctx.set('RateLimit-Policy', `${policy.limit};w=${Math.round(policy.windowMs / 1000)}`);
}

async function enforce(ctx: Koa.Context, limits: RateLimits, key: string, policy: RateLimitPolicy, who: string): Promise<void> {
  const decision = await limits.limiter.consume(key, policy);
  describe(ctx, decision, policy);
  if (!decision.allowed) {
    throw new ProblemError(
      429,
      'Too many requests',
      `The rate limit of ${policy.limit} requests per ${Math.round(policy.windowMs / 1000)} s ${who} was reached; retry after ${decision.retryAfterSeconds} s.`,
      { code: 'rate_limited' },
      { 'Retry-After': String(decision.retryAfterSeconds) },
    );
  }
}

/** Every API request counts toward its client IP's limit (health probes do not come through here). */
export function perIpRateLimit(limits: RateLimits): Koa.Middleware {
  return async (ctx, next) => {
    await enforce(ctx, limits, `ip:${ctx.ip}`, limits.perIp, 'for your IP address');
    await next();
  };
}

/** Authenticated requests also count toward their organization's limit, whoever and wherever they come from. */
export async function enforceTenantRateLimit(ctx: Koa.Context, limits: RateLimits, organizationId: string): Promise<void> {
  await enforce(ctx, limits, `tenant:${organizationId}`, limits.perTenant, 'for your organization');
}
