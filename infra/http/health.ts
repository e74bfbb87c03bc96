import { monitorEventLoopDelay } from 'node:perf_hooks';
import type Koa from 'koa';

export interface HealthCheck {
  name: string;
  /** Throws or returns ok:false when the dependency is not usable; `detail` is shown in /health. */
  check(): Promise<{ ok: boolean; detail?: unknown }>;
}

export interface HealthState {
  checks: HealthCheck[];
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  isStopping(): boolean;
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
    return { name: check.name, ok: false, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /health/live: the process answers (restart it if not). /health/ready: every dependency answers and we
 * are not shutting down (send traffic). /health: both, with each check's detail, for humans and dashboards.
 */
export function healthRoutes(service: string, state: HealthState): Koa.Middleware {
  // How late the event loop runs callbacks: the first thing to look at when latency is high and CPU is not.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/health/live') {
      ctx.body = { status: 'ok', service };
      return;
    }
    if (ctx.path === '/health/ready' || ctx.path === '/health') {
      const results = await Promise.all(state.checks.map(runCheck));
      const ready = !state.isStopping() && results.every((r) => r.ok);
      ctx.status = ready ? 200 : 503;
      ctx.set('Cache-Control', 'no-store');
      ctx.body =
        ctx.path === '/health'
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
          : { status: ready ? 'ok' : 'unavailable' };
      return;
    }
    return next();
  };
}
