import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { ephemeralStoreContract } from './ephemeral-store.contract.ts';
import { InProcessEphemeralStore } from './in-process-ephemeral-store.ts';
import { RedisEphemeralStore } from './redis-ephemeral-store.ts';
import { Metrics } from '../observability/metrics.ts';

/** The real Redis every dev machine and CI has; unreachable is a failure with the reason, never a skip. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

ephemeralStoreContract(`Redis (ioredis) at ${REDIS_URL}`, () => RedisEphemeralStore.connect(REDIS_URL, pino({ level: 'silent' }), 'nf-test:'));
ephemeralStoreContract('in-process stand-in (embedded default)', async () => new InProcessEphemeralStore());

describe('Redis ephemeral store: the gateway rounds of one turn of the event loop', () => {
  it('go to Redis as one script per 128 rounds, each answered with its own values', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const store = await RedisEphemeralStore.connect(REDIS_URL, pino({ level: 'silent' }), `nf-test:${randomUUID()}:`, metrics);
    try {
      const scripts = async () => (await metrics.redisRoundTrips.get()).values.find((v) => v.labels.operation === 'gateway')?.value ?? 0;
      const answers = await Promise.all(
        Array.from({ length: 300 }, (_, i) => store.gatewayRound([], [{ key: `own-${i}`, ttlMs: 10_000, peekKey: 'none' }])),
      );
      expect(answers.every((answer) => answer.counters[0]![0] === 1)).to.equal(true);
      expect(await scripts()).to.equal(3);
      // Rounds asked in later turns go in scripts of their own.
      expect((await store.gatewayRound([], [{ key: 'own-0', ttlMs: 10_000, peekKey: 'none' }])).counters).to.deep.equal([[2, null]]);
      expect(await scripts()).to.equal(4);
    } finally {
      await store.close();
    }
  });
});
