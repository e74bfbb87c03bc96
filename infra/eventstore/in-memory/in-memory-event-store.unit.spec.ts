import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { testEvent } from '../../../test/support/events.ts';
import { eventStoreContract } from '../event-store.contract.ts';
import { InMemoryEventStore } from './in-memory-event-store.ts';

eventStoreContract(
  'in memory (fast command specs)',
  async () => {
    const store = new InMemoryEventStore();
    return { store, close: () => store.close() };
  },
  { atomicAppends: true, bulkAppends: true, predecessorChecks: true },
);

describe('in-memory event store: what PostgreSQL would refuse or change', () => {
  it('refuses an event id already stored in any stream, and one repeated inside an append', async () => {
    const store = new InMemoryEventStore();
    const event = testEvent();
    await store.append(`a-${randomUUID()}`, [event], 'no_stream');
    expect(await store.append(`b-${randomUUID()}`, [event], 'no_stream').catch((e: unknown) => e)).to.have.property('name', 'DuplicateEventIdError');
    const twice = testEvent();
    expect(await store.append(`c-${randomUUID()}`, [twice, twice], 'no_stream').catch((e: unknown) => e)).to.have.property(
      'name',
      'DuplicateEventIdError',
    );
    expect(await store.headPosition()).to.equal('1');
  });

  it('refuses text that jsonb cannot hold (NUL, unpaired surrogates), storing nothing', async () => {
    const store = new InMemoryEventStore();
    for (const bad of ['a\u0000b', 'x\ud800']) {
      const error = await store.append(`s-${randomUUID()}`, [testEvent('Bad', { name: bad })], 'no_stream').catch((e: unknown) => e);
      expect(error)
        .to.be.instanceOf(Error)
        .with.property('message')
        .that.matches(/cannot store/);
    }
    expect(await store.headPosition()).to.equal(null);
  });

  it('keeps events as JSON: a caller can change neither what it appended nor what it read', async () => {
    const store = new InMemoryEventStore();
    const id = `s-${randomUUID()}`;
    const data = { tags: ['a'], at: new Date(Date.UTC(2026, 0, 1)), gone: undefined };
    await store.append(id, [testEvent('Json', data)], 'no_stream');
    data.tags.push('changed');
    const [read] = await store.readStream(id);
    expect(read!.data).to.deep.equal({ tags: ['a'], at: '2026-01-01T00:00:00.000Z' });
    (read!.data as { tags: string[] }).tags.push('changed too');
    expect((await store.readStream(id))[0]!.data).to.deep.equal({ tags: ['a'], at: '2026-01-01T00:00:00.000Z' });
  });

  it('pages the log by type, saying how far it scanned', async () => {
    const store = new InMemoryEventStore();
    const id = `s-${randomUUID()}`;
    await store.append(
      id,
      ['A', 'B', 'A', 'B', 'B'].map((type) => testEvent(type)),
      'no_stream',
    );
    const first = await store.readPage({ after: null, maxCount: 1, types: ['A'] });
    expect([first.events.map((e) => e.position), first.end, first.atHead]).to.deep.equal([['1'], '1', false]);
    const second = await store.readPage({ after: '1', maxCount: 5, types: ['A'] });
    expect([second.events.map((e) => e.position), second.end, second.atHead]).to.deep.equal([['3'], '5', true]);
    const none = await store.readPage({ after: '5', maxCount: 5 });
    expect([none.events, none.end, none.atHead]).to.deep.equal([[], '5', true]);
    const empty = await new InMemoryEventStore().readPage({ after: null, maxCount: 5 });
    expect([empty.events, empty.end, empty.atHead]).to.deep.equal([[], null, true]);
  });

  it('wakes a waiter when an append lands, and answers at once when asked to stop', async () => {
    const store = new InMemoryEventStore();
    const controller = new AbortController();
    const woken = store.waitForAppends(null, 60_000, controller.signal);
    await store.append(`s-${randomUUID()}`, [testEvent()], 'no_stream');
    await woken;
    controller.abort();
    await store.waitForAppends('1', 60_000, controller.signal);
  });
});
