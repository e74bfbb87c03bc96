import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { HealthChecks, Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { EphemeralStore } from './ephemeral-store.ts';
import { InProcessEphemeralStore } from './in-process-ephemeral-store.ts';
import { RedisEphemeralStore } from './redis-ephemeral-store.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);

/** Redis (REDIS_URL): revocation marks, rate-limit windows, idempotency answers, lockouts, sessions of the console. */
export const redisModule = new ContainerModule((bind) => {
  bind<EphemeralStore>(TOKENS.Ephemeral).toDynamicValue(async (ctx) => {
    const [config, logger, lifecycle, health, metrics] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
      get<Metrics>(ctx, TOKENS.Metrics),
    ]);
    const redis = await RedisEphemeralStore.connect(config.REDIS_URL!, logger.child({ component: 'redis' }), config.REDIS_KEY_PREFIX, metrics);
    lifecycle.onStop('redis', () => redis.close());
    health.add({
      name: 'ephemeralStore',
      check: async () => {
        await redis.ping();
        return { ok: true, detail: 'redis' };
      },
    });
    return redis;
  });
});

/** The in-process stand-in (one process: the embedded default). */
export const inProcessEphemeralModule = new ContainerModule((bind) => {
  bind<EphemeralStore>(TOKENS.Ephemeral).toDynamicValue(async (ctx) => {
    const [lifecycle, health] = await Promise.all([get<Lifecycle>(ctx, TOKENS.Lifecycle), get<HealthChecks>(ctx, TOKENS.HealthChecks)]);
    const store = new InProcessEphemeralStore();
    lifecycle.onStop('ephemeral store', () => store.close());
    health.add({ name: 'ephemeralStore', check: async () => ({ ok: true, detail: 'in-process' }) });
    return store;
  });
});
