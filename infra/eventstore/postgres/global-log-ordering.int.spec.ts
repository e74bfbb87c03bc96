import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import type { RecordedEvent } from '../../../domain/events.ts';
import type { GlobalEventLog } from '../../../projectors/ports.ts';
import { subscribeToAll } from '../../../projectors/subscription.ts';
import { eventually, testEvent } from '../../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.ts';
import { PgNotifications } from '../../notifications/pg-notifications.ts';
import { PostgresEventStore } from './postgres-event-store.ts';

const logger = pino({ level: 'silent' });
/**
 * Only for what the scenarios are made of (appenders that jitter, a transaction held open for a while): no
 * test waits a fixed time for something to happen; they wait for conditions.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `count` sessions of this database wait for a lock (an append queued behind an open one). */
async function waitingForLocks(url: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await eventually(
      async () =>
        (
          await client.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
          )
        ).rows[0]!.n,
      (n) => n >= count,
    );
  } finally {
    await client.end();
  }
}

/** An appender in its own "process": own pool, own notifications, own group-commit batcher. */
async function openStore(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined); // idle connections killed by the test; the next query reconnects
  const notifications = new PgNotifications(url, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  return {
    store,
    pool,
    async close() {
      await store.close();
      await notifications.close();
      await pool.end();
    },
  };
}

/** Calls the append function inside a transaction we control, to commit late, roll back or crash. */
async function beginRawAppend(url: string, streamId: string) {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  const event = testEvent('RawAppend', { streamId });
  await client.query('BEGIN');
  const { rows } = await client.query(
    'SELECT o_outcome, o_position FROM nf_append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text, $13::text, $14, $15, $16, $17::uuid[], $18::boolean[])',
    [
      [streamId],
      [-2],
      [1],
      [0],
      [1],
      [1],
      [streamId],
      [null],
      [event.id],
      [event.type],
      [1],
      JSON.stringify(event.data),
      JSON.stringify(event.metadata),
      [],
      [],
      [],
      null,
      null,
    ],
  );
  expect(rows[0].o_outcome).to.equal('ok');
  return { client, event, position: rows[0].o_position as string };
}

function collect(store: PostgresEventStore, from: string | null, batchSize: number) {
  const seen: RecordedEvent[] = [];
  let reads = 0;
  // The store as the subscription reads it, counting the pages it has finished reading.
  const log: GlobalEventLog = {
    readPage: async (options) => {
      const page = await store.readPage(options);
      reads++;
      return page;
    },
    readAll: (options) => store.readAll(options),
    headPosition: () => store.headPosition(),
    isValidPosition: (value) => store.isValidPosition(value),
    comparePositions: (a, b) => store.comparePositions(a, b),
    waitForAppends: (after, timeoutMs, signal) => store.waitForAppends(after, timeoutMs, signal),
  };
  const subscription = subscribeToAll(log, {
    from,
    batchSize,
    logger,
    idlePollMs: 100,
    handle: async (events) => {
      seen.push(...events);
    },
  });
  return { seen, subscription, reads: () => reads };
}

function expectStrictlyIncreasing(events: RecordedEvent[]) {
  for (let i = 1; i < events.length; i++) {
    expect(
      BigInt(events[i]!.position) > BigInt(events[i - 1]!.position),
      `position ${events[i]!.position} after ${events[i - 1]!.position}`,
    ).to.equal(true);
  }
}

