import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import type { RecordedEvent } from '../../domain/events.ts';
import { PostgresEventStore } from '../../infra/eventstore/postgres/postgres-event-store.ts';
import { InProcessNotifications } from '../../infra/notifications/in-process-notifications.ts';
import { countedLog } from '../../test/support/counted-log.ts';
import { eventually, testEvent } from '../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import type { EventPage, GlobalEventLog } from '../ports.ts';
import { SharedPageReader } from './shared-page-reader.ts';

/** Reads pages until the head, as a subscription would. */
async function walk(view: GlobalEventLog, from: string | null, types: string[], maxCount: number) {
  const seen: RecordedEvent[] = [];
  let after = from;
  for (;;) {
    const page: EventPage = await view.readPage({ after, maxCount, types });
    seen.push(...page.events);
    if (page.end === null || view.comparePositions(page.end, after) <= 0) return seen;
    after = page.end;
    if (page.atHead) return seen;
  }
}

describe('shared page reader: projections of one process read each page of the log once', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresEventStore;
  let start: string | null;
  const stream = `shared-${randomUUID()}`;

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await PostgresEventStore.migrate(pool);
    store = new PostgresEventStore(pool, new InProcessNotifications());
    start = await store.headPosition();
    // 30 events alternating two types: A A B A A B ...
    for (let n = 0; n < 30; n++) await store.append(stream, [testEvent(n % 3 === 2 ? 'B' : 'A', { n })], 'any');
  });
  after(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  it('gives each projection exactly its own types, complete and in order', async () => {
    const { log } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 4);
    const [a, b] = [shared.view(), shared.view()];
    const [seenA, seenB] = await Promise.all([walk(a, start, ['A'], 4), walk(b, start, ['B'], 4)]);
    expect(seenA.map((e) => (e.data as { n: number }).n)).to.deep.equal([...Array(30).keys()].filter((n) => n % 3 !== 2));
    expect(seenB.map((e) => (e.data as { n: number }).n)).to.deep.equal([...Array(30).keys()].filter((n) => n % 3 === 2));
  });

  it('reads a page once for projections at the same position, with the union of their types', async () => {
    const { log, reads } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 4);
    const views = [shared.view(), shared.view(), shared.view()];
    const pages = await Promise.all(views.map((view, i) => view.readPage({ after: start, maxCount: 5, types: i === 2 ? ['B'] : ['A'] })));
    expect(reads).to.have.length(1);
    expect(reads[0]!.types).to.have.members(['A', 'B']);
    expect(pages[0]!.end).to.equal(pages[2]!.end);
    expect(pages[2]!.events.every((e) => e.type === 'B')).to.equal(true);
  });

  it('serves a projection standing inside a page already read from that page (and it keeps in step after)', async () => {
    const { log, reads } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 4);
    const [ahead, inside] = [shared.view(), shared.view()];
    const first = await ahead.readPage({ after: start, maxCount: 6, types: ['A', 'B'] });
    const middle = first.events[2]!.position;
    const tail = await inside.readPage({ after: middle, maxCount: 6, types: ['A', 'B'] });
    expect(reads).to.have.length(1);
    expect(tail.end).to.equal(first.end);
    expect(tail.events.map((e) => e.id)).to.deep.equal(first.events.slice(3).map((e) => e.id));
  });

  it('holds at most `keep` pages: a projection that runs ahead waits for the others, then they share', async () => {
    const { log, reads } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 2);
    const [fast, slow] = [shared.view(), shared.view()];
    await slow.readPage({ after: start, maxCount: 3 }); // slow registers at the start
    let fastDone = false;
    const fastWalk = walk(fast, start, ['A', 'B'], 3).then((seen) => {
      fastDone = true;
      return seen;
    });
    // The fast one has read its second page (the first it shares with the slow one): with two pages held it
    // can read no third until the slow one moves, or until the slow one has been silent for two seconds.
    await eventually(
      () => [reads.length, shared.held],
      ([count, held]) => count === 2 && held === 2,
    );
    expect(fastDone, 'the fast projection should be waiting for the slow one').to.equal(false);
    expect(shared.held).to.be.at.most(2);
    const [seenFast, seenSlow] = await Promise.all([fastWalk, walk(slow, start, ['A', 'B'], 3)]);
    expect(seenFast).to.have.length(30);
    expect(seenSlow).to.have.length(30);
    // Ten pages of three: read once each (the slow one's first page included), not once per projection.
    expect(reads.length).to.be.at.most(11);
  });

  it('does not let a silent projection hold the others back for more than a moment', async () => {
    const { log } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 2);
    const [active, silent] = [shared.view(), shared.view()];
    await silent.readPage({ after: start, maxCount: 3 }); // then never reads again
    const seen = await walk(active, start, ['A', 'B'], 3);
    expect(seen).to.have.length(30);
    expect(shared.held).to.be.at.most(2);
  });

  it('never serves "nothing new" again once events were appended after it (live projections stay live)', async () => {
    const { log } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 4);
    const [a, b] = [shared.view(), shared.view()];
    const head = await store.headPosition();
    const empty = await Promise.all([a.readPage({ after: head, maxCount: 5 }), b.readPage({ after: head, maxCount: 5 })]);
    expect(empty.map((page) => page.events.length)).to.deep.equal([0, 0]);
    const appended = testEvent('A', { n: 'live' });
    await store.append(stream, [appended], 'any');
    const [pageA, pageB] = await Promise.all([a.readPage({ after: head, maxCount: 5 }), b.readPage({ after: head, maxCount: 5 })]);
    expect(pageA.events.map((e) => e.id)).to.deep.equal([appended.id]);
    expect(pageB.events.map((e) => e.id)).to.deep.equal([appended.id]);
  });

  it('reads a projection that is behind from its own position, never from a page that ended at the head before later appends', async () => {
    // Live, the projections at the head read a small page at each append; one that is behind and stands
    // inside such a page must get everything up to the new head, not be cut into those small pages.
    const { log, reads } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 4);
    const [live, behind] = [shared.view(), shared.view()];
    const head = (await store.headPosition())!;
    const small = await live.readPage({ after: String(BigInt(head) - 3n), maxCount: 10 });
    expect(small).to.include({ end: head, atHead: true });
    const appended = [testEvent('A', { n: 'later-1' }), testEvent('B', { n: 'later-2' })];
    await store.append(stream, appended, 'any');
    const page = await behind.readPage({ after: String(BigInt(head) - 1n), maxCount: 10 });
    expect(page.end).to.equal(await store.headPosition());
    expect(page.events.map((e) => e.id).slice(1)).to.deep.equal(appended.map((e) => e.id));
    expect(reads).to.have.length(2);
  });

  it('never makes the projection furthest behind wait for room: the pages held are kept for it', async () => {
    // Live, a projection whose last page ended at the head (not kept) stands before the pages the others read
    // since, none of which starts where it stands. It waited for room until the silence deadline (2 s in
    // production; a minute here, beyond this test's timeout), with the others waiting for it.
    const { log } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 2, 60_000);
    const [behind, a, b] = [shared.view(), shared.view(), shared.view()];
    const h0 = (await store.headPosition())!;
    const at = (n: number) => String(BigInt(h0) + BigInt(n));
    expect(await behind.readPage({ after: at(-3), maxCount: 3 })).to.include({ end: h0, atHead: true });
    await store.append(stream, [testEvent('A', { n: 'h+1' })], 'any');
    expect(await a.readPage({ after: h0, maxCount: 3 })).to.include({ end: at(1), atHead: true });
    await store.append(
      stream,
      [...Array(9).keys()].map((n) => testEvent('B', { n: `h+${n + 2}` })),
      'any',
    );
    expect(await a.readPage({ after: at(1), maxCount: 3 })).to.include({ end: at(4), atHead: false });
    expect(await b.readPage({ after: at(4), maxCount: 3 })).to.include({ end: at(7), atHead: false });
    expect(shared.held).to.equal(2);
    // No page starts at h0 and the room is full: the projection there reads its own page at once.
    const page = await behind.readPage({ after: h0, maxCount: 3 });
    expect(page.events.map((e) => (e.data as { n: string }).n)).to.deep.equal(['h+1', 'h+2', 'h+3']);
  });

  it('reads what the log answers from memory straight from it: nothing kept here, nobody waits for room', async () => {
    // The process's tail of the log answers live projections from memory (and shares them there); kept here,
    // their pages filled the room and a live projection waited for a background one to move.
    const { log, reads } = countedLog(store);
    const shared = new SharedPageReader({ ...log, answersFromMemory: () => true }, ['A', 'B'], 1, 60_000);
    const [slow, fast] = [shared.view(), shared.view()];
    const first = await slow.readPage({ after: start, maxCount: 3 });
    expect(first.atHead).to.equal(false);
    const pages = await Promise.all([3, 6, 9].map((n) => fast.readPage({ after: String(BigInt(start ?? '0') + BigInt(n)), maxCount: 3 })));
    expect(pages.map((page) => page.events.length)).to.deep.equal([3, 3, 3]);
    expect(shared.held).to.equal(0);
    expect(reads).to.have.length(4);
  });

  it('reads a page again after a failed read instead of keeping the failure', async () => {
    let fail = true;
    const flaky: GlobalEventLog = {
      ...countedLog(store).log,
      readPage: (options) => {
        if (fail) {
          fail = false;
          return Promise.reject(new Error('connection lost'));
        }
        return store.readPage(options);
      },
    };
    const view = new SharedPageReader(flaky, ['A'], 2).view();
    const error = await view.readPage({ after: start, maxCount: 5, types: ['A'] }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
    const page = await view.readPage({ after: start, maxCount: 5, types: ['A'] });
    expect(page.events).to.have.length(5);
  });

  it('counts a larger page (of a catch-up) as the room of as many pages as it holds units of events', async () => {
    const { log, reads } = countedLog(store);
    // Room for three pages of three events; a page of six takes two of them.
    const shared = new SharedPageReader(log, ['A', 'B'], 3, 60_000, 3);
    const [fast, slow] = [shared.view(), shared.view()];
    await slow.readPage({ after: start, maxCount: 3 }); // one unit held; slow stays at the start
    const first = await fast.readPage({ after: start, maxCount: 6 });
    expect(first.events).to.have.length(6);
    // Three units held (3 + 6 events): the fast one waits for the slow one before reading a third page.
    let read = false;
    const next = fast.readPage({ after: first.end, maxCount: 6 }).then((page) => ((read = true), page));
    await eventually(
      () => shared.held,
      (held) => held === 2,
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(read, 'the fast projection should wait for room').to.equal(false);
    expect(reads).to.have.length(2);
    await slow.readPage({ after: first.end, maxCount: 6 }); // the slow one moves past both pages: room again
    expect((await next).events).to.have.length(6);
  });

  it('reads the last page of a catch-up once when it is large: every projection asking from there gets it', async () => {
    const { log, reads } = countedLog(store);
    const shared = new SharedPageReader(log, ['A', 'B'], 8, 60_000, 3);
    const views = [shared.view(), shared.view(), shared.view()];
    const head = (await store.headPosition())!;
    const from = String(BigInt(head) - 5n);
    const first = await views[0]!.readPage({ after: from, maxCount: 10 });
    expect(first).to.include({ end: head, atHead: true });
    expect(first.events).to.have.length(5);
    const later = await Promise.all(views.slice(1).map((view) => view.readPage({ after: from, maxCount: 10 })));
    expect(later.map((page) => page.events.map((e) => e.id))).to.deep.equal([0, 1].map(() => first.events.map((e) => e.id)));
    expect(reads).to.have.length(1);
    // Not its tail: a projection inside it reads from where it stands (the log may have moved on since).
    const appended = testEvent('A', { n: 'after-last-page' });
    await store.append(stream, [appended], 'any');
    const inside = await views[2]!.readPage({ after: first.events[2]!.position, maxCount: 10 });
    expect(inside.events.map((e) => e.id)).to.deep.equal([...first.events.slice(3).map((e) => e.id), appended.id]);
    expect(reads).to.have.length(2);
  });
});
