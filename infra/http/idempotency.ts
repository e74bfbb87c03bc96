import { hash } from 'node:crypto';
import type Koa from 'koa';
import type { Principal } from '../../domain/access/principal.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ProblemError } from './problem.ts';

const KEY = /^[\x21-\x7e]{1,255}$/;
/** Replayed response headers: what a client reads from a command's answer. */
const KEPT_HEADERS = ['etag', 'location', 'cache-control', 'content-type'];

interface InProgress {
  state: 'processing';
  fingerprint: string;
}

interface Done {
  state: 'done';
  fingerprint: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface IdempotencyOptions {
  /** How long an answer is kept for replay (24 h). */
  retentionMs: number;
  /** How long a request in flight holds its key; a process that dies mid-request frees it after this. */
  lockMs: number;
}

/**
 * `Idempotency-Key` on commands (the IETF httpapi draft's semantics, as Stripe popularised them): the first
 * answer to a key is kept, and a retry with the same key and the same request gets that answer again
 * (`Idempotent-Replayed: true`) instead of doing the work twice. The same key with a different request is a
 * client bug: 422. A retry while the first is still running: 409 with Retry-After. Keys are scoped to the
 * caller (organization and actor; the IP for unauthenticated calls), so clients cannot collide.
 *
 * Errors are not kept: a failed command left nothing behind (commands are all or nothing), so a retry runs
 * it again.
 */
export function idempotency(store: EphemeralStore, options: IdempotencyOptions, metrics: Pick<Metrics, 'layer'> | null = null): Koa.Middleware {
  return async (ctx, next) => {
    const key = ctx.get('Idempotency-Key');
    if (!key) return next();
    if (!KEY.test(key)) {
      throw ProblemError.validation([{ name: 'Idempotency-Key', reason: 'must be 1 to 255 visible ASCII characters (a UUID is a good choice)' }]);
    }
    const principal = ctx.state.auth as Principal | undefined;
    const scope = principal ? `${principal.organizationId}:${principal.kind === 'user' ? principal.userId : principal.keyId}` : `anonymous:${ctx.ip}`;
    const storeKey = `idem:${scope}:${sha256(key)}`;
    const rawBody = (ctx.request as { rawBody?: string }).rawBody ?? '';
    const fingerprint = sha256(`${ctx.method} ${ctx.url}\n${rawBody}`);

    // Timed as the `idempotency` layer in two passes, a Redis round trip each: the claim, and the answer kept.
    const claiming = metrics?.layer('idempotency');
    const claimed = await store.set(storeKey, JSON.stringify({ state: 'processing', fingerprint } satisfies InProgress), options.lockMs, {
      onlyIfAbsent: true,
    });
    claiming?.();
    if (!claimed) {
      const stored = await store.get(storeKey);
      const earlier = stored ? (JSON.parse(stored) as InProgress | Done) : null;
      if (!earlier) {
        throw new ProblemError(
          409,
          'Conflict',
          'A request with this Idempotency-Key just finished; retry.',
          { code: 'idempotency_key_busy' },
          { 'Retry-After': '1' },
        );
      }
      if (earlier.fingerprint !== fingerprint) {
        throw new ProblemError(422, 'Idempotency key reused', 'This Idempotency-Key was used for a different request.', {
          code: 'idempotency_key_reused',
          'invalid-params': [{ name: 'Idempotency-Key', reason: 'was already used with another method, path or body' }],
        });
      }
      if (earlier.state === 'processing') {
        throw new ProblemError(
          409,
          'Conflict',
          'A request with this Idempotency-Key is still being processed; retry shortly.',
          { code: 'idempotency_key_in_use' },
          { 'Retry-After': '1' },
        );
      }
      ctx.status = earlier.status;
      for (const [name, value] of Object.entries(earlier.headers)) ctx.set(name, value);
      ctx.set('Idempotent-Replayed', 'true');
      if (earlier.body !== null) ctx.body = earlier.body;
      return;
    }

    try {
      await next();
    } catch (err) {
      await store.delete(storeKey).catch(() => undefined);
      throw err;
    }
    if (ctx.status >= 500) {
      await store.delete(storeKey);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      // From the response itself: Koa's `ctx.response.get` copies every header (getHeaders) at each call.
      const value = ctx.res.getHeader(name);
      if (value !== undefined && value !== '') headers[name] = String(value);
    }
    const keeping = metrics?.layer('idempotency');
    const done: Done = { state: 'done', fingerprint, status: ctx.status, headers, body: ctx.body ?? null };
    await store.set(storeKey, JSON.stringify(done), options.retentionMs);
    keeping?.();
  };
}

function sha256(value: string): string {
  return hash('sha256', value, 'hex');
}
