import type { ContainerModule } from 'inversify';
import { clickhouseAnalyticsModule, postgresAnalyticsModule } from './analytics/module.ts';
import type { Config } from './config/config.ts';
import { aiModule, vectorIndexModule } from './ai/module.ts';
import { billingModule } from './billing/module.ts';
import { crmModule } from './crm/module.ts';
import { inProcessEphemeralModule, redisModule } from './ephemeral/module.ts';
import { eventStoreDbModule, eventStoreLayersModule, postgresEventStoreModule } from './eventstore/module.ts';
import { outboxMailModule } from './mail/module.ts';
import { inProcessBusModule, rabbitMqModule } from './messaging/module.ts';
import { embeddedDatabaseModule, serverDatabaseModule } from './postgres/module.ts';
import { readModelsModule } from './readmodels/module.ts';
import { elasticsearchSearchModule, postgresSearchModule } from './search/module.ts';

/**
 * The one place where configuration chooses an adapter for each family. Everything is made lazily: a role
 * that never asks for search never connects to Elasticsearch.
 */
export function adapterModules(config: Config): ContainerModule[] {
  return [
    config.DATABASE_URL ? serverDatabaseModule : embeddedDatabaseModule,
    config.EVENTSTORE_URL ? eventStoreDbModule : postgresEventStoreModule,
    eventStoreLayersModule,
    readModelsModule,
    config.ELASTICSEARCH_URL ? elasticsearchSearchModule : postgresSearchModule,
    config.CLICKHOUSE_URL ? clickhouseAnalyticsModule : postgresAnalyticsModule,
    config.REDIS_URL ? redisModule : inProcessEphemeralModule,
    config.RABBITMQ_URL ? rabbitMqModule : inProcessBusModule,
    outboxMailModule,
    crmModule,
    billingModule,
    aiModule,
    vectorIndexModule,
  ];
}
