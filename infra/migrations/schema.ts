import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { analyticsTableSql } from '../analytics/postgres-analytics.ts';
import type { AnalyticsStore } from '../analytics/analytics-store.ts';
import type { Config } from '../config/config.ts';
import { credentialsVaultSchemaSql, migrateCredentialsVault } from '../crm/credentials-vault.ts';
import { PostgresEventStore } from '../eventstore/postgres/postgres-event-store.ts';
import { eventStoreSchemaSql } from '../eventstore/postgres/schema.ts';
import type { Database } from '../postgres/module.ts';
import type { ReadModelGenerations } from '../readmodels/generations.ts';
import { readModelMigrations } from '../readmodels/migrations/index.ts';
import { migrateReadModels } from '../readmodels/orm.ts';
import { searchSchemaSql } from '../search/postgres-search-index.ts';
import type { SearchIndex } from '../search/search-index.ts';

/**
 * The schema this build needs, as one short hash of everything that defines it: the event store's tables,
 * the read-model migrations, the search and analytics tables. Any change to one of them changes the version,
 * so a process of a newer build never runs on an older schema (or the reverse) without saying so.
 */
export const SCHEMA_VERSION = createHash('sha256')
  .update(eventStoreSchemaSql)
  .update(readModelMigrations.map((m) => m.name).join(','))
  .update(searchSchemaSql())
  .update(analyticsTableSql('analytics_facts').join(';'))
  .update(credentialsVaultSchemaSql)
  .digest('hex')
  .slice(0, 12);

const VERSION_TABLE = `CREATE TABLE IF NOT EXISTS nf_schema_version (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  version text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now())`;

/** The database's schema is not the one this build needs: nothing was started. */
export class SchemaMismatchError extends Error {
  constructor(found: string | null) {
    super(
      found === null
        ? `The database has no NexusFlow schema yet (this build needs version ${SCHEMA_VERSION}). Run \`npx nexusflow migrate\` first (the same environment: DATABASE_URL), then start again.`
        : `The database schema is version ${found}, this build needs ${SCHEMA_VERSION}. Run \`npx nexusflow migrate\` with this build (the same environment), then start again.`,
    );
    this.name = 'SchemaMismatchError';
  }
}

/** Which schema version a database holds. */
export class SchemaVersion {
  constructor(private readonly database: Pick<Database, 'pool'>) {}

  async current(): Promise<string | null> {
    const { rows } = await this.database.pool.query<{ version: string }>('SELECT version FROM nf_schema_version').catch((err: { code?: string }) => {
      // 42P01: the table does not exist (a database never migrated).
      if (err.code === '42P01') return { rows: [] };
      throw err;
    });
    return rows[0]?.version ?? null;
  }

  /** Refuses to go on unless the database holds exactly this build's schema. */
  async require(): Promise<void> {
    const found = await this.current();
    if (found !== SCHEMA_VERSION) throw new SchemaMismatchError(found);
  }
}

export interface MigrationReport {
  from: string | null;
  to: string;
  steps: string[];
}

/**
 * Brings the database (and the search and analytics stores) to this build's schema: an act, run by
 * `npx nexusflow migrate` (and by `npm start` on the embedded default, which nobody else shares). Every step
 * is idempotent and serialized across processes; running it twice changes nothing the second time.
 */
export class SchemaMigrations {
  constructor(
    private readonly deps: {
      config: Config;
      database: Database;
      orm: MikroORM;
      generations: () => Promise<ReadModelGenerations>;
      search: () => Promise<SearchIndex>;
      analytics: () => Promise<AnalyticsStore>;
      logger: Logger;
    },
  ) {}

  async migrate(): Promise<MigrationReport> {
    const { config, database, orm, logger } = this.deps;
    const from = await new SchemaVersion(database).current();
    const steps: string[] = [];
    if (!config.EVENTSTORE_URL) {
      await PostgresEventStore.migrate(database.pool);
      steps.push('event store (PostgreSQL)');
    }
    await migrateReadModels(orm);
    steps.push(`read models (${readModelMigrations.length} migrations)`);
    // Sealed CRM credentials: kept in PostgreSQL whichever event store runs (they are not events).
    await migrateCredentialsVault(database.pool);
    steps.push('integration credentials');
    // Generations are read from a table the read-model migrations make: only now.
    const generations = await this.deps.generations();
    const search = await this.deps.search();
    await search.ensureGeneration(generations.generation('search'));
    steps.push(`search (generation ${generations.generation('search')})`);
    const analytics = await this.deps.analytics();
    await analytics.ensureGeneration(generations.generation('analytics'));
    steps.push(`analytics (generation ${generations.generation('analytics')})`);
    await database.pool.query(VERSION_TABLE);
    await database.pool.query(
      `INSERT INTO nf_schema_version (id, version) VALUES (1, $1)
       ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, applied_at = now()`,
      [SCHEMA_VERSION],
    );
    logger.info({ from, to: SCHEMA_VERSION, steps }, 'schema migrated');
    return { from, to: SCHEMA_VERSION, steps };
  }
}
