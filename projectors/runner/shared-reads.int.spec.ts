import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { PostgresEventStore } from '../../infra/eventstore/postgres/postgres-event-store.ts';
import { InProcessNotifications } from '../../infra/notifications/in-process-notifications.ts';
import { testEvent } from '../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import type { EventPage, GlobalEventLog } from '../ports.ts';
import { sharingReads } from './shared-reads.ts';

/** The real store; each page read from the database is counted and held until `release()`. */
function held(store: GlobalEventLog) {
  const reads: { after: string | null; types: readonly string[] | undefined }[] = [];
  let gate = Promise.resolve();
  let open = () => undefined as void;
  const log: GlobalEventLog = {
    ...store,
    readPage: async (options) => {
      reads.push({ after: options.after, types: options.types });
      const page = await store.readPage(options);
      await gate;
      return page;
    },
    comparePositions: (a, b) => store.comparePositions(a, b),
    headPosition: () => store.headPosition(),
  };
  return {
    log,
    reads,
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release: () => open(),
  };
}

const plus = (position: string, n: number) => String(BigInt(position) + BigInt(n));
const ns = (page: EventPage) => page.events.map((e) => (e.data as { n: number }).n);

describe('shared reads: the hosts of a process share the page reads they make at the same time', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresEventStore;
  let start: string;
  const stream = `shared-reads-${randomUUID()}`;

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await PostgresEventStore.migrate(pool);
    store = new PostgresEventStore(pool, new InProcessNotifications());
    start = (await store.headPosition()) ?? '0';
    // 12 events alternating two types: A B A B ...
    for (let n = 0; n < 12; n++) await store.append(stream, [testEvent(n % 2 === 0 ? 'A' : 'B', { n })], 'any');
  });
  after(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  it('gives a request made while a read from its position, or from a recent head before it, is in flight its part of that read, with its own types', async () => {
    const log = held(store);
    const reads = sharingReads(log.log);
    const head = (await store.headPosition())!;
    expect(await reads.readPage({ after: head, maxCount: 50 })).to.include({ end: head, atHead: true });
    // 12 more events A B A B ... (n = 100…111) after that head.
    for (let n = 100; n < 112; n++) await store.append(stream, [testEvent(n % 2 === 0 ? 'A' : 'B', { n })], 'any');
    log.hold();
    const first = reads.readPage({ after: head, maxCount: 50, types: ['A'] });
    await new Promise((resolve) => setTimeout(resolve, 50)); // the first read is in flight
    const second = reads.readPage({ after: plus(head, 4), maxCount: 50, types: ['B'] });
    const third = reads.readPage({ after: plus(head, 6), maxCount: 50 });
    const same = reads.readPage({ after: head, maxCount: 50 });
    log.release();
    const [a, b, all, again] = await Promise.all([first, second, third, same]);
    expect(log.reads.map((read) => read.after)).to.deep.equal([head, head]);
    expect(ns(a)).to.deep.equal([100, 102, 104, 106, 108, 110]);
    expect(ns(b)).to.deep.equal([105, 107, 109, 111]);
    expect(ns(all)).to.deep.equal([106, 107, 108, 109, 110, 111]);
    expect(ns(again)).to.have.length(12);
    expect([a.end, b.end, all.end, again.end]).to.deep.equal([plus(head, 12), plus(head, 12), plus(head, 12), plus(head, 12)]);
  });

  it('does not wait for a read from further back (a host catching up: a whole page), but reads on its own', async () => {
    const log = held(store);
    const reads = sharingReads(log.log);
    log.hold();
    const catchingUp = reads.readPage({ after: start, maxCount: 50 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const live = reads.readPage({ after: plus(start, 10), maxCount: 50 });
    log.release();
    expect(ns(await live).slice(0, 2)).to.deep.equal([10, 11]);
    expect(ns(await catchingUp).slice(0, 2)).to.deep.equal([0, 1]);
    expect(log.reads.map((read) => read.after)).to.deep.equal([start, plus(start, 10)]);
  });

  it('never serves a read that is done: a later request reads the log again and sees what was appended since', async () => {
    const log = held(store);
    const reads = sharingReads(log.log);
    const head = (await store.headPosition())!;
    const before = await reads.readPage({ after: head, maxCount: 50 });
    expect(before.events).to.deep.equal([]);
    const appended = testEvent('A', { n: 12 });
    await store.append(stream, [appended], 'any');
    const later = await reads.readPage({ after: head, maxCount: 50 });
    expect(later.events.map((e) => e.id)).to.deep.equal([appended.id]);
    expect(log.reads).to.have.length(2);
  });

  it('reads on its own when the read in flight starts after its position', async () => {
    const log = held(store);
    const reads = sharingReads(log.log);
    log.hold();
    const ahead = reads.readPage({ after: plus(start, 8), maxCount: 50 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const behind = reads.readPage({ after: start, maxCount: 3 });
    log.release();
    expect(ns(await behind)).to.deep.equal([0, 1, 2]);
    expect(ns(await ahead).slice(0, 4)).to.deep.equal([8, 9, 10, 11]);
    expect(log.reads.map((read) => read.after)).to.deep.equal([plus(start, 8), start]);
  });
});
