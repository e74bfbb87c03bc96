import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventually } from '../../test/support/events.ts';
import type { EphemeralStore } from './ephemeral-store.ts';

/**
 * Waits until the clock is past `instant`. Letting a time to live run out IS these scenarios: the deadline
 * is taken just after the write was answered, so the store's own expiry (Redis on this machine's clock, or
 * the stand-in on this process's) is at or before it, and both check expiry on every read: no race.
 */
const untilPast = (instant: number) =>
  eventually(
    () => Date.now(),
    (now) => now > instant,
  );

/** The behaviour every EphemeralStore must show: Redis and the in-process stand-in alike. */
export function ephemeralStoreContract(name: string, open: () => Promise<EphemeralStore>): void {
  describe(`ephemeral store contract: ${name}`, function () {
    this.timeout(10_000);
    let store: EphemeralStore;
    let key: (name: string) => string;
    before(async () => {
      store = await open();
    });
    beforeEach(() => {
      const run = randomUUID();
      key = (name) => `contract:${run}:${name}`;
    });
    after(async () => store?.close());

    it('sets, reads and deletes values, and reads many at once', async () => {
      expect(await store.get(key('a'))).to.equal(null);
      expect(await store.set(key('a'), 'one', 10_000)).to.equal(true);
      await store.set(key('b'), 'two', 10_000);
      expect(await store.get(key('a'))).to.equal('one');
      expect(await store.getMany([key('a'), key('missing'), key('b')])).to.deep.equal(['one', null, 'two']);
      await store.delete(key('a'));
      expect(await store.get(key('a'))).to.equal(null);
      expect(await store.getMany([])).to.deep.equal([]);
    });

    it('forgets a value once its time to live has passed', async () => {
      await store.set(key('short'), 'x', 60);
      const expiredBy = Date.now() + 60;
      const ttl = await store.ttl(key('short'));
      expect(ttl).to.be.a('number').within(1, 60);
      await untilPast(expiredBy);
      expect(await store.get(key('short'))).to.equal(null);
      expect(await store.ttl(key('short'))).to.equal(null);
    });

    it('sets only if absent when asked, and exactly one of many concurrent callers wins', async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(key('once'), `caller-${i}`, 10_000, { onlyIfAbsent: true })));
      expect(answers.filter(Boolean)).to.have.length(1);
      const winner = answers.indexOf(true);
      expect(await store.get(key('once'))).to.equal(`caller-${winner}`);
      expect(await store.set(key('once'), 'late', 10_000, { onlyIfAbsent: true })).to.equal(false);
      expect(await store.set(key('once'), 'overwrite', 10_000)).to.equal(true);
      expect(await store.get(key('once'))).to.equal('overwrite');
    });

    it('counts concurrent increments exactly, in a window that later increments do not extend', async () => {
      const values = await Promise.all(Array.from({ length: 25 }, () => store.increment(key('counter'), 150)));
      const windowEndedBy = Date.now() + 150;
      expect([...values].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 25 }, (_, i) => i + 1));
      expect(await store.increment(key('counter'), 10_000, 5)).to.equal(30);
      expect(await store.ttl(key('counter'))).to.be.at.most(150);
      await untilPast(windowEndedBy);
      expect(await store.increment(key('counter'), 10_000)).to.equal(1);
    });

    it('reads values and moves several counters in one gateway round', async () => {
      await store.set(key('mark-a'), 'revoked', 10_000);
      await store.set(key('peek'), '3', 10_000);
      const first = await store.gatewayRound(
        [key('mark-a'), key('mark-b')],
        [
          { key: key('c1'), ttlMs: 10_000, peekKey: key('peek') },
          { key: key('c2'), ttlMs: 10_000, peekKey: key('none') },
        ],
      );
      expect(first).to.deep.equal({
        marks: ['revoked', null],
        counters: [
          [1, '3'],
          [1, null],
        ],
      });
      const second = await store.gatewayRound([], [{ key: key('c1'), ttlMs: 10_000, peekKey: key('peek') }]);
      expect(second).to.deep.equal({ marks: [], counters: [[2, '3']] });
      expect(await store.ttl(key('c2'))).to.be.within(1, 10_000);
    });

    it('answers each of many rounds asked at once with its own marks and counts', async () => {
      await store.set(key('mark-even'), 'even', 10_000);
      await store.set(key('peek-7'), 'seven', 10_000);
      // More rounds than one script carries; shapes vary: marks only, counters only, both, neither.
      const rounds = Array.from({ length: 300 }, (_, i) => ({
        marks: i % 3 === 0 ? [] : [key(i % 2 === 0 ? 'mark-even' : 'mark-odd'), key(`mark-${i}`)],
        counters:
          i % 4 === 0
            ? []
            : [
                { key: key('shared'), ttlMs: 10_000, peekKey: key(`peek-${i}`) },
                { key: key(`own-${i}`), ttlMs: 10_000, peekKey: key('peek-7') },
              ],
      }));
      const answers = await Promise.all(rounds.map(({ marks, counters }) => store.gatewayRound(marks, counters)));
      answers.forEach((answer, i) => {
        expect(answer.marks, `round ${i}`).to.deep.equal(i % 3 === 0 ? [] : [i % 2 === 0 ? 'even' : null, null]);
        expect(answer.counters.length, `round ${i}`).to.equal(i % 4 === 0 ? 0 : 2);
        if (i % 4 !== 0) {
          expect(answer.counters[0]![1], `round ${i}`).to.equal(i === 7 ? 'seven' : null);
          expect(answer.counters[1], `round ${i}`).to.deep.equal([1, 'seven']);
        }
      });
      // The shared counter counted every round that moved it, each once.
      const shared = answers.filter((_, i) => i % 4 !== 0).map((answer) => answer.counters[0]![0]);
      expect([...shared].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: shared.length }, (_, i) => i + 1));
    });

    it('increments and reads another key in one call', async () => {
      expect(await store.incrementAndPeek(key('window-2'), 10_000, key('window-1'))).to.deep.equal([1, null]);
      await store.set(key('window-1'), '7', 10_000);
      expect(await store.incrementAndPeek(key('window-2'), 10_000, key('window-1'))).to.deep.equal([2, '7']);
      expect(await store.ttl(key('window-2'))).to.be.within(1, 10_000);
    });

    it('takes a slot in every window or in none, and never more than a window allows under concurrency', async () => {
      const windows = [
        { key: key('minute'), ttlMs: 10_000, limit: 5 },
        { key: key('day'), ttlMs: 20_000, limit: 8 },
      ];
      const answers = await Promise.all(Array.from({ length: 7 }, () => store.takeSlots(windows)));
      expect(answers.filter((full) => full === -1)).to.have.length(5);
      expect(answers.filter((full) => full === 0)).to.have.length(2);
      expect(await store.getMany([key('minute'), key('day')])).to.deep.equal(['5', '5']);
      expect(await store.ttl(key('day'))).to.be.within(10_001, 20_000);

      // A new minute: three more fit in the day, then the day is the full window and the new minute keeps its count.
      const nextMinute = [{ ...windows[0]!, key: key('minute-2') }, windows[1]!];
      const later = [];
      for (let i = 0; i < 4; i++) later.push(await store.takeSlots(nextMinute));
      expect(later).to.deep.equal([-1, -1, -1, 1]);
      expect(await store.getMany([key('minute-2'), key('day')])).to.deep.equal(['3', '8']);
    });
  });
}
