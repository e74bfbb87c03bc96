import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's X-Request-Id if it is sane), a correlation id that flows into
 * event metadata (X-Correlation-Id, else the request id), a child logger, and one access-log line.
 */
export function requestContext(logger: Logger, metrics?: Metrics): Koa.Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const requestId = SAFE_ID.test(incoming) ? incoming : randomUUID();
    const correlation = ctx.get('X-Correlation-Id');
    ctx.state.requestId = requestId;
    ctx.state.correlationId = SAFE_ID.test(correlation) ? correlation : requestId;
    // Made when first used: most requests log one line or none, and a child logger per request costs.
    let child: Logger | null = null;
    Object.defineProperty(ctx.state, 'logger', { get: () => (child ??= logger.child({ requestId })), configurable: true, enumerable: true });
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // By route template (/contacts/:id), never by path: ids would make a series per entity.
      metrics?.httpRequestDuration.observe(
        { route: (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched', method: ctx.method, status: String(ctx.status) },
        seconds,
      );
      const level = ctx.status >= 500 ? 'error' : 'info';
      if (logger.isLevelEnabled(level)) {
        const line = { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1e5) / 100 };
        if (level === 'error') ctx.state.logger.error(line, 'request');
        else ctx.state.logger.info(line, 'request');
      }
    }
  };
}

/** Headers every response carries; an API serves JSON only, so the strictest browser policies apply. */
export function securityHeaders(): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    // Ignored over plain HTTP; behind TLS it keeps browsers from ever downgrading.
    ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
