import { TOKENS } from '../di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';

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
    const { limit, windowMs } = policy;
    const now = this.now();
    const index = Math.floor(now / windowMs);
    const elapsed = (now - index * windowMs) / windowMs;
    const currentKey = `rl:${key}:${index}`;
    // Each window's counter is needed during the next one too. One round trip for both.
    const [current, previousValue] = await this.store.incrementAndPeek(currentKey, 2 * windowMs, `rl:${key}:${index - 1}`);
    const previous = Number(previousValue ?? 0);
    const weighted = previous * (1 - elapsed) + current;
    const resetSeconds = Math.max(1, Math.ceil(((1 - elapsed) * windowMs) / 1000));
    if (weighted <= limit) {
      return { allowed: true, limit, remaining: Math.max(0, Math.floor(limit - weighted)), resetSeconds, retryAfterSeconds: 0 };
    }
    await this.store.increment(currentKey, 2 * windowMs, -1);
    return { allowed: false, limit, remaining: 0, resetSeconds, retryAfterSeconds: retryAfter(previous, current, limit, elapsed, windowMs) };
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
