import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import { DuplicateEventIdError, WrongExpectedRevisionError, type EventStreams, type StreamAppend } from '../../command-api/ports.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import { subscribeToAll } from '../../projectors/subscription.ts';
import { eventually, testEvent } from '../../test/support/events.ts';

export type EventStoreUnderTest = EventStreams & GlobalEventLog;

/**
 * The event-store port's contract. Every implementation runs this same suite: PostgreSQL (server and
 * embedded) always, EventStoreDB when EVENTSTORE_URL is set. Streams get unique names, so the suite also
 * works on a store that already holds events.
 */
export function eventStoreContract(
  name: string,
  open: () => Promise<{ store: EventStoreUnderTest; close(): Promise<void> }>,
  /** What the store offers beyond the required port (optional methods). */
  offers: {
    atomicAppends: boolean;
    /** appendBulk (imports). */
    bulkAppends?: boolean;
    /** Metadata keys the store adds on append (the hash chain's link). */
    stampedMetadata?: string[];
    /** StreamAppend.predecessorId is checked (checksPredecessors). */
    predecessorChecks?: boolean;
  },
) {
  const asAppended = (metadata: object) =>
    Object.fromEntries(Object.entries(metadata).filter(([key]) => !(offers.stampedMetadata ?? []).includes(key)));
  describe(`event store contract: ${name}`, function () {
    this.timeout(60_000);
    let store: EventStoreUnderTest;
    let close: () => Promise<void>;
    const stream = (label: string) => `contract${label}-${randomUUID()}`;
    const logger = pino({ level: 'silent' });

    before(async () => {
      ({ store, close } = await open());
    });
    after(async () => {
      await close?.();
    });

    describe('append and read a stream', () => {
      it('appends to a new stream and reads the events back in order with 0-based revisions', async () => {
        const id = stream('A');
        const events = [testEvent('First', { n: 1 }), testEvent('Second', { n: 2, text: 'quote " and \\ back' })];
        const result = await store.append(id, events, 'no_stream');
        expect(result.nextRevision).to.equal(1);
        const read = await store.readStream(id);
        expect(read.map((e) => [e.type, e.revision, e.data])).to.deep.equal([
          ['First', 0, { n: 1 }],
          ['Second', 1, { n: 2, text: 'quote " and \\ back' }],
        ]);
        expect(read[1]!.id).to.equal(events[1]!.id);
        expect(read[1]!.position).to.equal(result.position);
        expect(asAppended(read[0]!.metadata)).to.deep.equal(events[0]!.metadata);
        expect(read[0]!.version).to.equal(1);
        expect(read[0]!.streamId).to.equal(id);
        expect(Date.parse(read[0]!.recordedAt)).to.be.a('number').and.not.NaN;
      });

      it('stores a stream and events holding any characters, and an event without a tenant, as they were given', async () => {
        const odd = stream('Odd\ttab\\back"quote\nline{},NULL');
        const data = { text: 'tab\there, newline\nthere, back\\slash, quote", braces {a,b}, unicode ✓ \u001e', nested: { list: [1, 'two', null] } };
        const systemEvent = { ...testEvent('SystemOdd', data), metadata: { ...testEvent().metadata, tenantId: null } } as NewEvent;
        await store.append(odd, [testEvent('Odd', data), systemEvent], 'no_stream');
        await store.append(odd, [testEvent('Odd', { ...data, again: true })], 1);
        const read = await store.readStream(odd);
        expect(read.map((e) => [e.streamId, e.type, e.revision, e.data])).to.deep.equal([
          [odd, 'Odd', 0, data],
          [odd, 'SystemOdd', 1, data],
          [odd, 'Odd', 2, { ...data, again: true }],
        ]);
        expect(read[1]!.metadata.tenantId ?? null).to.equal(null);
      });

      it('reads a missing stream as empty', async () => {
        expect(await store.readStream(stream('Missing'))).to.deep.equal([]);
      });

      it('reads from a revision and a bounded number of events', async () => {
        const id = stream('Range');
        await store.append(
          id,
          [1, 2, 3, 4].map((n) => testEvent('N', { n })),
          'no_stream',
        );
        const read = await store.readStream(id, { fromRevision: 1, maxCount: 2 });
        expect(read.map((e) => e.data)).to.deep.equal([{ n: 2 }, { n: 3 }]);
      });

      it('keeps the schema version of each event', async () => {
        const id = stream('Version');
        await store.append(id, [{ ...testEvent('Versioned'), version: 3 }], 'no_stream');
        expect((await store.readStream(id))[0]!.version).to.equal(3);
      });
    });

    describe('optimistic concurrency', () => {
      it('accepts the exact current revision and refuses a stale one with a typed conflict', async () => {
        const id = stream('Occ');
        await store.append(id, [testEvent()], 'no_stream');
        await store.append(id, [testEvent()], 0);
        const error = await store.append(id, [testEvent()], 0).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(WrongExpectedRevisionError);
        expect((error as WrongExpectedRevisionError).actual).to.equal(1);
        expect((error as WrongExpectedRevisionError).streamId).to.equal(id);
        expect(await store.readStream(id)).to.have.length(2);
      });

      it("refuses 'no_stream' on an existing stream and 'stream_exists' on a missing one", async () => {
        const id = stream('Exists');
        await store.append(id, [testEvent()], 'no_stream');
        const onExisting = await store.append(id, [testEvent()], 'no_stream').catch((e: unknown) => e);
        expect(onExisting).to.be.instanceOf(WrongExpectedRevisionError);
        const onMissing = await store.append(stream('Nope'), [testEvent()], 'stream_exists').catch((e: unknown) => e);
        expect(onMissing).to.be.instanceOf(WrongExpectedRevisionError);
        expect((onMissing as WrongExpectedRevisionError).actual).to.equal('no_stream');
        await store.append(id, [testEvent()], 'stream_exists');
      });

      it("'any' appends whatever the revision", async () => {
        const id = stream('Any');
        await store.append(id, [testEvent()], 'any');
        const result = await store.append(id, [testEvent()], 'any');
        expect(result.nextRevision).to.equal(1);
      });

      it('lets exactly one of many concurrent writers with the same expectation win', async () => {
        const id = stream('Race');
        await store.append(id, [testEvent()], 'no_stream');
        const results = await Promise.allSettled(Array.from({ length: 10 }, () => store.append(id, [testEvent()], 0)));
        expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
        for (const r of results.filter((r) => r.status === 'rejected')) {
          expect((r as PromiseRejectedResult).reason).to.be.instanceOf(WrongExpectedRevisionError);
        }
        expect(await store.readStream(id)).to.have.length(2);
      });

      it('checks each of several concurrent appends on its own: one conflict does not fail the others', async () => {
        const ids = Array.from({ length: 5 }, () => stream('Independent'));
        const results = await Promise.allSettled([
          ...ids.map((id) => store.append(id, [testEvent()], 'no_stream')),
          store.append(ids[0]!, [testEvent()], 5),
        ]);
        expect(results.slice(0, 5).every((r) => r.status === 'fulfilled')).to.equal(true);
        expect(results[5]!.status).to.equal('rejected');
      });
    });

    const atomic = offers.atomicAppends ? describe : describe.skip;
    atomic(`atomic appends to several streams${offers.atomicAppends ? '' : ' — skipped: this store does not offer appendAtomically'}`, () => {
      const appendAtomically = (appends: Parameters<NonNullable<EventStoreUnderTest['appendAtomically']>>[0]) => store.appendAtomically!(appends);

      it('stores events holding any characters in every stream of the group', async () => {
        const data = { text: 'tab\there, back\\slash, quote", braces {a,b}, unicode ✓ \u001e' };
        const [a, b] = [stream('GroupOdd"\\{'), stream('GroupOdd,NULL')];
        await appendAtomically([
          { streamId: a, events: [testEvent('Odd', data), testEvent('Odd', { ...data, n: 2 })], expectedRevision: 'no_stream' },
          { streamId: b, events: [testEvent('Odd', data)], expectedRevision: 'no_stream' },
        ]);
        expect((await store.readStream(a)).map((e) => [e.streamId, e.data])).to.deep.equal([
          [a, data],
          [a, { ...data, n: 2 }],
        ]);
        expect((await store.readStream(b)).map((e) => [e.streamId, e.data])).to.deep.equal([[b, data]]);
      });

      it('stores every append of the group, each with its own revision and position', async () => {
        const [a, b] = [stream('AtomA'), stream('AtomB')];
        await store.append(b, [testEvent('Earlier')], 'no_stream');
        const results = await appendAtomically([
          { streamId: a, events: [testEvent('A1'), testEvent('A2')], expectedRevision: 'no_stream' },
          { streamId: b, events: [testEvent('B1')], expectedRevision: 0 },
        ]);
        expect(results.map((r) => r.nextRevision)).to.deep.equal([1, 1]);
        expect((await store.readStream(a)).map((e) => e.type)).to.deep.equal(['A1', 'A2']);
        expect((await store.readStream(b)).map((e) => e.type)).to.deep.equal(['Earlier', 'B1']);
        expect(store.comparePositions(results[0]!.position, results[1]!.position)).to.be.below(0);
      });

      it('stores nothing when one expectation fails, and names the stream that failed', async () => {
        const [a, b] = [stream('AtomA'), stream('AtomB')];
        await store.append(b, [testEvent('Taken')], 'no_stream');
        const error = await appendAtomically([
          { streamId: a, events: [testEvent('A1')], expectedRevision: 'no_stream' },
          { streamId: b, events: [testEvent('B1')], expectedRevision: 'no_stream' },
        ]).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(WrongExpectedRevisionError);
        expect((error as WrongExpectedRevisionError).streamId).to.equal(b);
        expect((error as WrongExpectedRevisionError).actual).to.equal(0);
        expect(await store.readStream(a)).to.deep.equal([]);
        expect((await store.readStream(b)).map((e) => e.type)).to.deep.equal(['Taken']);
      });

      it('lets exactly one of many concurrent groups claiming the same stream win, without failing unrelated appends', async () => {
        const claim = stream('AtomClaim');
        const owners = Array.from({ length: 8 }, () => stream('AtomOwner'));
        const bystanders = Array.from({ length: 8 }, () => stream('AtomBystander'));
        const results = await Promise.allSettled([
          ...owners.map((owner) =>
            appendAtomically([
              { streamId: claim, events: [testEvent('Claimed', { owner })], expectedRevision: 'no_stream' },
              { streamId: owner, events: [testEvent('Created')], expectedRevision: 'no_stream' },
            ]),
          ),
          ...bystanders.map((id) => store.append(id, [testEvent('Unrelated')], 'no_stream')),
        ]);
        const groups = results.slice(0, owners.length);
        expect(groups.filter((r) => r.status === 'fulfilled')).to.have.length(1);
        for (const r of groups.filter((r) => r.status === 'rejected')) {
          expect((r as PromiseRejectedResult).reason).to.be.instanceOf(WrongExpectedRevisionError);
        }
        expect(results.slice(owners.length).every((r) => r.status === 'fulfilled')).to.equal(true);
        const claimed = await store.readStream(claim);
        expect(claimed).to.have.length(1);
        const winner = (claimed[0]!.data as { owner: string }).owner;
        for (const owner of owners) expect(await store.readStream(owner)).to.have.length(owner === winner ? 1 : 0);
      });
    });

    const predecessors = offers.predecessorChecks ? describe : describe.skip;
    predecessors(`named predecessors${offers.predecessorChecks ? '' : ' — skipped: this store does not check StreamAppend.predecessorId'}`, () => {
      const appendAtomically = (appends: StreamAppend[]) => store.appendAtomically!(appends);

      it('says it checks them', () => {
        expect(store.checksPredecessors).to.equal(true);
      });

      it('refuses an append whose expected revision holds another event than the one it names, storing nothing of its group', async () => {
        const [a, b] = [stream('PredA'), stream('PredB')];
        const first = testEvent('A0');
        await store.append(a, [first], 'no_stream');
        const error = await appendAtomically([
          { streamId: a, events: [testEvent('A1')], expectedRevision: 0, predecessorId: randomUUID() },
          { streamId: b, events: [testEvent('B0')], expectedRevision: 'no_stream' },
        ]).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(WrongExpectedRevisionError);
        expect((error as WrongExpectedRevisionError).streamId).to.equal(a);
        expect((await store.readStream(a)).map((e) => e.type)).to.deep.equal(['A0']);
        expect(await store.readStream(b)).to.deep.equal([]);

        const [result] = await appendAtomically([{ streamId: a, events: [testEvent('A1')], expectedRevision: 0, predecessorId: first.id }]);
        expect(result!.nextRevision).to.equal(1);
        expect((await store.readStream(a)).map((e) => e.type)).to.deep.equal(['A0', 'A1']);
      });

      it('takes a predecessor written earlier in the same group, or by an append sent before and still being written', async () => {
        const [c, d] = [stream('PredGroup'), stream('PredUnderWay')];
        const c0 = testEvent('C0');
        await appendAtomically([
          { streamId: c, events: [c0], expectedRevision: 'no_stream' },
          { streamId: c, events: [testEvent('C1')], expectedRevision: 0, predecessorId: c0.id },
        ]);
        expect((await store.readStream(c)).map((e) => e.type)).to.deep.equal(['C0', 'C1']);

        const d0 = testEvent('D0');
        const d1 = testEvent('D1');
        const first = appendAtomically([{ streamId: d, events: [d0], expectedRevision: 'no_stream' }]);
        const second = appendAtomically([{ streamId: d, events: [d1], expectedRevision: 0, predecessorId: d0.id }]);
        const third = appendAtomically([{ streamId: d, events: [testEvent('D2')], expectedRevision: 1, predecessorId: d1.id }]);
        expect((await Promise.all([first, second, third])).map(([result]) => result!.nextRevision)).to.deep.equal([0, 1, 2]);
        expect((await store.readStream(d)).map((e) => e.type)).to.deep.equal(['D0', 'D1', 'D2']);
      });

      it('refuses an append naming one that was refused, when another writer took its revision', async () => {
        const [e, taken] = [stream('PredRefused'), stream('PredTaken')];
        await store.append(e, [testEvent('E0')], 'no_stream');
        await store.append(taken, [testEvent('Taken')], 'no_stream');
        const named = testEvent('Named');
        const outcomes = await Promise.allSettled([
          // Refused: its group's other member expects a new stream that exists.
          appendAtomically([
            { streamId: e, events: [named], expectedRevision: 0 },
            { streamId: taken, events: [testEvent('Again')], expectedRevision: 'no_stream' },
          ]),
          // Another writer, sent next, takes revision 1.
          appendAtomically([{ streamId: e, events: [testEvent('Other')], expectedRevision: 0 }]),
          // Expects revision 1 to be the refused one: it is not.
          appendAtomically([{ streamId: e, events: [testEvent('Linked')], expectedRevision: 1, predecessorId: named.id }]),
        ]);
        expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'fulfilled', 'rejected']);
        expect((outcomes[2] as PromiseRejectedResult).reason).to.be.instanceOf(WrongExpectedRevisionError);
        expect((await store.readStream(e)).map((event) => event.type)).to.deep.equal(['E0', 'Other']);
      });
    });

    const bulk = offers.bulkAppends ? describe : describe.skip;
    bulk(`bulk appends${offers.bulkAppends ? '' : ' — skipped: this store does not offer appendBulk'}`, () => {
      const appendBulk = (appends: StreamAppend[]) => store.appendBulk!(appends);
      /** Appends of two events each to new streams. */
      const newStreams = (label: string, count: number): StreamAppend[] =>
        Array.from({ length: count }, (_, n) => ({
          streamId: stream(label),
          events: [testEvent('Imported', { n }), testEvent('Tagged', { n })],
          expectedRevision: 'no_stream' as const,
        }));

      it('stores many streams at once, each with its revision, positions increasing in input order', async () => {
        const [existing, anyStream] = [stream('BulkExisting'), stream('BulkAny')];
        await store.append(existing, [testEvent('Earlier')], 'no_stream');
        await store.append(anyStream, [testEvent('Earlier')], 'no_stream');
        const appends: StreamAppend[] = [
          ...newStreams('Bulk', 40),
          { streamId: existing, events: [testEvent('Later')], expectedRevision: 0 },
          { streamId: anyStream, events: [testEvent('Later')], expectedRevision: 'any' },
        ];
        const outcomes = await appendBulk(appends);
        expect(outcomes.map((o) => o.status)).to.deep.equal(appends.map(() => 'stored'));
        expect(outcomes.map((o) => (o.status === 'stored' ? o.nextRevision : null))).to.deep.equal([...appends.slice(0, 40).map(() => 1), 1, 1]);
        const positions = outcomes.map((o) => (o.status === 'stored' ? o.position : ''));
        for (let i = 1; i < positions.length; i++) expect(store.comparePositions(positions[i - 1]!, positions[i]!)).to.be.below(0);
        const read = await store.readStream(appends[7]!.streamId);
        expect(read.map((e) => [e.type, e.revision, e.data])).to.deep.equal([
          ['Imported', 0, { n: 7 }],
          ['Tagged', 1, { n: 7 }],
        ]);
        expect(read[1]!.position).to.equal(positions[7]);
        expect(asAppended(read[0]!.metadata)).to.deep.equal(appends[7]!.events[0]!.metadata);
        expect((await store.readStream(existing)).map((e) => e.type)).to.deep.equal(['Earlier', 'Later']);
        expect((await store.readStream(anyStream)).map((e) => e.type)).to.deep.equal(['Earlier', 'Later']);
      });

      it('rejects an append whose stream is not at the expected revision, naming the actual one, and stores the others', async () => {
        const [taken, missing] = [stream('BulkTaken'), stream('BulkMissing')];
        await store.append(taken, [testEvent('Taken')], 'no_stream');
        const [first, last] = newStreams('BulkFine', 2);
        const outcomes = await appendBulk([
          first!,
          { streamId: taken, events: [testEvent('Again'), testEvent('Again')], expectedRevision: 'no_stream' },
          { streamId: missing, events: [testEvent('Nope')], expectedRevision: 3 },
          last!,
        ]);
        expect(outcomes.map((o) => o.status)).to.deep.equal(['stored', 'wrong_expected_revision', 'wrong_expected_revision', 'stored']);
        expect(outcomes[1]).to.deep.equal({ status: 'wrong_expected_revision', actual: 0 });
        expect(outcomes[2]).to.deep.equal({ status: 'wrong_expected_revision', actual: 'no_stream' });
        expect((await store.readStream(taken)).map((e) => e.type)).to.deep.equal(['Taken']);
        expect(await store.readStream(missing)).to.deep.equal([]);
        expect(await store.readStream(last!.streamId)).to.have.length(2);
      });

      it('rejects a new stream that exists after all, also when every append of the bulk expects a new stream', async () => {
        const taken = stream('BulkAllNewTaken');
        await store.append(taken, [testEvent('Taken')], 'no_stream');
        const fresh = newStreams('BulkAllNew', 100);
        const appends: StreamAppend[] = [
          ...fresh.slice(0, 50),
          { streamId: taken, events: [testEvent('Again')], expectedRevision: 'no_stream' },
          ...fresh.slice(50),
        ];
        const outcomes = await appendBulk(appends);
        expect(outcomes.map((o) => o.status)).to.deep.equal(appends.map((a) => (a.streamId === taken ? 'wrong_expected_revision' : 'stored')));
        expect(outcomes[50]).to.deep.equal({ status: 'wrong_expected_revision', actual: 0 });
        expect((await store.readStream(taken)).map((e) => e.type)).to.deep.equal(['Taken']);
        const positions = outcomes.flatMap((o) => (o.status === 'stored' ? [o.position] : []));
        for (let i = 1; i < positions.length; i++) expect(store.comparePositions(positions[i - 1]!, positions[i]!)).to.be.below(0);
        for (const append of fresh) {
          expect((await store.readStream(append.streamId)).map((e) => e.id)).to.deep.equal(append.events.map((e) => e.id));
        }
      });

      it('stores a new stream holding any characters, and events without a tenant, as they were given', async () => {
        const odd = stream('Bulk\ttab\\back"quote\nline');
        const data = { text: 'tab\there, newline\nthere, back\\slash, quote", unicode ✓ \u001e', nested: { list: [1, 'two', null] } };
        const [plain] = newStreams('BulkOdd', 1);
        const systemEvent = { ...testEvent('SystemImported', data), metadata: { ...testEvent().metadata, tenantId: null } } as NewEvent;
        const outcomes = await appendBulk([plain!, { streamId: odd, events: [testEvent('Odd', data), systemEvent], expectedRevision: 'no_stream' }]);
        expect(outcomes.map((o) => o.status)).to.deep.equal(['stored', 'stored']);
        const read = await store.readStream(odd);
        expect(read.map((e) => [e.streamId, e.type, e.revision, e.data])).to.deep.equal([
          [odd, 'Odd', 0, data],
          [odd, 'SystemImported', 1, data],
        ]);
        expect(read[1]!.metadata.tenantId ?? null).to.equal(null);
      });

      it('refuses a bulk that names a stream twice, storing nothing', async () => {
        const [a, b] = newStreams('BulkTwice', 2);
        const error = await appendBulk([a!, b!, { ...a!, events: [testEvent()], expectedRevision: 1 }]).catch((e: unknown) => e);
        expect(error)
          .to.be.instanceOf(Error)
          .with.property('message')
          .that.matches(/more than once/);
        expect(await store.readStream(a!.streamId)).to.deep.equal([]);
        expect(await store.readStream(b!.streamId)).to.deep.equal([]);
      });

      it('never stores an event twice when a bulk is sent again', async () => {
        const appends = newStreams('BulkRetried', 5);
        const first = await appendBulk(appends);
        const again = await appendBulk(appends.map((append, i) => (i % 2 === 0 ? append : { ...append, expectedRevision: 'any' })));
        // PostgreSQL refuses the known ids (or the revisions that moved on); EventStoreDB answers the first result.
        again.forEach((outcome, i) => {
          if (outcome.status === 'stored') expect(outcome).to.deep.equal(first[i]);
          else expect(outcome.status).to.be.oneOf(['duplicate_event_id', 'wrong_expected_revision']);
        });
        for (const append of appends) {
          expect((await store.readStream(append.streamId)).map((e) => e.id)).to.deep.equal(append.events.map((e) => e.id));
        }
      });

      it('hands every bulk event to readers of the log exactly once and in order, also with appends alongside', async () => {
        const start = await store.headPosition();
        const appends = newStreams('BulkLog', 150);
        const alongside = Array.from({ length: 20 }, () => stream('BulkAlongside'));
        const received: RecordedEvent[] = [];
        const ours = new Set([...appends, ...alongside.map((streamId) => ({ streamId }))].map((a) => a.streamId));
        const subscription = subscribeToAll(store, {
          from: start,
          batchSize: 37,
          logger,
          idlePollMs: 200,
          handle: async (events) => {
            for (const e of events) if (ours.has(e.streamId)) received.push(e);
          },
        });
        try {
          const [outcomes] = await Promise.all([
            appendBulk(appends),
            Promise.all(alongside.map((id) => store.append(id, [testEvent('Live')], 'no_stream'))),
          ]);
          expect(outcomes.every((o) => o.status === 'stored')).to.equal(true);
          const total = appends.length * 2 + alongside.length;
          await eventually(
            () => received.length,
            (n) => n >= total,
          );
          const paged: RecordedEvent[] = [];
          let after = start;
          for (;;) {
            const page = await store.readPage({ after, maxCount: 53 });
            paged.push(...page.events.filter((e) => ours.has(e.streamId)));
            if (page.atHead || page.end === null) break;
            after = page.end;
          }
          const bulkIds = appends.flatMap((a) => a.events.map((e) => e.id));
          for (const seen of [received, paged]) {
            expect(seen).to.have.length(total);
            expect(new Set(seen.map((e) => e.id)).size).to.equal(total);
            for (let i = 1; i < seen.length; i++) expect(store.comparePositions(seen[i - 1]!.position, seen[i]!.position)).to.be.below(0);
            expect(seen.filter((e) => e.type !== 'Live').map((e) => e.id)).to.deep.equal(bulkIds);
          }
        } finally {
          await subscription.stop();
        }
      });

      it('takes an empty bulk', async () => {
        expect(await appendBulk([])).to.deep.equal([]);
      });
    });

    describe('the global log', () => {
      it('reads every appended event after a position, in order, in pages', async () => {
        const start = await store.headPosition();
        const id = stream('Log');
        const appended = Array.from({ length: 7 }, (_, n) => testEvent('Logged', { n }));
        for (const event of appended) await store.append(id, [event], 'any');
        const seen: RecordedEvent[] = [];
        let after = start;
        for (;;) {
          const page = await store.readAll({ after, maxCount: 3 });
          expect(page.length).to.be.at.most(3);
          if (page.length === 0) break;
          seen.push(...page);
          after = page[page.length - 1]!.position;
        }
        const ours = seen.filter((e) => e.streamId === id);
        expect(ours.map((e) => e.id)).to.deep.equal(appended.map((e) => e.id));
        for (let i = 1; i < seen.length; i++) {
          expect(store.comparePositions(seen[i - 1]!.position, seen[i]!.position)).to.be.below(0);
        }
        expect(store.comparePositions(await store.headPosition(), seen[seen.length - 1]!.position)).to.equal(0);
      });

      it('orders positions with null lowest, and recognises its own positions', async () => {
        const result = await store.append(stream('Pos'), [testEvent()], 'no_stream');
        expect(store.comparePositions(null, result.position)).to.be.below(0);
        expect(store.comparePositions(result.position, null)).to.be.above(0);
        expect(store.comparePositions(result.position, result.position)).to.equal(0);
        expect(store.isValidPosition(result.position)).to.equal(true);
        expect(store.isValidPosition('not a position')).to.equal(false);
        expect(store.isValidPosition('1; DROP TABLE x')).to.equal(false);
        // Digits beyond what a position can hold (PostgreSQL's bigint) are no position, not a database error later.
        expect(store.isValidPosition('9223372036854775808')).to.equal(false);
        expect(store.isValidPosition('99999999999999999999')).to.equal(false);
      });

      // A client that lost the answer to an append sends it again. Stores differ in HOW they make that safe
      // (PostgreSQL refuses the known ids, EventStoreDB answers the first result again) but never store twice.
      it('never stores an event twice when an append is retried with the same event ids', async () => {
        const id = stream('Retried');
        const events = [testEvent('Once'), testEvent('Twice')];
        const first = await store.append(id, events, 'no_stream');
        const retried = await store.append(id, events, 'no_stream').catch((e: unknown) => e);
        if (retried instanceof Error) expect(retried).to.be.instanceOf(DuplicateEventIdError);
        else expect(retried).to.deep.equal(first);
        expect((await store.readStream(id)).map((e) => e.id)).to.deep.equal(events.map((e) => e.id));
      });
    });

    describe('catch-up subscription', () => {
      it('catches up from a checkpoint, turns live, and hands every event once, in order, one batch at a time', async () => {
        const id = stream('Sub');
        const start = await store.headPosition();
        const before = Array.from({ length: 5 }, (_, n) => testEvent('Before', { n }));
        for (const event of before) await store.append(id, [event], 'any');
        const received: string[] = [];
        let running = 0;
        let overlapped = false;
        const subscription = subscribeToAll(store, {
          from: start,
          batchSize: 2,
          logger,
          idlePollMs: 200,
          handle: async (events) => {
            running++;
            if (running > 1) overlapped = true;
            expect(events.length).to.be.at.most(2);
            // A handler that takes a while IS the scenario: a second batch handed over meanwhile would overlap
            // this one. Nothing waits on it; the test waits for what it receives by condition.
            await new Promise((r) => setTimeout(r, 5));
            for (const e of events) if (e.streamId === id) received.push(e.id);
            running--;
          },
        });
        try {
          await eventually(
            () => received.length,
            (n) => n === 5,
          );
          await eventually(() => subscription.caughtUp, Boolean);
          const live = Array.from({ length: 5 }, (_, n) => testEvent('Live', { n }));
          for (const event of live) await store.append(id, [event], 'any');
          await eventually(
            () => received.length,
            (n) => n === 10,
          );
          expect(received).to.deep.equal([...before, ...live].map((e) => e.id));
          expect(overlapped).to.equal(false);
        } finally {
          await subscription.stop();
        }
      });

      it('offers a batch again after its handler failed, without skipping it', async () => {
        const id = stream('Retry');
        const start = await store.headPosition();
        await store.append(id, [testEvent('A'), testEvent('B')], 'no_stream');
        let failures = 0;
        const received: string[] = [];
        const subscription = subscribeToAll(store, {
          from: start,
          batchSize: 100,
          logger,
          handle: async (events) => {
            if (failures < 2) {
              failures++;
              throw new Error('handler failed on purpose');
            }
            for (const e of events) if (e.streamId === id) received.push(e.type);
          },
        });
        try {
          await eventually(
            () => received,
            (r) => r.length === 2,
          );
          expect(received).to.deep.equal(['A', 'B']);
          expect(failures).to.equal(2);
        } finally {
          await subscription.stop();
        }
      });
    });
  });
}
