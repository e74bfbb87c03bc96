import pino from 'pino';
import { ephemeralStoreContract } from './ephemeral-store.contract.ts';
import { InProcessEphemeralStore } from './in-process-ephemeral-store.ts';
import { RedisEphemeralStore } from './redis-ephemeral-store.ts';

/** The real Redis every dev machine and CI has; unreachable is a failure with the reason, never a skip. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

ephemeralStoreContract(`Redis (ioredis) at ${REDIS_URL}`, () => RedisEphemeralStore.connect(REDIS_URL, pino({ level: 'silent' }), 'nf-test:'));
ephemeralStoreContract('in-process stand-in (embedded default)', async () => new InProcessEphemeralStore());
