import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import type { Principal } from '../../domain/access/principal.ts';
import { authenticate, type PrincipalAuthenticator } from './authenticate.ts';
import { corsFor } from './cors.ts';
import { healthRoutes, type HealthState } from './health.ts';
import { idempotency, type IdempotencyOptions } from './idempotency.ts';
import { buildOpenApi } from './openapi.ts';
import { problemHandler } from './problem.ts';
import { perIpRateLimit, type RateLimits } from './rate-limits.ts';
import { requestContext, securityHeaders } from './request-context.ts';
import { mountRoutes, type AnyRoute, type SuspensionCheck } from './routes.ts';
import { indexBySegment } from './segment-index.ts';

export interface AppOptions {
  service: string;
  logger: Logger;
  routes: AnyRoute[];
  health: HealthState;
  authenticator: PrincipalAuthenticator;
  bodyLimitBytes: number;
  /** Per-IP and per-organization limits (sliding windows in the ephemeral store). */
  rateLimits: RateLimits;
  /** Where Idempotency-Key answers are kept (Redis, or the in-process stand-in). */
  idempotencyStore: EphemeralStore;
  idempotency: IdempotencyOptions;
  /** Origins browsers may call the API from (CORS); empty: none. */
  corsOrigins: readonly string[];
  /** Refuses writes of suspended organizations; absent where no commands are served. */
  suspensions?: SuspensionCheck;
  /**
   * Trust X-Forwarded-For/-Proto from a reverse proxy in front. Off by default: otherwise any client could
   * choose the IP that audit metadata records and that per-IP limits count.
   */
  trustProxy?: boolean;
  /** Told of every authenticated request (API usage metering). */
  onAuthenticated?: (principal: Principal) => void;
  /** Runs after a route validated its input, before its handler (e.g. read-your-writes). */
  beforeHandler?: (ctx: Koa.ParameterizedContext, route: AnyRoute) => Promise<void>;
}

/**
 * A Koa app with the cross-cutting duties every NexusFlow process shares: request ids and logs, security
 * headers, CORS, problem+json errors, health, per-IP and per-organization rate limits, authentication and
 * permissions, Idempotency-Key on commands, body limits.
 */
export function createApp(options: AppOptions): Koa {
  const app = new Koa({ proxy: options.trustProxy ?? false });
  app.silent = true; // errors are logged by the problem handler, with the request id
  const openapi = buildOpenApi(options.routes, {
    title: 'NexusFlow API',
    version: '0.1.0',
    description:
      'Event-sourced sales-engagement backend. Commands answer {id, revision, position}; send the position as ' +
      'X-Min-Position on a query to read your own writes. Errors are application/problem+json. Authenticate ' +
      'with a session access token or an API key (`Authorization: Bearer ...`); every operation names the ' +
      'permission it needs in `x-permission`. Commands accept `Idempotency-Key`. Text: no string (body field, ' +
      'key, query or path parameter) may contain control characters other than tab and line breaks, nor unpaired ' +
      'surrogates; line breaks only in the body fields an operation lists in `x-free-text`. Such input is a 400 ' +
      'naming the field. Error answers list at most 50 invalid params.',
  });
  const ipLimit = perIpRateLimit(options.rateLimits);
  const router = mountRoutes(indexBySegment(new Router()), options.routes, {
    bodyLimitBytes: options.bodyLimitBytes,
    authenticate: authenticate(options.authenticator, options.rateLimits, options.health.metrics),
    ipLimit,
    ...(options.health.metrics ? { metrics: options.health.metrics } : {}),
    ...(options.onAuthenticated
      ? {
          afterAuthentication: async (_ctx: Koa.ParameterizedContext, principal: Principal) => {
            const counted = options.health.metrics?.layer('usage_meter');
            options.onAuthenticated!(principal);
            counted?.();
          },
        }
      : {}),
    aroundCommand: idempotency(options.idempotencyStore, options.idempotency, options.health.metrics ?? null),
    ...(options.suspensions ? { suspensions: options.suspensions } : {}),
    ...(options.beforeHandler ? { beforeHandler: options.beforeHandler } : {}),
  });
  router.get('/openapi.json', ipLimit, (ctx) => {
    ctx.body = openapi;
  });

  app.use(requestContext(options.logger, options.health.metrics));
  app.use(securityHeaders());
  app.use(corsFor(options.corsOrigins));
  app.use(problemHandler());
  app.use(healthRoutes(options.service, options.health));
  app.use(router.routes());
  // What no route took (unknown paths, other methods) counts toward the IP's limit before its 404 or 405.
  app.use(ipLimit);
  app.use(router.allowedMethods());
  return app;
}
