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

/**
 * SQLSTATEs that say the database could not be reached or could not do the work right now, whatever the data:
 * connection failures (class 08, except 08P01), resource exhaustion (53), shutdowns and cancellations (57P01-3,
 * 57014), serialization failures and deadlocks (40001, 40P01), lock timeouts (55P03), system I/O (58).
 */
const TRANSIENT_PG_CODES = new Set([
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08007',
  '57P01',
  '57P02',
  '57P03',
  '57014',
  '40001',
  '40P01',
  '55P03',
]);
const TRANSIENT_PG_CLASSES = ['53', '58'];
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function codeOf(err: Error): string | null {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

/**
 * Whether an error is about reaching the database or another backing service (worth waiting and retrying)
 * rather than about the data (retrying gives the same answer). Classified by what the error is, not by a
 * SQLSTATE prefix alone: 08P01 (protocol violation) shares class 08 with connection loss, but a value the
 * server cannot take in a message (a NUL in text) raises it, and it fails the same way every time.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof DependencyUnavailableError) return true;
  const code = codeOf(err);
  if (code !== null) {
    if (TRANSIENT_NODE_CODES.has(code) || TRANSIENT_PG_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_PG_CLASSES.includes(code.slice(0, 2));
  }
  return /Connection terminated|connection (?:ended|closed|lost)|timeout exceeded when trying to connect|Client has encountered a connection error|Knex: Timeout acquiring a connection|socket hang up/i.test(
    err.message,
  );
}

/**
 * Whether an error is caused by the data itself, so that trying again can only fail again: data exceptions
 * (class 22: bad text, numbers out of range, invalid JSON), integrity violations (23), a protocol violation
 * raised by a value (08P01), program limits such as an index row too large (54), and JSON that does not parse.
 * A projection parks such an event at once and moves on.
 */
export function isDataError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof SyntaxError) return true;
  const code = codeOf(err);
  if (code === null) return false;
  return code === '08P01' || (/^[0-9A-Z]{5}$/.test(code) && ['22', '23', '54'].includes(code.slice(0, 2)));
}
