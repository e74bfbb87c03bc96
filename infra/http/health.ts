import { timingSafeEqual, createHash } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type Koa from 'koa';
import type { Metrics } from '../observability/metrics.ts';
import { ProblemError } from './problem.ts';

export interface HealthCheck {
  name: string;
  /**
   * Throws or returns ok:false when the dependency is not usable. `detail` is shown to operators only
   * (/health/ready?verbose with the operator token), and must hold no tenant data and no SQL.
   */
  check(): Promise<{ ok: boolean; detail?: unknown }>;
}

export interface HealthState {
  /** Served at GET /metrics to the operator token's holder. */
  metrics?: Metrics;
  checks: HealthCheck[];
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  isStopping(): boolean;
  /**
   * The operator token (OPERATOR_TOKEN) that opens the detailed answer; null: details are not served over
   * HTTP at all (the command line and the console still show them).
   */
  operatorToken: string | null;
}

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: HealthCheck): Promise<{ name: string; ok: boolean; detail?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    });
    const result = await Promise.race([check.check(), timeout]);
    return { name: check.name, ...result };
  } catch (err) {
    return { name: check.name, ok: false, detail: operatorSafeError(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How an error is shown in a health answer: its class and, for database errors, the SQLSTATE; never a
 * database message (it may quote the statement and a tenant's values). Other messages are about reaching a
 * dependency ("RabbitMQ is unavailable: connect ECONNREFUSED …") and are kept, cut short.
 */
export function operatorSafeError(err: unknown): string {
  if (!(err instanceof Error)) return 'error';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return `${err.name} (SQLSTATE ${code})`;
  return `${err.name}: ${err.message}`.slice(0, 200);
}

/**
 * /health/live: the process answers (restart it if not). /health/ready: every dependency answers and we are
 * not shutting down (send traffic). /health: the same status, for humans. Unauthenticated callers learn the
 * status and nothing else; `/health/ready?verbose` with `Authorization: Bearer <OPERATOR_TOKEN>` adds each
 * check's detail (projection positions and lag, parked events, queue depths, memory, event-loop delay).
 */
export function healthRoutes(service: string, state: HealthState): Koa.Middleware {
  // How late the event loop runs callbacks: the first thing to look at when latency is high and CPU is not.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const expected = state.operatorToken === null ? null : digest(state.operatorToken);
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/metrics' && state.metrics) {
      requireOperator(ctx, expected, 'Metrics are served');
      const { contentType, body } = await state.metrics.exposition();
      ctx.set('Cache-Control', 'no-store');
      ctx.type = contentType;
      ctx.body = body;
      return;
    }
    if (ctx.path !== '/health/live' && ctx.path !== '/health/ready' && ctx.path !== '/health') return next();
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/health/live') {
      ctx.body = { status: 'ok', service };
      return;
    }
    const verbose = ctx.path === '/health/ready' && ctx.query.verbose !== undefined;
    if (verbose) requireOperator(ctx, expected, 'Detailed health is served');
    const results = await Promise.all(state.checks.map(runCheck));
    const ready = !state.isStopping() && results.every((r) => r.ok);
    ctx.status = ready ? 200 : 503;
    ctx.body = verbose
      ? {
          status: ready ? 'ok' : 'unavailable',
          service,
          stopping: state.isStopping(),
          uptimeSeconds: Math.round(process.uptime()),
          memory: { rssBytes: process.memoryUsage().rss },
          eventLoopDelayMs: {
            p50: loopDelay.percentile(50) / 1e6,
            p99: loopDelay.percentile(99) / 1e6,
            max: loopDelay.max / 1e6,
          },
          checks: Object.fromEntries(results.map(({ name, ...rest }) => [name, rest])),
        }
      : { status: ready ? 'ok' : 'unavailable', service };
  };
}

function requireOperator(ctx: Koa.Context, expected: Buffer | null, what: string): void {
  if (expected === null) {
    throw new ProblemError(403, 'Forbidden', `${what} only when OPERATOR_TOKEN is set (metrics: or on METRICS_PORT).`, {
      code: 'operator_token_not_configured',
    });
  }
  const presented = /^Bearer (.+)$/i.exec(ctx.get('Authorization'))?.[1];
  if (!presented || !timingSafeEqual(digest(presented), expected)) {
    throw new ProblemError(
      401,
      'Unauthorized',
      `${what} to the holder of the operator token.`,
      { code: 'unauthorized' },
      { 'WWW-Authenticate': 'Bearer' },
    );
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
