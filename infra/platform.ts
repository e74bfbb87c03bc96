import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EventStreams } from '../command-api/ports.ts';
import type { GlobalEventLog } from '../projectors/ports.ts';
import { readModelEntities } from '../projectors/read-models.ts';
import type { Config } from './config/config.ts';
import { upcast } from '../domain/upcasting.ts';
import type { RecordedEvent } from '../domain/events.ts';
import { EventStoreLayer } from './eventstore/event-store-layer.ts';
import { HashChainedEventStore } from './eventstore/hash-chain.ts';
import { DataProtection } from './auth/data-protection.ts';
import { PersonalDataKeys, personalDataSealing } from './privacy/personal-data-sealing.ts';
import { PostgresEventStore } from './eventstore/postgres/postgres-event-store.ts';
import type { HealthCheck } from './http/health.ts';
import { InProcessNotifications } from './notifications/in-process-notifications.ts';
import type { Notifications } from './notifications/notifications.ts';
import { PgNotifications } from './notifications/pg-notifications.ts';
import type { EphemeralStore } from './ephemeral/ephemeral-store.ts';
import { InProcessEphemeralStore } from './ephemeral/in-process-ephemeral-store.ts';
import { RedisEphemeralStore } from './ephemeral/redis-ephemeral-store.ts';
import { EmbeddedPostgres } from './postgres/embedded-postgres.ts';
import { migrateReadModels, openReadModels } from './readmodels/orm.ts';
import { PostgresSearchIndex } from './search/postgres-search-index.ts';
import type { SearchIndexWriter } from '../projectors/search/ports.ts';
import type { SearchReader } from '../query-api/search/ports.ts';
import type { AnalyticsWriter } from '../projectors/analytics/ports.ts';
import type { GenerationalStore } from '../projectors/rebuild/ports.ts';
import type { AnalyticsReader } from '../query-api/analytics/ports.ts';
import { PostgresAnalytics } from './analytics/postgres-analytics.ts';
import { ReadModelGenerations } from './readmodels/generations.ts';

/** Reads follow the served generation; writers of one generation come from writerFor (projections, rebuilds). */
export type SearchIndex = SearchIndexWriter & SearchReader & GenerationalStore<SearchIndexWriter>;
export type AnalyticsStore = AnalyticsWriter & AnalyticsReader & GenerationalStore<AnalyticsWriter>;

export type EventStore = EventStreams & GlobalEventLog & { close(): Promise<void> };

/** The shared resources of a process, chosen from configuration. */
export interface Platform {
  databaseUrl: string;
  embedded: boolean;
  pool: pg.Pool;
  notifications: Notifications;
  /** The event store as the application sees it: events upgraded to their newest version, chained on append. */
  eventStore: EventStore;
  /** The log as stored (what was written, links included): for verifying the hash chains. */
  storedLog: EventStore;
  /** Stored events as the application reads them (personal data opened, old versions upgraded). */
  readable(events: RecordedEvent[]): Promise<RecordedEvent[]>;
  /** Each person's key for their data in the log; erasing destroys it. */
  personalDataKeys: PersonalDataKeys;
  eventStoreKind: 'postgres' | 'eventstoredb';
  orm: MikroORM;
  /** Redis, or its in-process stand-in when REDIS_URL is unset (one process). */
  ephemeral: EphemeralStore;
  /**
   * The token signing secret: JWT_SECRET, or on the embedded default one kept beside the data. Null only for
   * the command line against a server without JWT_SECRET (it signs and verifies nothing).
   */
  jwtSecret: string | null;
  /** Elasticsearch when ELASTICSEARCH_URL is set, else PostgreSQL tables in the read-model database. */
  search: SearchIndex;
  searchKind: 'postgres' | 'elasticsearch';
  /** ClickHouse when CLICKHOUSE_URL is set, else tables in the read-model database. */
  analytics: AnalyticsStore;
  analyticsKind: 'postgres' | 'clickhouse';
  /** Which generation of each rebuildable read model (search, analytics) is served. */
  generations: ReadModelGenerations;
  healthChecks: HealthCheck[];
  close(): Promise<void>;
}