describe('PostgreSQL global log: no event is ever skipped, no hole ever stalls readers', function () {
  this.timeout(120_000);
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    await PostgresEventStore.migrate(pool);
    await pool.end();
  });
  after(async () => {
    await database.drop();
  });

  it('a reader running during concurrent appends from several processes, some committing late, sees every event exactly once in order', async () => {
    const reader = await openStore(database.url);
    const start = await reader.store.headPosition();
    const { seen, subscription } = collect(reader.store, start, 7);
    const appenders = await Promise.all(Array.from({ length: 4 }, () => openStore(database.url)));
    const appended = new Set<string>();
    try {
      const loops = appenders.map(async ({ store }, a) => {
        for (let i = 0; i < 150; i++) {
          const stream = `ordering-${a}-${i % 10}`;
          const events = Array.from({ length: 1 + (i % 3) }, () => testEvent('Concurrent', { a, i }));
          await store.append(stream, events, 'any');
          for (const e of events) appended.add(e.id);
          // Jitter, to vary how the appenders interleave: part of the scenario, nothing waits on it.
          if (i % 10 === 0) await sleep(Math.random() * 3);
        }
      });
      // Late committers: they take their positions, then hold the transaction open before committing.
      const lateCommitters = Array.from({ length: 3 }, async (_, n) => {
        for (let i = 0; i < 15; i++) {
          const raw = await beginRawAppend(database.url, `late-${n}`);
          // Committing late IS the scenario: the transaction stays open a while, then commits. The test waits
          // for what it checks (the reader reaching the head) by condition, not by this.
          await sleep(5 + Math.random() * 20);
          await raw.client.query('COMMIT');
          appended.add(raw.event.id);
          await raw.client.end();
        }
      });
      await Promise.all([...loops, ...lateCommitters]);

      const head = await reader.store.headPosition();
      await eventually(
        () => seen[seen.length - 1]?.position,
        (p) => p === head,
        30_000,
      );
      const ids = seen.map((e) => e.id);
      expect(new Set(ids).size, 'no event seen twice').to.equal(ids.length);
      expect(ids.length, 'every committed event seen').to.equal(appended.size);
      expect(ids.every((id) => appended.has(id))).to.equal(true);
      expectStrictlyIncreasing(seen);
      // And it is exactly what a fresh reader finds afterwards.
      const fresh = await reader.store.readAll({ after: start, maxCount: 100_000 });
      expect(fresh.map((e) => e.id)).to.deep.equal(ids);
    } finally {
      await subscription.stop();
      await Promise.all(appenders.map((a) => a.close()));
      await reader.close();
    }
  });

  it('an append that commits late is seen before appends that started after it (no lower position shows up later)', async () => {
    const reader = await openStore(database.url);
    const writer = await openStore(database.url);
    const start = await reader.store.headPosition();
    const { seen, subscription, reads } = collect(reader.store, start, 10);
    try {
      const slow = await beginRawAppend(database.url, 'slow-committer');
      // This append must wait for the slow one: it cannot become visible with a position the reader would pass.
      const fastEvent = testEvent('Fast');
      const fast = writer.store.append('fast-writer', [fastEvent], 'any');
      await waitingForLocks(database.url, 1);
      // The reader has read the log (twice, so once wholly after the append queued) and found nothing.
      const readsWhileOpen = reads();
      await eventually(reads, (n) => n >= readsWhileOpen + 2);
      expect(
        seen.map((e) => e.id),
        'nothing visible while the earlier transaction is open',
      ).to.deep.equal([]);
      await slow.client.query('COMMIT');
      await slow.client.end();
      await fast;
      await eventually(
        () => seen.length,
        (n) => n === 2,
      );
      expect(seen.map((e) => e.id)).to.deep.equal([slow.event.id, fastEvent.id]);
      expectStrictlyIncreasing(seen);
    } finally {
      await subscription.stop();
      await writer.close();
      await reader.close();
    }
  });

  it('a rolled-back append leaves no hole: readers go on with the next event at once', async () => {
    const reader = await openStore(database.url);
    const start = await reader.store.headPosition();
    const { seen, subscription } = collect(reader.store, start, 10);
    try {
      const doomed = await beginRawAppend(database.url, 'rolled-back');
      await doomed.client.query('ROLLBACK');
      await doomed.client.end();
      const next = testEvent('AfterRollback');
      const result = await reader.store.append('after-rollback', [next], 'any');
      await eventually(
        () => seen.map((e) => e.id),
        (ids) => ids.includes(next.id),
      );
      expect(seen.map((e) => e.id)).to.deep.equal([next.id]);
      expect(result.position, 'the rolled-back position is reused, so the log has no gap').to.equal(doomed.position);
    } finally {
      await subscription.stop();
      await reader.close();
    }
  });

  it('a crashed appender (connection gone mid-transaction) neither loses nor stalls anything', async () => {
    const reader = await openStore(database.url);
    const writer = await openStore(database.url);
    const start = await reader.store.headPosition();
    const { seen, subscription } = collect(reader.store, start, 10);
    try {
      const crashed = await beginRawAppend(database.url, 'crashed');
      const nextEvent = testEvent('AfterCrash');
      const next = writer.store.append('after-crash', [nextEvent], 'any');
      // The next append is queued behind the open transaction when its client dies.
      await waitingForLocks(database.url, 1);
      // The client process dies: its socket closes without COMMIT.
      (crashed.client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      await next;
      await eventually(
        () => seen.map((e) => e.id),
        (ids) => ids.includes(nextEvent.id),
      );
      expect(seen.map((e) => e.id)).to.deep.equal([nextEvent.id]);
      expect((await reader.store.readStream('crashed')).length, 'the crashed transaction left nothing').to.equal(0);
    } finally {
      await subscription.stop();
      await writer.close();
      await reader.close();
    }
  });

  it('a subscription survives its connections being killed, resuming from its last position without loss or repeat', async () => {
    const reader = await openStore(database.url);
    const writer = await openStore(database.url);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const start = await reader.store.headPosition();
    const { seen, subscription } = collect(reader.store, start, 5);
    const appended: string[] = [];
    try {
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 20; i++) {
          const e = testEvent('Survivor', { round, i });
          await writer.store.append(`survivor-${randomUUID()}`, [e], 'no_stream');
          appended.push(e.id);
        }
        const before = seen.length;
        // Kill every other connection to this database: the reader's pool and its LISTEN connection included.
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        // The next round once the reader has reconnected and moved on (or had read everything already), and the
        // writer's pool has dropped the connections the kill ended (it would hand a dead one to the next append).
        await eventually(
          () => seen.length,
          (n) => n > before || n === appended.length,
          30_000,
        );
        await eventually(
          () => writer.pool.idleCount,
          (idle) => idle === 0,
        );
      }
      await eventually(
        () => seen.length,
        (n) => n >= appended.length,
        30_000,
      );
      expect(seen.map((e) => e.id)).to.deep.equal(appended);
      expectStrictlyIncreasing(seen);
      // Live again after the last kill: a new event arrives through the reconnected listener or the poll.
      const late = testEvent('AfterKills');
      await writer.store.append('after-kills', [late], 'any');
      await eventually(
        () => seen.map((e) => e.id),
        (ids) => ids.includes(late.id),
      );
    } finally {
      await subscription.stop();
      await admin.end();
      await writer.close();
      await reader.close();
    }
  });
});
