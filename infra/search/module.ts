import { ContainerModule, type interfaces } from 'inversify';
import type { Config } from '../config/config.ts';
import { HealthChecks, Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import type { Database } from '../postgres/module.ts';
import type { ReadModelGenerations } from '../readmodels/generations.ts';
import { PostgresSearchIndex } from './postgres-search-index.ts';
import type { SearchIndex } from './search-index.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);
const served = (generations: ReadModelGenerations) => () => generations.generation('search');

/** Search on PostgreSQL: tables in the read-model database (the embedded default and deployments without Elasticsearch). */
export const postgresSearchModule = new ContainerModule((bind) => {
  bind<SearchIndex>(TOKENS.SearchIndex).toDynamicValue(async (ctx) => {
    const [database, generations, health] = await Promise.all([
      get<Database>(ctx, TOKENS.Database),
      get<ReadModelGenerations>(ctx, TOKENS.Generations),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
    ]);
    health.add({ name: 'search', check: async () => ({ ok: true, detail: 'postgres' }) });
    return new PostgresSearchIndex(database.pool, served(generations));
  });
});

/** Search on Elasticsearch 8 (ELASTICSEARCH_URL). */
export const elasticsearchSearchModule = new ContainerModule((bind) => {
  bind<SearchIndex>(TOKENS.SearchIndex).toDynamicValue(async (ctx) => {
    const [config, generations, health, lifecycle] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<ReadModelGenerations>(ctx, TOKENS.Generations),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
    ]);
    const { ElasticsearchSearchIndex } = await import('./elasticsearch-search-index.ts');
    const index = new ElasticsearchSearchIndex(config.ELASTICSEARCH_URL!, config.ELASTICSEARCH_INDEX_PREFIX, false, served(generations));
    lifecycle.onStop('elasticsearch', () => index.close());
    health.add({ name: 'search', check: async () => ({ ok: true, detail: 'elasticsearch' }) });
    return index;
  });
});