export async function startPlatform(config: Config, logger: Logger): Promise<Platform> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      await closer().catch((err: unknown) => logger.warn({ err }, 'error while closing'));
    }
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    const embedded = !databaseUrl;
    if (!databaseUrl) {
      const database = await EmbeddedPostgres.start(config.NEXUSFLOW_DATA_DIR, logger);
      closers.push(() => database.stop());
      databaseUrl = database.url;
    }

    const pool = new pg.Pool({ connectionString: databaseUrl, max: config.DB_POOL_SIZE, keepAlive: true });
    // An idle connection that dies (server restart) must not crash the process; the next query reconnects.
    pool.on('error', (err) => logger.warn({ err }, 'idle database connection lost'));
    closers.push(() => pool.end());

    const notifications: Notifications = embedded
      ? new InProcessNotifications()
      : new PgNotifications(databaseUrl, pool, logger.child({ component: 'notifications' }));
    closers.push(() => notifications.close());

    let store: EventStore;
    if (config.EVENTSTORE_URL) {
      // Loaded only when used: the gRPC client is heavy and most deployments run on PostgreSQL.
      const { EventStoreDbEventStore } = await import('./eventstore/eventstoredb/eventstoredb-event-store.ts');
      store = new EventStoreDbEventStore(config.EVENTSTORE_URL);
    } else {
      await PostgresEventStore.migrate(pool);
      // Embedded: one shared session, so no named statements (see PostgresEventStoreOptions).
      store = new PostgresEventStore(pool, notifications, { namedStatements: !embedded });
    }
    const jwtSecret = config.JWT_SECRET ?? (embedded ? await embeddedJwtSecret(config.NEXUSFLOW_DATA_DIR) : null);
    const dataKey = config.DATA_ENCRYPTION_KEY ?? jwtSecret;
    const personalDataKeys = new PersonalDataKeys(pool, dataKey ? new DataProtection(dataKey) : null, notifications, !config.EVENTSTORE_URL);
    closers.push(async () => personalDataKeys.close());
    // The layers every event passes, from the store up: every appended event links to the one before it in
    // its stream (tamper evidence); personal data is sealed with its person's key (erasure destroys the key);
    // old versions of events are upgraded on the way out (domain/upcasting.ts).
    const storedLog = new HashChainedEventStore(store);
    const sealing = personalDataSealing(personalDataKeys);
    const readable = async (events: RecordedEvent[]) => (await sealing.onRead!(events)).map(upcast);
    const eventStore: EventStore = new EventStoreLayer(storedLog, { onAppend: sealing.onAppend!, onRead: readable });
    closers.push(() => eventStore.close());

    const orm = await openReadModels({
      url: databaseUrl,
      entities: readModelEntities,
      poolSize: config.DB_POOL_SIZE,
      logger: logger.child({ component: 'orm' }),
    });
    closers.push(() => orm.close());
    await migrateReadModels(orm);

    let ephemeral: EphemeralStore;
    let redis: RedisEphemeralStore | null = null;
    if (config.REDIS_URL) {
      redis = await RedisEphemeralStore.connect(config.REDIS_URL, logger.child({ component: 'redis' }), config.REDIS_KEY_PREFIX);
      ephemeral = redis;
    } else {
      ephemeral = new InProcessEphemeralStore();
    }
    closers.push(() => ephemeral.close());

    const generations = await ReadModelGenerations.open(pool, notifications, logger.child({ component: 'generations' }));
    closers.push(async () => generations.close());
    const served = (readModel: string) => () => generations.generation(readModel);

    let search: SearchIndex;
    if (config.ELASTICSEARCH_URL) {
      const { ElasticsearchSearchIndex } = await import('./search/elasticsearch-search-index.ts');
      const elasticsearch = new ElasticsearchSearchIndex(config.ELASTICSEARCH_URL, config.ELASTICSEARCH_INDEX_PREFIX, false, served('search'));
      closers.push(() => elasticsearch.close());
      search = elasticsearch;
    } else {
      search = new PostgresSearchIndex(pool, served('search'));
    }
    await search.ensureGeneration(generations.generation('search'));

    let analytics: AnalyticsStore;
    let clickhouse: { ping(): Promise<void> } | null = null;
    if (config.CLICKHOUSE_URL) {
      const { ClickHouseAnalytics } = await import('./analytics/clickhouse-analytics.ts');
      const store = new ClickHouseAnalytics(config.CLICKHOUSE_URL, config.CLICKHOUSE_DATABASE, served('analytics'));
      closers.push(() => store.close());
      analytics = clickhouse = store;
    } else {
      analytics = new PostgresAnalytics(pool, served('analytics'));
    }
    await analytics.ensureGeneration(generations.generation('analytics'));

    const healthChecks: HealthCheck[] = [
      { name: 'search', check: async () => ({ ok: true, detail: config.ELASTICSEARCH_URL ? 'elasticsearch' : 'postgres' }) },
      {
        name: 'analytics',
        check: async () => {
          await clickhouse?.ping();
          return { ok: true, detail: clickhouse ? 'clickhouse' : 'postgres' };
        },
      },
      {
        name: 'database',
        check: async () => {
          await pool.query('SELECT 1');
          return { ok: true, detail: embedded ? 'embedded' : 'server' };
        },
      },
      {
        name: 'eventStore',
        check: async () => ({ ok: true, detail: { kind: config.EVENTSTORE_URL ? 'eventstoredb' : 'postgres', head: await eventStore.headPosition() } }),
      },
      {
        name: 'ephemeralStore',
        check: async () => {
          await redis?.ping();
          return { ok: true, detail: redis ? 'redis' : 'in-process' };
        },
      },
    ];

    return {
      databaseUrl,
      embedded,
      pool,
      notifications,
      eventStore,
      storedLog,
      readable,
      personalDataKeys,
      eventStoreKind: config.EVENTSTORE_URL ? 'eventstoredb' : 'postgres',
      orm,
      ephemeral,
      jwtSecret,
      search,
      searchKind: config.ELASTICSEARCH_URL ? 'elasticsearch' : 'postgres',
      analytics,
      analyticsKind: clickhouse ? 'clickhouse' : 'postgres',
      generations,
      healthChecks,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * On the embedded default nobody has to configure a signing secret: one is generated once and kept next to
 * the data (so tokens survive restarts). In memory, it lives as long as the process.
 */
async function embeddedJwtSecret(dataDir: string): Promise<string> {
  if (dataDir.startsWith('memory://')) return randomBytes(32).toString('hex');
  const file = path.join(dataDir, 'jwt-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await writeFile(file, secret, { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
    await chmod(file, 0o600).catch(() => undefined);
    return (await readFile(file, 'utf8')).trim();
  }
}
