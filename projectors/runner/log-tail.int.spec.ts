import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import type { RecordedEvent } from '../../domain/events.ts';
import { PostgresEventStore } from '../../infra/eventstore/postgres/postgres-event-store.ts';
import { InProcessNotifications } from '../../infra/notifications/in-process-notifications.ts';
import { countedLog } from '../../test/support/counted-log.ts';
import { eventually, testEvent } from '../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { subscribeToAll } from '../subscription.ts';
import { keepingTail } from './log-tail.ts';
import { sharingReads } from './shared-reads.ts';

const plus = (position: string, n: number) => String(BigInt(position) + BigInt(n));
const ns = (events: RecordedEvent[]) => events.map((e) => (e.data as { n: number }).n);
const TYPES = ['A', 'B', 'C'];

describe('the log tail: recent events read from the store once and served to every host of the process', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresEventStore;
  const stream = () => `log-tail-${randomUUID()}`;
  let n = 0;
  /** Appends `count` events, types A B C A B C … (data.n numbers them across the whole test). */
  const append = async (count: number) => {
    const s = stream();
    for (let i = 0; i < count; i++, n++) await store.append(s, [testEvent(TYPES[n % 3]!, { n })], 'any');
  };
  /** What the store holds of `types` after `after`, up to `end` inclusive. */
  const expected = async (after: string | null, end: string | null, types?: readonly string[]) => {
    const all = await store.readAll({ after, maxCount: 100_000 });
    return all.filter((e) => store.comparePositions(e.position, end) <= 0 && (!types || types.includes(e.type)));
  };

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 8 });
    await PostgresEventStore.migrate(pool);
    store = new PostgresEventStore(pool, new InProcessNotifications());
    await append(30);
  });
  after(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  it('starts at the head, then reads each new event once for every host, whatever their types and positions', async () => {
    const { log, reads } = countedLog(store);
    const tail = keepingTail(log, { maxEvents: 1_000 });
    const head = (await store.headPosition())!;
    // A host at the head: the store answers, and the tail starts there.
    expect(await tail.readPage({ after: head, maxCount: 50, types: ['A'] })).to.deep.include({ events: [], end: head, atHead: true });
    await append(9);
    // The first host to read from the tail's end grows it (all types, one read); the others are served from it.
    const a = await tail.readPage({ after: head, maxCount: 50, types: ['A'] });
    const b = await tail.readPage({ after: head, maxCount: 50, types: ['B', 'C'] });
    const all = await tail.readPage({ after: plus(head, 4), maxCount: 50 });
    const two = await tail.readPage({ after: head, maxCount: 2, types: ['C'] });
    expect(reads.map((read) => [read.after, read.types])).to.deep.equal([
      [head, ['A']],
      [head, undefined],
    ]);
    expect(a.events).to.deep.equal(await expected(head, a.end, ['A']));
    expect(ns(a.events)).to.have.length(3);
    expect(b.events).to.deep.equal(await expected(head, b.end, ['B', 'C']));
    expect(all.events).to.deep.equal(await expected(plus(head, 4), all.end));
    expect([a.end, b.end, all.end]).to.deep.equal([plus(head, 9), plus(head, 9), plus(head, 9)]);
    expect(a.atHead && b.atHead && all.atHead).to.equal(true);
    // A full page ends at its last event: the next page starts right after it.
    expect(two.events).to.have.length(2);
    expect(two.end).to.equal(two.events[1]!.position);
    expect(two.atHead).to.equal(false);
    expect(tail.held).to.equal(9);
    // Once the process hears of an append after the tail's end, a page from the tail no longer claims the head;
    // read from its end, the tail reads the store and holds the new event.
    await append(1);
    const stale = await eventually(
      () => tail.readPage({ after: head, maxCount: 50 }),
      (page) => !page.atHead,
    );
    expect(stale.end).to.equal(plus(head, 9));
    const fresh = await tail.readPage({ after: stale.end, maxCount: 50 });
    expect(fresh).to.deep.include({ end: plus(head, 10), atHead: true });
    expect(fresh.events).to.deep.equal(await expected(plus(head, 9), plus(head, 10)));
  });

  it('sends a host behind the tail to the store, with its own types', async () => {
    const { log, reads } = countedLog(store);
    const tail = keepingTail(log, { maxEvents: 1_000 });
    const head = (await store.headPosition())!;
    await tail.readPage({ after: head, maxCount: 50 });
    const behind = await tail.readPage({ after: plus(head, -6), maxCount: 50, types: ['B'] });
    expect(behind.events).to.deep.equal(await expected(plus(head, -6), head, ['B']));
    expect(reads.at(-1)).to.deep.equal({ after: plus(head, -6), maxCount: 50, types: ['B'] });
  });

  it('holds at most maxEvents (the oldest leave), and a cleared tail answers from the store again', async () => {
    const { log, reads } = countedLog(store);
    const tail = keepingTail(log, { maxEvents: 4 });
    const head = (await store.headPosition())!;
    await tail.readPage({ after: head, maxCount: 50 });
    await append(10);
    const page = await tail.readPage({ after: head, maxCount: 50 });
    expect(ns(page.events)).to.have.length(10);
    expect(tail.held).to.equal(4);
    // Inside what is held: from the tail. Before it: from the store.
    const before = reads.length;
    expect((await tail.readPage({ after: plus(head, 7), maxCount: 50 })).events).to.deep.equal(await expected(plus(head, 7), plus(head, 10)));
    expect(reads.length).to.equal(before);
    expect((await tail.readPage({ after: plus(head, 5), maxCount: 50 })).events).to.deep.equal(await expected(plus(head, 5), plus(head, 10)));
    expect(reads.length).to.equal(before + 1);
    tail.clear();
    expect(tail.held).to.equal(0);
    expect((await tail.readPage({ after: plus(head, 7), maxCount: 50 })).events).to.deep.equal(await expected(plus(head, 7), plus(head, 10)));
    expect(reads.length).to.equal(before + 2);
  });

  it('says which reads it answers from memory: inside what it holds and at its end, not before it, nor once cleared', async () => {
    const { log } = countedLog(store);
    const tail = keepingTail(log, { maxEvents: 4 });
    const head = (await store.headPosition())!;
    expect(tail.answersFromMemory!(head), 'not started').to.equal(false);
    await tail.readPage({ after: head, maxCount: 50 });
    await append(10);
    await tail.readPage({ after: head, maxCount: 50 });
    expect([5, 6, 8, 10, 11].map((n) => tail.answersFromMemory!(plus(head, n)))).to.deep.equal([false, true, true, true, false]);
    tail.clear();
    expect(tail.answersFromMemory!(plus(head, 10))).to.equal(false);
  });

  it('lets events go once held longer than maxAgeMs (an idle process holds nothing); a host behind them reads the store', async () => {
    const { log, reads } = countedLog(store);
    const tail = keepingTail(log, { maxEvents: 1_000, maxAgeMs: 50 });
    const head = (await store.headPosition())!;
    await tail.readPage({ after: head, maxCount: 50 });
    await append(3);
    expect((await tail.readPage({ after: head, maxCount: 50 })).events).to.have.length(3);
    expect(tail.held).to.equal(3);
    await eventually(
      () => tail.readPage({ after: plus(head, 3), maxCount: 50 }).then(() => tail.held),
      (held) => held === 0,
    );
    const before = reads.length;
    expect((await tail.readPage({ after: head, maxCount: 50 })).events).to.deep.equal(await expected(head, plus(head, 3)));
    expect(reads.length).to.equal(before + 1);
  });

  it('never skips or repeats an event: hosts of different types, batch sizes and paces follow the log while it is appended to, trimmed and cleared', async () => {
    const { log } = countedLog(store);
    const tail = keepingTail(log, { maxEvents: 25, readCount: 7 });
    const shared = sharingReads(tail);
    const from = (await store.headPosition())!;
    const hosts = [
      { types: undefined, batchSize: 5, delay: 0 },
      { types: ['A'], batchSize: 3, delay: 0 },
      { types: ['B', 'C'], batchSize: 50, delay: 15 },
      { types: ['C'], batchSize: 1, delay: 5 },
      { types: undefined, batchSize: 1_000, delay: 40 },
    ].map((host) => {
      const seen: RecordedEvent[] = [];
      const subscription = subscribeToAll(shared, {
        from,
        batchSize: host.batchSize,
        ...(host.types ? { types: host.types } : {}),
        liveDelayMs: 1,
        idlePollMs: 20,
        logger: pino({ level: 'silent' }),
        async handle(events) {
          seen.push(...events);
          if (host.delay) await new Promise((resolve) => setTimeout(resolve, host.delay));
        },
      });
      return { ...host, seen, subscription };
    });
    for (let round = 0; round < 12; round++) {
      await append(8);
      if (round === 6) tail.clear();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const head = (await store.headPosition())!;
    try {
      for (const host of hosts) {
        await eventually(
          () => host.subscription.position,
          (position) => store.comparePositions(position, head) === 0,
        );
        expect(host.seen, JSON.stringify(host.types)).to.deep.equal(await expected(from, head, host.types));
      }
    } finally {
      await Promise.all(hosts.map((host) => host.subscription.stop()));
    }
  });
});
