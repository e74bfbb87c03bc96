import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { WrongExpectedRevisionError, type StreamAppend } from '../../command-api/ports.ts';
import { testEvent } from '../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { InProcessNotifications } from '../notifications/in-process-notifications.ts';
import { verifyChains } from './chain-verification.ts';
import { EventStoreLayer } from './event-store-layer.ts';
import { canonicalJson, eventHash, HashChainedEventStore, previousHashOf } from './hash-chain.ts';
import { PostgresEventStore } from './postgres/postgres-event-store.ts';

describe('Hash-chained event streams and their verification (real PostgreSQL)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let pool: pg.Pool;
  let raw: PostgresEventStore;
  let store: HashChainedEventStore;

  beforeEach(async () => {
    database = await createTestDatabase('nf_chain');
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await PostgresEventStore.migrate(pool);
    raw = new PostgresEventStore(pool, new InProcessNotifications());
    store = new HashChainedEventStore(raw);
  });

  afterEach(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  it('writes JSON canonically: the same value gives the same text whatever its key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: null }], c: 'é' } })).to.equal('{"a":{"c":"é","d":[1,{"x":null,"y":2}]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 2 })).to.equal('{"b":2}');
  });

  it('links each event to the hash of the one before it in its stream, across appends, batches and processes', async () => {
    const stream = `chain-${randomUUID()}`;
    await store.append(stream, [testEvent('A', { n: 1 }), testEvent('B', { n: 2 })], 'no_stream');
    // Another process (no cached tip) appends the next one.
    await new HashChainedEventStore(raw).append(stream, [testEvent('C', { n: 3 })], 1);
    await store.append(stream, [testEvent('D', { n: 4 })], 'any');
    const events = await raw.readStream(stream);
    expect(events.map(previousHashOf)).to.deep.equal([null, eventHash(events[0]!), eventHash(events[1]!), eventHash(events[2]!)]);
    const report = await verifyChains(raw);
    expect(report).to.deep.include({ events: 4, streams: 1, brokenLinks: 0, firstBroken: null, unchained: 0 });
  });

  it('links to a tip it read (written by another process) without reading the stream again, in plain and atomic appends', async () => {
    const [plain, atomic] = [`read-${randomUUID()}`, `read-${randomUUID()}`];
    const writer = new HashChainedEventStore(raw);
    await writer.append(plain, [testEvent('A', { n: 1 }), testEvent('B', { n: 2 })], 'no_stream');
    await writer.append(atomic, [testEvent('A', { n: 1 })], 'no_stream');
    const reader = new HashChainedEventStore(raw);
    await reader.readStream(plain);
    await reader.readStream(atomic);
    let reads = 0;
    const readStream = raw.readStream.bind(raw);
    raw.readStream = (...args) => {
      reads++;
      return readStream(...args);
    };
    try {
      await reader.append(plain, [testEvent('C', { n: 3 })], 1);
      await reader.appendAtomically!([{ streamId: atomic, events: [testEvent('B', { n: 2 })], expectedRevision: 0 }]);
    } finally {
      raw.readStream = readStream;
    }
    expect(reads, 'no read of the streams to link to their tips').to.equal(0);
    const report = await verifyChains(raw);
    expect(report).to.deep.include({ events: 5, streams: 2, brokenLinks: 0, firstBroken: null });
  });

  it('keeps one chain when two writers race for the same revision: the loser appends nothing', async () => {
    const stream = `race-${randomUUID()}`;
    await store.append(stream, [testEvent('Start')], 'no_stream');
    const other = new HashChainedEventStore(raw);
    const outcomes = await Promise.allSettled([store.append(stream, [testEvent('Mine')], 0), other.append(stream, [testEvent('Theirs')], 0)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
    const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).to.be.instanceOf(WrongExpectedRevisionError);
    // The loser's cached tip was dropped: its next append links to the winner's event.
    await other.append(stream, [testEvent('After')], 1);
    expect((await verifyChains(raw)).brokenLinks).to.equal(0);
  });

  /** Holds the log head's row lock until `release`: appends sent meanwhile wait for it, in the order sent. */
  async function holdTheLogHead(): Promise<{ release(): Promise<void> }> {
    const holder = await pool.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT position FROM nf_log_head WHERE id = 1 FOR UPDATE');
    return {
      async release() {
        await holder.query('ROLLBACK');
        holder.release();
      },
    };
  }

  /** Starts an atomic append and answers once it is on its way to the store (StreamAppend.onSent). */
  function sendAtomically(via: HashChainedEventStore, appends: StreamAppend[]) {
    let onSent = () => {};
    const sent = new Promise<void>((resolve) => (onSent = resolve));
    const outcome = via.appendAtomically!(appends.map((append, i) => (i === 0 ? { ...append, onSent } : append)));
    outcome.catch(() => undefined);
    return { sent, outcome };
  }

  it('links an append to one still under way, sent before that one is stored, and both are stored in one chain', async () => {
    const stream = `underway-${randomUUID()}`;
    await store.append(stream, [testEvent('A')], 'no_stream');
    const head = await holdTheLogHead();
    let firstStored = false;
    const first = sendAtomically(store, [{ streamId: stream, events: [testEvent('B')], expectedRevision: 0 }]);
    void first.outcome.then(() => (firstStored = true));
    await first.sent;
    // Sent while the first is being written: it links to the first's event without waiting for its commit.
    const second = sendAtomically(store, [{ streamId: stream, events: [testEvent('C')], expectedRevision: 1 }]);
    await second.sent;
    expect(firstStored, 'the second was sent before the first was stored').to.equal(false);
    await head.release();
    expect((await Promise.all([first.outcome, second.outcome])).map(([result]) => result!.nextRevision)).to.deep.equal([1, 2]);
    const events = await raw.readStream(stream);
    expect(events.map((e) => e.type)).to.deep.equal(['A', 'B', 'C']);
    expect(previousHashOf(events[2]!)).to.equal(eventHash(events[1]!));
    expect(await verifyChains(raw)).to.deep.include({ brokenLinks: 0, unchained: 0 });
  });

  it('refuses an append linked to one under way that was refused, when another writer took its revision: no broken link', async () => {
    const [stream, taken] = [`refused-${randomUUID()}`, `taken-${randomUUID()}`];
    await store.append(stream, [testEvent('A')], 'no_stream');
    await store.append(taken, [testEvent('Taken')], 'no_stream');
    // Nothing commits until all three are sent: the refusal comes after the link to the refused event was made.
    const head = await holdTheLogHead();
    // Refused: its group's other member expects a new stream that exists.
    const refused = sendAtomically(store, [
      { streamId: stream, events: [testEvent('Refused')], expectedRevision: 0 },
      { streamId: taken, events: [testEvent('Again')], expectedRevision: 'no_stream' },
    ]);
    await refused.sent;
    // Another process takes revision 1, then this one links an append to the refused event.
    const other = sendAtomically(new HashChainedEventStore(raw), [{ streamId: stream, events: [testEvent('Theirs')], expectedRevision: 0 }]);
    await other.sent;
    const linked = sendAtomically(store, [{ streamId: stream, events: [testEvent('Linked')], expectedRevision: 1 }]);
    await linked.sent;
    await head.release();
    const outcomes = await Promise.allSettled([refused.outcome, other.outcome, linked.outcome]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'fulfilled', 'rejected']);
    expect((outcomes[2] as PromiseRejectedResult).reason).to.be.instanceOf(WrongExpectedRevisionError);
    expect((await raw.readStream(stream)).map((e) => e.type)).to.deep.equal(['A', 'Theirs']);
    expect(await verifyChains(raw)).to.deep.include({ brokenLinks: 0, unchained: 0 });
    // Its tip dropped, the next append links to what is stored.
    await store.append(stream, [testEvent('After')], 1);
    expect(await verifyChains(raw)).to.deep.include({ brokenLinks: 0, unchained: 0 });
  });

  it('on a store that cannot check a predecessor, waits for the append under way before linking to it', async () => {
    const stream = `waits-${randomUUID()}`;
    const unchecked = new HashChainedEventStore(
      new (class extends EventStoreLayer {
        override get checksPredecessors() {
          return false;
        }
      })(raw, {}),
    );
    await unchecked.append(stream, [testEvent('A')], 'no_stream');
    let firstStored = false;
    const first = sendAtomically(unchecked, [{ streamId: stream, events: [testEvent('B')], expectedRevision: 0 }]);
    void first.outcome.then(() => (firstStored = true));
    await first.sent;
    const second = sendAtomically(unchecked, [{ streamId: stream, events: [testEvent('C')], expectedRevision: 1 }]);
    await second.sent;
    expect(firstStored, 'the second was sent only once the first was stored').to.equal(true);
    await Promise.all([first.outcome, second.outcome]);
    expect(await verifyChains(raw)).to.deep.include({ brokenLinks: 0, unchained: 0 });
  });

  it('finds an event edited behind the system’s back: the next event’s link breaks, and the heads digest changes', async () => {
    const edited = `edited-${randomUUID()}`;
    const untouched = `untouched-${randomUUID()}`;
    await store.append(edited, [testEvent('Opened', { amount: 100 }), testEvent('Adjusted', { amount: 5 }), testEvent('Closed')], 'no_stream');
    await store.append(untouched, [testEvent('Other')], 'no_stream');
    const before = await verifyChains(raw);
    expect(before.brokenLinks).to.equal(0);

    await pool.query(`UPDATE nf_events SET data = jsonb_set(data, '{amount}', '1000') WHERE stream_id = $1 AND revision = 1`, [edited]);
    const after = await verifyChains(raw);
    expect(after.brokenLinks).to.equal(1);
    expect(after.firstBroken).to.deep.include({ streamId: edited, revision: 2, reason: 'link_mismatch' });
    expect(after.headsDigest).to.equal(before.headsDigest);

    // The newest event of a stream has no later link: the heads digest kept elsewhere shows the change.
    await pool.query(`UPDATE nf_events SET data = '{"note":"forged"}' WHERE stream_id = $1`, [untouched]);
    expect((await verifyChains(raw)).headsDigest).not.to.equal(before.headsDigest);
  });

  it('finds a removed event (a gap in revisions) and reports per tenant', async () => {
    const stream = `gap-${randomUUID()}`;
    await store.append(
      stream,
      [
        testEvent('One', {}, { tenantId: 'tenant-a' }),
        testEvent('Two', {}, { tenantId: 'tenant-a' }),
        testEvent('Three', {}, { tenantId: 'tenant-a' }),
      ],
      'no_stream',
    );
    await store.append(`other-${randomUUID()}`, [testEvent('Elsewhere', {}, { tenantId: 'tenant-b' })], 'no_stream');
    await pool.query('DELETE FROM nf_events WHERE stream_id = $1 AND revision = 1', [stream]);
    const report = await verifyChains(raw, { tenantId: 'tenant-a' });
    expect(report.events).to.equal(2);
    expect(report.firstBroken).to.deep.include({ streamId: stream, revision: 2, reason: 'revision_gap' });
    expect((await verifyChains(raw, { tenantId: 'tenant-b' })).brokenLinks).to.equal(0);
  });

  it('accepts events stored before chaining existed, and links the first chained event to the last of them', async () => {
    const stream = `legacy-${randomUUID()}`;
    await raw.append(stream, [testEvent('Old')], 'no_stream');
    await store.append(stream, [testEvent('New')], 0);
    const report = await verifyChains(raw);
    expect(report).to.deep.include({ unchained: 1, brokenLinks: 0 });
  });
});
