import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import { DuplicateEventIdError, type StreamAppend, WrongExpectedRevisionError } from '../../../command-api/ports.ts';
import { eventually, testEvent } from '../../../test/support/events.ts';
import { createTestDatabase } from '../../../test/support/postgres.ts';
import { InProcessNotifications } from '../../notifications/in-process-notifications.ts';
import { PgNotifications } from '../../notifications/pg-notifications.ts';
import { EmbeddedPostgres } from '../../postgres/embedded-postgres.ts';
import { eventStoreContract, type EventStoreUnderTest } from '../event-store.contract.ts';
import { HashChainedEventStore } from '../hash-chain.ts';
import { Metrics } from '../../observability/metrics.ts';
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

eventStoreContract('PostgreSQL server (pg, LISTEN/NOTIFY wake-ups)', () => serverStore(), {
  atomicAppends: true,
  bulkAppends: true,
  predecessorChecks: true,
});

eventStoreContract(
  'PostgreSQL embedded (PGlite over its socket, in-process wake-ups)',
  async () => {
    const database = await EmbeddedPostgres.start('memory://', logger);
    const pool = new pg.Pool({ connectionString: database.url, max: 8 });
    await PostgresEventStore.migrate(pool);
    const store = new PostgresEventStore(pool, new InProcessNotifications(), { namedStatements: false, copyBulk: false, bulkChunkEvents: 64 });
    return {
      store,
      async close() {
        await store.close();
        await pool.end();
        await database.stop();
      },
    };
  },
  { atomicAppends: true, bulkAppends: true, predecessorChecks: true },
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

describe('PostgreSQL event store: bulks of new streams go in with COPY', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let metrics: Metrics;
  let store: PostgresEventStore;
  /** Round trips of each bulk path so far. */
  const roundTrips = async () => {
    const { values } = await metrics.databaseRoundTrips.get();
    const of = (kind: string) => values.find((v) => v.labels.kind === kind)?.value ?? 0;
    return { copy: of('bulk_copy'), function: of('bulk_append') };
  };
  const newStream = (events = 2): StreamAppend => ({
    streamId: `copy-${randomUUID()}`,
    events: Array.from({ length: events }, () => testEvent('Imported')),
    expectedRevision: 'no_stream',
  });

  beforeEach(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await PostgresEventStore.migrate(pool);
    metrics = new Metrics({ defaultMetrics: false });
    store = new PostgresEventStore(pool, new InProcessNotifications(), { bulkChunkEvents: 10, metrics });
  });
  afterEach(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  it('loads every chunk of new streams with COPY, at consecutive positions in input order', async () => {
    const appends = Array.from({ length: 12 }, () => newStream());
    const outcomes = await store.appendBulk(appends);
    expect(outcomes).to.deep.equal(appends.map((_, i) => ({ status: 'stored', nextRevision: 1, position: String(2 * i + 2) })));
    expect(await roundTrips()).to.deep.equal({ copy: 3 * 3, function: 0 });
    const { rows } = await pool.query<{ position: string; stream_id: string; revision: string }>(
      'SELECT position, stream_id, revision FROM nf_events ORDER BY position',
    );
    expect(rows.map((r) => [r.position, r.stream_id, Number(r.revision)])).to.deep.equal(
      appends.flatMap((a, i) => [
        [String(2 * i + 1), a.streamId, 0],
        [String(2 * i + 2), a.streamId, 1],
      ]),
    );
    expect(await store.headPosition()).to.equal('24');
  });

  it('hands a chunk COPY was refused for (a known id) to nf_append_bulk, and the rest of the bulk with it', async () => {
    const known = testEvent('Known');
    await store.append(`copy-${randomUUID()}`, [known], 'no_stream');
    // Chunks of 10 events: five new streams; four, one holding the known id; two.
    const holding = { ...newStream(), events: [testEvent('Imported'), known] };
    const appends = [...Array.from({ length: 5 }, () => newStream()), newStream(), holding, newStream(), newStream(), newStream(), newStream()];
    const outcomes = await store.appendBulk(appends);
    expect(outcomes.map((o) => o.status)).to.deep.equal(appends.map((a) => (a === holding ? 'duplicate_event_id' : 'stored')));
    // The first chunk went in with COPY; the second was refused, then written by the function, as was the third.
    expect(await roundTrips()).to.deep.equal({ copy: 2 * 3, function: 2 });
    expect(await store.headPosition()).to.equal(String(1 + 10 * 2));
    expect((await pool.query('SELECT count(*)::int AS n FROM nf_events')).rows[0].n).to.equal(21);
  });

  it('uses nf_append_bulk for a chunk with any other expectation', async () => {
    const existing = `copy-${randomUUID()}`;
    await store.append(existing, [testEvent('Earlier')], 'no_stream');
    const outcomes = await store.appendBulk([newStream(), { streamId: existing, events: [testEvent('Later')], expectedRevision: 0 }]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['stored', 'stored']);
    expect(await roundTrips()).to.deep.equal({ copy: 0, function: 1 });
  });
});

