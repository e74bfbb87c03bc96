import pg from 'pg';
import pino from 'pino';
import { createTestDatabase } from '../../../test/support/postgres.ts';
import { InProcessNotifications } from '../../notifications/in-process-notifications.ts';
import { PgNotifications } from '../../notifications/pg-notifications.ts';
import { EmbeddedPostgres } from '../../postgres/embedded-postgres.ts';
import { eventStoreContract } from '../event-store.contract.ts';
import { PostgresEventStore } from './postgres-event-store.ts';

const logger = pino({ level: 'silent' });

eventStoreContract('PostgreSQL server (pg, LISTEN/NOTIFY wake-ups)', async () => {
  const database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(database.url, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  return {
    store,
    async close() {
      await store.close();
      await notifications.close();
      await pool.end();
      await database.drop();
    },
  };
});

eventStoreContract('PostgreSQL embedded (PGlite over its socket, in-process wake-ups)', async () => {
  const database = await EmbeddedPostgres.start('memory://', logger);
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  await PostgresEventStore.migrate(pool);
  const store = new PostgresEventStore(pool, new InProcessNotifications());
  return {
    store,
    async close() {
      await store.close();
      await pool.end();
      await database.stop();
    },
  };
});
