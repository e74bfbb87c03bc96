import { ContainerModule } from 'inversify';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { ApiUsageMeter } from '../../command-api/usage/api-usage-meter.ts';
import type { Principal } from '../../domain/access/principal.ts';
import type { TokenOrApiKeyAuthenticator } from '../auth/principal-authenticator.ts';
import type { Config } from '../config/config.ts';
import { HealthChecks, Lifecycle } from '../di/lifecycle.ts';
import { all, deps, optional } from '../di/resolve.ts';
import { TOKENS } from '../di/tokens.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import type { SlidingWindowRateLimiter } from '../ratelimit/sliding-window-rate-limiter.ts';
import { createApp } from './app.ts';
import type { AnyRoute, SuspensionCheck } from './routes.ts';
import type { Metrics } from '../observability/metrics.ts';
import { listen, type HttpServer, type MountedApp } from './server.ts';

/** GET /metrics alone, for METRICS_PORT: a port that only a private network (the scraper) reaches. */
function metricsApp(metrics: Metrics): Koa {
  const app = new Koa();
  app.use(async (ctx) => {
    if (ctx.method !== 'GET' || ctx.path !== '/metrics') {
      ctx.status = 404;
      return;
    }
    const { contentType, body } = await metrics.exposition();
    ctx.type = contentType;
    ctx.body = body;
  });
  return app;
}

/** The process's HTTP server: its app, and the port it listens on once started. */
export interface HttpEndpoint {
  app: Koa;
  readonly port: number;
}

/** The service name a process reports (in logs and health): its role. */
export const serviceName = (config: Config, role: string) => (role === 'all' ? 'nexusflow' : role);

/**
 * The HTTP server of a process: the gateway's duties (request ids, security headers, CORS, problem+json,
 * health, rate limits, authentication, permissions, idempotency, validation) around whatever routes the
 * capability modules of its role bound, plus mounted apps (the staff console). It listens at start and
 * closes first at stop (requests in flight finish).
 */
export function httpModule(role: string): ContainerModule {
  return new ContainerModule((bind) => {
    bind<HttpEndpoint>(TOKENS.HttpServer).toDynamicValue(async (ctx) => {
      const [config, logger, lifecycle, health, ephemeral, metrics] = await deps<[Config, Logger, Lifecycle, HealthChecks, EphemeralStore, Metrics]>(
        ctx,
        TOKENS.Config,
        TOKENS.Logger,
        TOKENS.Lifecycle,
        TOKENS.HealthChecks,
        TOKENS.Ephemeral,
        TOKENS.Metrics,
      );
      const routes = (await all<AnyRoute[]>(ctx, TOKENS.Routes)).flat();
      const mounts = await all<MountedApp>(ctx, TOKENS.MountedApps);
      // A process serving only /health (projectors) authenticates nobody.
      const serving = routes.length > 0;
      const [limiter] = await deps<[SlidingWindowRateLimiter]>(ctx, TOKENS.RateLimiter);
      const [authenticator, meter] = serving
        ? await deps<[TokenOrApiKeyAuthenticator, ApiUsageMeter]>(ctx, TOKENS.Authenticator, TOKENS.ApiUsageMeter)
        : [null, null];
      const suspensions = await optional<SuspensionCheck>(ctx, TOKENS.Suspensions);
      const beforeHandler = await optional<(ctx: Koa.ParameterizedContext, route: AnyRoute) => Promise<void>>(ctx, TOKENS.BeforeHandler);
      const windowMs = config.RATE_LIMIT_WINDOW_SECONDS * 1000;
      const app = createApp({
        service: serviceName(config, role),
        logger,
        routes,
        health: { checks: health.all(), isStopping: () => lifecycle.isStopping, operatorToken: config.OPERATOR_TOKEN ?? null, metrics },
        authenticator: authenticator ?? { authenticate: async () => null },
        bodyLimitBytes: config.BODY_LIMIT_BYTES,
        rateLimits: {
          limiter,
          store: ephemeral,
          perIp: { limit: config.RATE_LIMIT_PER_IP, windowMs },
          perTenant: { limit: config.RATE_LIMIT_PER_TENANT, windowMs },
        },
        idempotencyStore: ephemeral,
        idempotency: { retentionMs: config.IDEMPOTENCY_TTL_SECONDS * 1000, lockMs: 60_000 },
        corsOrigins: config.CORS_ORIGINS,
        ...(suspensions ? { suspensions } : {}),
        trustProxy: config.TRUST_PROXY,
        ...(meter ? { onAuthenticated: (principal: Principal) => meter.count(principal.organizationId) } : {}),
        ...(beforeHandler ? { beforeHandler } : {}),
      });
      let server: HttpServer | null = null;
      let metricsServer: HttpServer | null = null;
      lifecycle.onStart('http server', async () => {
        server = await listen(app, { host: config.HOST, port: config.PORT, logger, mounts });
        if (config.METRICS_PORT !== undefined)
          metricsServer = await listen(metricsApp(metrics), { host: config.METRICS_HOST, port: config.METRICS_PORT, logger });
      });
      lifecycle.onStop('http server', async () => {
        await metricsServer?.close();
        await server?.close();
      });
      return {
        app,
        get port() {
          if (!server) throw new Error('the HTTP server has not started');
          return server.port;
        },
      };
    });
  });
}
