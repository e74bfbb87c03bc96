import pRetry from 'p-retry';

/**
 * How long to pause between tries: before retry n (n = 1 for the first) the pause is
 * min(maxDelayMs, initialDelayMs × 2^(n−1)), multiplied by a random factor in [1, 2) when `jitter` is on.
 * This is p-retry's own formula (it runs every retry loop here); `backoffDelayMs` applies it where a retry is
 * scheduled rather than waited for.
 */
export interface Backoff {
  /** The pause before the first retry; 0 retries at once (and every time). */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Spreads retriers that failed together apart, so they do not collide again. */
  readonly jitter: boolean;
}

export interface RetryPolicy extends Backoff {
  /** Tries in all, the first included; Infinity: until the work succeeds or the signal aborts. */
  readonly attempts: number;
}

/** Every retry loop of the system names one of these. */
export const retryPolicies = {
  /**
   * A command lost the race for its stream (someone appended between our read and our write): read and
   * decide again at once, a few times. Also a unique-value claim judged again on what the claim stream holds.
   */
  conflict: { attempts: 4, initialDelayMs: 0, maxDelayMs: 0, jitter: false },
  /**
   * The hash chain made an expectation exact itself (to link to one predecessor) and lost the race for the
   * stream's tip: read the new tip and link again at once.
   */
  chainTip: { attempts: 6, initialDelayMs: 0, maxDelayMs: 0, jitter: false },
  /** Work nobody waits for (done in the background) whose stream keeps moving: pause, growing, between tries. */
  backgroundConflict: { attempts: 6, initialDelayMs: 25, maxDelayMs: 2_000, jitter: true },
  /** One event a projection failed to apply with a bug (not the data, not an outage): a few tries, then it is parked. */
  parking: { attempts: 3, initialDelayMs: 25, maxDelayMs: 1_000, jitter: true },
  /**
   * A backing service is unreachable (the database under a subscription, the notification listener's
   * connection, the workflow queue, the scheduler's table): wait it out, as long as it takes, up to 5 s apart.
   */
  outage: { attempts: Infinity, initialDelayMs: 50, maxDelayMs: 5_000, jitter: true },
  /**
   * A concurrent request is about to store what this one needs (a rotated refresh token's answer): quick
   * looks, bounded by the caller's deadline rather than by a count.
   */
  concurrentAnswer: { attempts: Infinity, initialDelayMs: 5, maxDelayMs: 100, jitter: false },
  /**
   * An AI provider answered 5xx or 429, or timed out: once more after a short pause (someone waits for the
   * answer), then the next provider of the route.
   */
  aiProvider: { attempts: 2, initialDelayMs: 200, maxDelayMs: 1_000, jitter: true },
} as const satisfies Record<string, RetryPolicy>;

export interface RetryOptions {
  /** Whether this failure is worth another try (default: every failure is). */
  retryIf?(error: unknown, attempt: number): boolean;
  /** Told of each failure that will be tried again, before the pause. */
  onRetry?(error: unknown, attempt: number): void;
  /** Stops the pause and the tries: the answer is then the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Runs `work` (told which try it is, 1 for the first) until it succeeds, `retryIf` refuses a failure, or the
 * policy's attempts are spent; then throws the last failure as `work` threw it.
 */
export async function retrying<T>(policy: RetryPolicy, work: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await work(attempt);
        } catch (error) {
          throw new Failure(error);
        }
      },
      {
        retries: policy.attempts - 1,
        minTimeout: policy.initialDelayMs,
        maxTimeout: policy.maxDelayMs,
        factor: 2,
        randomize: policy.jitter,
        ...(options.signal ? { signal: options.signal } : {}),
        // p-retry asks this only when tries are left, right before its pause: the place to report a retry.
        shouldRetry: ({ error, attemptNumber }) => {
          const cause = unwrap(error);
          if (options.retryIf && !options.retryIf(cause, attemptNumber)) return false;
          options.onRetry?.(cause, attemptNumber);
          return true;
        },
      },
    );
  } catch (err) {
    throw unwrap(err);
  }
}

/** The pause before retry `retry` (1 for the first), for retries scheduled as a due time instead of awaited. */
export function backoffDelayMs(backoff: Backoff, retry: number): number {
  const random = backoff.jitter ? Math.random() + 1 : 1;
  return Math.min(backoff.maxDelayMs, Math.round(random * backoff.initialDelayMs * 2 ** Math.min(Math.max(0, retry - 1), 30)));
}

/**
 * What `work` threw, carried through p-retry: p-retry never retries a TypeError (it takes it for a
 * programming error) and turns a thrown non-Error into one, but a bug in a projection is exactly what the
 * parking policy retries, and callers must get back what was thrown.
 */
class Failure extends Error {
  constructor(readonly thrown: unknown) {
    super('retrying: an attempt failed', { cause: thrown });
  }
}

function unwrap(err: unknown): unknown {
  return err instanceof Failure ? err.thrown : err;
}
