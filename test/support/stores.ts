import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import pino from 'pino';
import { PostgresEventStore } from '../../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../../infra/notifications/pg-notifications.ts';
import { migrateReadModels, openReadModels } from '../../infra/readmodels/orm.ts';
import { readModelEntities } from '../../projectors/read-models.ts';

export const silentLogger = pino({ level: 'silent' });

/** The event store and read models of one test database, as a process would open them. */
export async function openStores(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on('error', () => undefined);
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(url, pool, silentLogger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  const orm: MikroORM = await openReadModels({ url, entities: readModelEntities, poolSize: 8, logger: silentLogger });
  await migrateReadModels(orm);
  return {
    pool,
    store,
    orm,
    notifications,
    async close() {
      await store.close();
      await notifications.close();
      await orm.close();
      await pool.end();
    },
  };
}
