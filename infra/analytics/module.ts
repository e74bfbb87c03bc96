import { ContainerModule, type interfaces } from 'inversify';
import type { Config } from '../config/config.ts';
import { HealthChecks, Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import type { Database } from '../postgres/module.ts';
import type { ReadModelGenerations } from '../readmodels/generations.ts';
import type { AnalyticsStore } from './analytics-store.ts';
import { PostgresAnalytics } from './postgres-analytics.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);
const served = (generations: ReadModelGenerations) => () => generations.generation('analytics');

/** Analytics in PostgreSQL tables of the read-model database (the embedded default and deployments without ClickHouse). */
export const postgresAnalyticsModule = new ContainerModule((bind) => {
  bind<AnalyticsStore>(TOKENS.AnalyticsStore).toDynamicValue(async (ctx) => {
    const [database, generations, health] = await Promise.all([
      get<Database>(ctx, TOKENS.Database),
      get<ReadModelGenerations>(ctx, TOKENS.Generations),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
    ]);
    health.add({ name: 'analytics', check: async () => ({ ok: true, detail: 'postgres' }) });
    return new PostgresAnalytics(database.pool, served(generations));
  });
});

/** Analytics in ClickHouse (CLICKHOUSE_URL). */
export const clickhouseAnalyticsModule = new ContainerModule((bind) => {
  bind<AnalyticsStore>(TOKENS.AnalyticsStore).toDynamicValue(async (ctx) => {
    const [config, generations, health, lifecycle] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<ReadModelGenerations>(ctx, TOKENS.Generations),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
    ]);
    const { ClickHouseAnalytics } = await import('./clickhouse-analytics.ts');
    const store = new ClickHouseAnalytics(config.CLICKHOUSE_URL!, config.CLICKHOUSE_DATABASE, served(generations));
    lifecycle.onStop('clickhouse', () => store.close());
    health.add({
      name: 'analytics',
      check: async () => {
        await store.ping();
        return { ok: true, detail: 'clickhouse' };
      },
    });
    return store;
  });
});
