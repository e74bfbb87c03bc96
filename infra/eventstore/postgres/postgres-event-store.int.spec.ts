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
  // Small bulk chunks: the contract's bulks then span several transactions, as an import's do.
  const store = wrap(new PostgresEventStore(pool, notifications, { bulkChunkEvents: 64 }));
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

eventStoreContract('PostgreSQL server (pg, LISTEN/NOTIFY wake-ups)', () => serverStore(), { atomicAppends: true, bulkAppends: true });

eventStoreContract(
  'PostgreSQL embedded (PGlite over its socket, in-process wake-ups)',
  async () => {
    const database = await EmbeddedPostgres.start('memory://', logger);
    const pool = new pg.Pool({ connectionString: database.url, max: 8 });
    await PostgresEventStore.migrate(pool);
    const store = new PostgresEventStore(pool, new InProcessNotifications(), { namedStatements: false, bulkChunkEvents: 64 });
    return {
      store,
      async close() {
        await store.close();
        await pool.end();
        await database.stop();
      },
    };
  },
  { atomicAppends: true, bulkAppends: true },
);

eventStoreContract(
  'PostgreSQL server behind the hash chain (what the processes use)',
  () => serverStore((store) => new HashChainedEventStore(store)),
  {
    atomicAppends: true,
    bulkAppends: true,
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

  it('rejects the bulk appends holding a stored id or one used earlier in the bulk, storing the others', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    try {
      await PostgresEventStore.migrate(pool);
      const store = new PostgresEventStore(pool, new InProcessNotifications());
      const stored = testEvent();
      const reused = testEvent();
      await store.append(`dup-${randomUUID()}`, [stored], 'no_stream');
      const streams = Array.from({ length: 4 }, () => `dup-${randomUUID()}`);
      const outcomes = await store.appendBulk([
        { streamId: streams[0]!, events: [testEvent(), reused], expectedRevision: 'no_stream' },
        { streamId: streams[1]!, events: [testEvent(), stored], expectedRevision: 'no_stream' },
        { streamId: streams[2]!, events: [reused], expectedRevision: 'no_stream' },
        { streamId: streams[3]!, events: [testEvent()], expectedRevision: 'any' },
      ]);
      expect(outcomes).to.deep.equal([
        { status: 'stored', nextRevision: 1, position: '3' },
        { status: 'duplicate_event_id' },
        { status: 'duplicate_event_id' },
        { status: 'stored', nextRevision: 0, position: '4' },
      ]);
      expect(await store.headPosition()).to.equal('4');
      await store.close();
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
