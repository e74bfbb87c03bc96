/** Exponential backoff with full jitter, bounded: attempt 0 → up to initialMs, never above maxMs. */
export function backoffDelay(attempt: number, initialMs = 100, maxMs = 5_000): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.max(initialMs / 2, Math.round(Math.random() * ceiling));
}

/** Sleeps, waking early (without throwing) if the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * A backing service other than the database (the message broker, a provider) cannot be reached right now.
 * Like a database outage it is waited out and retried, never treated as a bad event to park.
 */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: string,
    cause: unknown,
  ) {
    super(`${dependency} is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DependencyUnavailableError';
  }
}

const TRANSIENT_PG_CODE_PREFIXES = ['08', '53', '57P', '40001', '40P01', '55P03', '58'];
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Whether an error is about reaching the database or another backing service (worth waiting and retrying)
 * rather than about the data (retrying gives the same answer). Connection loss, shutdowns, lock timeouts,
 * serialization failures, resource exhaustion and DependencyUnavailableError count as transient.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof DependencyUnavailableError) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_NODE_CODES.has(code)) return true;
    if (TRANSIENT_PG_CODE_PREFIXES.some((prefix) => code.startsWith(prefix))) return true;
  }
  return /Connection terminated|connection (?:ended|closed|lost)|timeout exceeded when trying to connect|Client has encountered a connection error|Knex: Timeout acquiring a connection|socket hang up/i.test(
    err.message,
  );
}
