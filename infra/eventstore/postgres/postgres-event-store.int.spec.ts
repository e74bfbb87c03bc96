import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import { DuplicateEventIdError } from '../../../command-api/ports.ts';
import { testEvent } from '../../../test/support/events.ts';
import { createTestDatabase } from '../../../test/support/postgres.ts';
import { InProcessNotifications } from '../../notifications/in-process-notifications.ts';
import { PgNotifications } from '../../notifications/pg-notifications.ts';
import { EmbeddedPostgres } from '../../postgres/embedded-postgres.ts';
import { eventStoreContract, type EventStoreUnderTest } from '../event-store.contract.ts';
import { HashChainedEventStore } from '../hash-chain.ts';
import { PostgresEventStore } from './postgres-event-store.ts';

const logger = pino({ level: 'silent' });

/** A PostgreSQL server store in a database of its own, as the processes open it (optionally wrapped). */
async function serverStore(wrap: (store: PostgresEventStore) => EventStoreUnderTest & { close(): Promise<void> } = (store) => store) {
  const database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(database.url, pool, logger);
  const store = wrap(new PostgresEventStore(pool, notifications));
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
}

eventStoreContract('PostgreSQL server (pg, LISTEN/NOTIFY wake-ups)', () => serverStore(), { atomicAppends: true });

eventStoreContract(
  'PostgreSQL embedded (PGlite over its socket, in-process wake-ups)',
  async () => {
    const database = await EmbeddedPostgres.start('memory://', logger);
    const pool = new pg.Pool({ connectionString: database.url, max: 8 });
    await PostgresEventStore.migrate(pool);
    const store = new PostgresEventStore(pool, new InProcessNotifications(), { namedStatements: false });
    return {
      store,
      async close() {
        await store.close();
        await pool.end();
        await database.stop();
      },
    };
  },
  { atomicAppends: true },
);

eventStoreContract(
  'PostgreSQL server behind the hash chain (what the processes use)',
  () => serverStore((store) => new HashChainedEventStore(store)),
  {
    atomicAppends: true,
    stampedMetadata: ['previousHash'],
  },
);

describe('PostgreSQL event store: event ids', () => {
  it('refuses an event id already stored in ANY stream (ids are unique across the log)', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    try {
      await PostgresEventStore.migrate(pool);
      const store = new PostgresEventStore(pool, new InProcessNotifications());
      const event = testEvent();
      await store.append(`dup-${randomUUID()}`, [event], 'no_stream');
      const error = await store.append(`dup-${randomUUID()}`, [event], 'no_stream').catch((e: unknown) => e);
      expect(error).to.be.instanceOf(DuplicateEventIdError);
      await store.close();
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
