import cors from '@koa/cors';
import type Koa from 'koa';

/**
 * CORS for browser clients on the origins in the allow-list (CORS_ORIGINS), nothing for any other origin:
 * a page elsewhere cannot read answers even with a user's token. Credentials are tokens in headers, never
 * cookies, so no Allow-Credentials.
 */
export function corsFor(allowedOrigins: readonly string[]): Koa.Middleware {
  const allowed = new Set(allowedOrigins);
  return cors({
    origin: (ctx) => {
      const origin = ctx.get('Origin');
      // An empty string makes @koa/cors add no CORS headers at all.
      return allowed.has(origin) ? origin : '';
    },
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowHeaders: [
      'Authorization',
      'Content-Type',
      'Idempotency-Key',
      'If-Match',
      'If-None-Match',
      'X-API-Key',
      'X-Correlation-Id',
      'X-Min-Position',
      'X-Request-Id',
    ],
    exposeHeaders: [
      'ETag',
      'Location',
      'Retry-After',
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'RateLimit-Policy',
      'Idempotent-Replayed',
      'X-Request-Id',
    ],
    maxAge: 600,
    keepHeadersOnError: true,
  });
}
