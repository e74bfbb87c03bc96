import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import { InProcessEphemeralStore } from '../ephemeral/in-process-ephemeral-store.ts';
import { RedisEphemeralStore } from '../ephemeral/redis-ephemeral-store.ts';
import { SlidingWindowRateLimiter } from './sliding-window-rate-limiter.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

/** The same behaviour on Redis and on the in-process stand-in, with the clock in the test's hands. */
function rateLimiterContract(name: string, open: () => Promise<EphemeralStore>): void {
  describe(`sliding-window rate limiter on ${name}`, function () {
    this.timeout(10_000);
    let store: EphemeralStore;
    let now: number;
    let limiter: SlidingWindowRateLimiter;
    let key: string;
    const policy = { limit: 10, windowMs: 60_000 };
    before(async () => {
      store = await open();
    });
    beforeEach(() => {
      // Start of a window, well clear of the previous one's counts.
      now = Math.ceil(Date.now() / 60_000) * 60_000 + 120_000;
      limiter = new SlidingWindowRateLimiter(store, () => now);
      key = `test:${randomUUID()}`;
    });
    after(async () => store?.close());

    it('allows the limit, then refuses with how long to wait, and does not count refused requests', async () => {
      const decisions = [];
      for (let i = 0; i < 10; i++) decisions.push(await limiter.consume(key, policy));
      expect(decisions.every((d) => d.allowed)).to.equal(true);
      expect(decisions.map((d) => d.remaining)).to.deep.equal([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      for (let i = 0; i < 5; i++) {
        const refused = await limiter.consume(key, policy);
        expect(refused.allowed).to.equal(false);
        expect(refused.remaining).to.equal(0);
        // Nothing slides out of this window: wait for the next one, a bit into it.
        expect(refused.retryAfterSeconds).to.be.within(60, 120);
      }
      now += 60_000 + 6_000; // 10% into the next window: 90% of the previous 10 still count
      expect((await limiter.consume(key, policy)).allowed, '9 + 1 fits').to.equal(true);
      expect((await limiter.consume(key, policy)).allowed, '9 + 2 does not').to.equal(false);
    });

    it('slides: a burst at the end of one window is not followed by a full window at once', async () => {
      now += 59_000;
      for (let i = 0; i < 10; i++) expect((await limiter.consume(key, policy)).allowed).to.equal(true);
      now += 2_000; // just into the next window: a fixed window would allow 10 more here
      const refused = await limiter.consume(key, policy);
      expect(refused.allowed).to.equal(false);
      expect(refused.retryAfterSeconds).to.be.within(1, 60);
      now += refused.retryAfterSeconds * 1000;
      expect((await limiter.consume(key, policy)).allowed, 'allowed when Retry-After said').to.equal(true);
    });

    it('keeps keys apart', async () => {
      for (let i = 0; i < 10; i++) await limiter.consume(key, policy);
      expect((await limiter.consume(key, policy)).allowed).to.equal(false);
      expect((await limiter.consume(`${key}:other`, policy)).allowed).to.equal(true);
    });
  });
}

rateLimiterContract(`Redis at ${REDIS_URL}`, () => RedisEphemeralStore.connect(REDIS_URL, pino({ level: 'silent' }), 'nf-test:'));
rateLimiterContract('the in-process stand-in', async () => new InProcessEphemeralStore());
