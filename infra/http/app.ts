import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { authenticate, type AccessTokenVerifier, type RevocationCheck } from './authenticate.ts';
import { healthRoutes, type HealthState } from './health.ts';
import { buildOpenApi } from './openapi.ts';
import { problemHandler } from './problem.ts';
import { requestContext, securityHeaders } from './request-context.ts';
import { mountRoutes, type AnyRoute } from './routes.ts';

export interface AppOptions {
  service: string;
  logger: Logger;
  routes: AnyRoute[];
  health: HealthState;
  tokens: AccessTokenVerifier;
  revocations: RevocationCheck;
  bodyLimitBytes: number;
  /**
   * Trust X-Forwarded-For/-Proto from a reverse proxy in front. Off by default: otherwise any client could
   * choose the IP that audit metadata records (and, later, that per-IP limits count).
   */
  trustProxy?: boolean;
  /** Runs after a route validated its input, before its handler (e.g. read-your-writes). */
  beforeHandler?: (ctx: Koa.ParameterizedContext, route: AnyRoute) => Promise<void>;
}

/** A Koa app with the cross-cutting duties every NexusFlow process shares. */
export function createApp(options: AppOptions): Koa {
  const app = new Koa({ proxy: options.trustProxy ?? false });
  app.silent = true; // errors are logged by the problem handler, with the request id
  const openapi = buildOpenApi(options.routes, {
    title: 'NexusFlow API',
    version: '0.1.0',
    description:
      'Event-sourced sales-engagement backend. Commands answer {id, revision, position}; send the position as ' +
      'X-Min-Position on a query to read your own writes. Errors are application/problem+json.',
  });
  const router = mountRoutes(new Router(), options.routes, {
    bodyLimitBytes: options.bodyLimitBytes,
    authenticate: authenticate(options.tokens, options.revocations),
    ...(options.beforeHandler ? { beforeHandler: options.beforeHandler } : {}),
  });
  router.get('/openapi.json', (ctx) => {
    ctx.body = openapi;
  });

  app.use(requestContext(options.logger));
  app.use(securityHeaders());
  app.use(problemHandler());
  app.use(healthRoutes(options.service, options.health));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
