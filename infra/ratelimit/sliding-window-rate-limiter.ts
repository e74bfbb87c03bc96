import { TOKENS } from '../di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { CounterStep, EphemeralStore } from '../ephemeral/ephemeral-store.ts';

export interface RateLimitPolicy {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in the window as it slides now. */
  remaining: number;
  /** Seconds until the current window ends (RateLimit-Reset). */
  resetSeconds: number;
  /** When refused: seconds until a request would be allowed (Retry-After). */
  retryAfterSeconds: number;
}

export interface RateLimitWindow {
  step: CounterStep;
  decide(answer: [count: number, previous: string | null]): RateLimitDecision;
  uncount(): Promise<void>;
}

/**
 * A sliding-window counter (the approximation Cloudflare and others use): the count of the current fixed
 * window plus the previous window's count weighted by how much of it still lies inside the sliding window.
 * Unlike a plain fixed window it does not let a client spend two windows' worth at a window boundary, and it
 * needs only a counter per window, on any EphemeralStore (Redis or the in-process stand-in). Refused requests
 * are not counted, so a client that backs off as told gets through.
 *
 * (rate-limiter-flexible, the usual library, counts fixed windows only; this is the part it lacks.)
 */
@injectable()
export class SlidingWindowRateLimiter {
  constructor(
    @inject(TOKENS.Ephemeral) private readonly store: EphemeralStore,
    private readonly now: () => number = Date.now,
  ) {}

  async consume(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    const window = this.window(key, policy);
    // Each window's counter is needed during the next one too. One round trip for both.
    const decision = window.decide(await this.store.incrementAndPeek(window.step.key, window.step.ttlMs, window.step.peekKey));
    if (!decision.allowed) await window.uncount();
    return decision;
  }

  /**
   * One request's step on a window, to run with others in one round trip (EphemeralStore.gatewayRound):
   * the counter to move, how to decide from what it answered, and how to take the request back out of the
   * count (a refused request is not counted, by this window or by another one that refused it).
   */
  window(key: string, policy: RateLimitPolicy): RateLimitWindow {
    const { limit, windowMs } = policy;
    const now = this.now();
    const index = Math.floor(now / windowMs);
    const elapsed = (now - index * windowMs) / windowMs;
    const step: CounterStep = { key: `rl:${key}:${index}`, ttlMs: 2 * windowMs, peekKey: `rl:${key}:${index - 1}` };
    return {
      step,
      decide: ([current, previousValue]) => {
        const previous = Number(previousValue ?? 0);
        const weighted = previous * (1 - elapsed) + current;
        const resetSeconds = Math.max(1, Math.ceil(((1 - elapsed) * windowMs) / 1000));
        if (weighted <= limit) {
          return { allowed: true, limit, remaining: Math.max(0, Math.floor(limit - weighted)), resetSeconds, retryAfterSeconds: 0 };
        }
        return { allowed: false, limit, remaining: 0, resetSeconds, retryAfterSeconds: retryAfter(previous, current, limit, elapsed, windowMs) };
      },
      uncount: async () => {
        await this.store.increment(step.key, step.ttlMs, -1);
      },
    };
  }
}

/**
 * Seconds until the same request would fit: within this window once enough of the previous window has slid
 * out, or else in the next window, where this window's count becomes the one that slides out.
 */
function retryAfter(previous: number, current: number, limit: number, elapsed: number, windowMs: number): number {
  let waitMs: number;
  if (current <= limit && previous > 0) {
    const fitsAt = 1 - (limit - current) / previous;
    waitMs = (fitsAt - elapsed) * windowMs;
  } else {
    const fitsAt = current - 1 > 0 ? Math.max(0, 1 - (limit - 1) / (current - 1)) : 0;
    waitMs = (1 - elapsed + fitsAt) * windowMs;
  }
  return Math.max(1, Math.ceil(waitMs / 1000));
}