describe('PostgreSQL event store: an append sent beside the transaction that writes its predecessor', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let metrics: Metrics;
  let store: PostgresEventStore;
  /** Holds the next group-commit transaction in this process until release() (it has not reached the server). */
  let holdNext: () => { sent: Promise<void>; release(): void };
  const handedBack = async () => (await metrics.appendsHandedBack.get()).values[0]?.value ?? 0;

  beforeEach(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await PostgresEventStore.migrate(pool);
    metrics = new Metrics({ defaultMetrics: false });
    store = new PostgresEventStore(pool, new InProcessNotifications(), { metrics });
    // The transaction held reaches the server after the next one: the order the log head's lock may also give
    // two transactions on their way at once.
    const query = pool.query.bind(pool) as (config: { text: string }) => Promise<unknown>;
    let hold: { sent(): void; gate: Promise<void> } | null = null;
    (pool as unknown as { query: (config: { text: string }) => Promise<unknown> }).query = async (config) => {
      const held = config.text.includes('nf_append_batch') ? hold : null;
      if (held) {
        hold = null;
        held.sent();
        await held.gate;
      }
      return query(config);
    };
    holdNext = () => {
      let release = () => {};
      let sent = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const reached = new Promise<void>((resolve) => (sent = resolve));
      hold = { sent, gate };
      return { sent: reached, release };
    };
  });
  afterEach(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  /**
   * A 'First' event sent as a new stream, its transaction held; then eight events linked to it (enough queued
   * for a second transaction to start beside the first: APPEND_OVERLAP_FROM), expecting `expected`. Resolves
   * once the second was handed back, with the first released.
   */
  async function linkedBehindHeld(streamId: string, expected: number) {
    const predecessor = testEvent('First');
    const held = holdNext();
    const first = store.appendAtomically([{ streamId, events: [predecessor], expectedRevision: 'no_stream' }]);
    await held.sent;
    const events = Array.from({ length: 8 }, () => testEvent('Linked'));
    const second = store.appendAtomically([{ streamId, events, expectedRevision: expected, predecessorId: predecessor.id }]);
    await eventually(handedBack, (n) => n === 1);
    held.release();
    return { first, second };
  }

  it('is handed back when its transaction went first, and stored after its predecessor: nothing refused', async () => {
    const streamId = `linked-${randomUUID()}`;
    // Its transaction found the stream without the predecessor: handed back, not refused.
    const { first, second } = await linkedBehindHeld(streamId, 0);
    expect(await first).to.deep.equal([{ nextRevision: 0, position: '1' }]);
    expect(await second).to.deep.equal([{ nextRevision: 8, position: '9' }]);
    const stored = await store.readStream(streamId);
    expect(stored.map((event) => event.type)).to.deep.equal(['First', ...Array<string>(8).fill('Linked')]);
  });

  it('is refused, once sent again, when its predecessor was refused', async () => {
    const streamId = `linked-${randomUUID()}`;
    await store.append(streamId, [testEvent('Earlier')], 'no_stream');
    // The first is refused (the stream exists); the one linked to it expects the revision it would have left.
    const { first, second } = await linkedBehindHeld(streamId, 1);
    const refusal = (append: Promise<unknown>) =>
      append.then(
        () => null,
        (err: unknown) => err,
      );
    expect(await refusal(first)).to.be.instanceOf(WrongExpectedRevisionError);
    expect(await refusal(second)).to.be.instanceOf(WrongExpectedRevisionError);
    expect((await store.readStream(streamId)).map((event) => event.type)).to.deep.equal(['Earlier']);
    expect(await handedBack()).to.equal(1);
  });
});
