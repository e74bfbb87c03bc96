import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';
import type { CounterStep, EphemeralStore } from './ephemeral-store.ts';

/** Creates the counter with its expiry atomically, so a crash between INCR and PEXPIRE cannot leave it immortal. */
const INCREMENT = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`;

/** INCREMENT, plus the value of a second key, in one round trip. */
const INCREMENT_AND_PEEK = `
local value = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {value, redis.call('GET', KEYS[2])}`;

export class RedisEphemeralStore implements EphemeralStore {
  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly metrics?: Metrics,
  ) {}

  private counted(operation: string): void {
    this.metrics?.redisRoundTrips.inc({ operation });
  }

  /** Connects (failing fast with a clear error if Redis cannot be reached) and defines the scripts. */
  static async connect(url: string, logger: Logger, prefix = 'nf:', metrics?: Metrics): Promise<RedisEphemeralStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      // Commands wait for a reconnect a short while, then fail (the caller answers 503), never hang.
      maxRetriesPerRequest: 2,
      // Concurrent requests' commands share one write (each authenticated request checks revocation marks).
      enableAutoPipelining: true,
      connectTimeout: 5_000,
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
    });
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new Error(`Redis is not reachable at ${redactUrl(url)}: ${(err as Error).message}`);
    }
    redis.defineCommand('nfIncrement', { numberOfKeys: 1, lua: INCREMENT });
    redis.defineCommand('nfIncrementAndPeek', { numberOfKeys: 2, lua: INCREMENT_AND_PEEK });
    return new RedisEphemeralStore(redis, prefix, metrics);
  }

  async get(key: string): Promise<string | null> {
    this.counted('get');
    return this.redis.get(this.prefix + key);
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    this.counted('getMany');
    if (keys.length === 0) return [];
    return this.redis.mget(keys.map((key) => this.prefix + key));
  }

  async set(key: string, value: string, ttlMs: number, options: { onlyIfAbsent?: boolean } = {}): Promise<boolean> {
    this.counted('set');
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const answer = options.onlyIfAbsent
      ? await this.redis.set(this.prefix + key, value, 'PX', ttl, 'NX')
      : await this.redis.set(this.prefix + key, value, 'PX', ttl);
    return answer === 'OK';
  }

  async increment(key: string, ttlMs: number, by = 1): Promise<number> {
    this.counted('increment');
    const run = (this.redis as unknown as { nfIncrement(key: string, by: number, ttl: number): Promise<number> }).nfIncrement;
    return Number(await run.call(this.redis, this.prefix + key, by, Math.max(1, Math.ceil(ttlMs))));
  }

  async incrementAndPeek(key: string, ttlMs: number, peekKey: string): Promise<[number, string | null]> {
    this.counted('incrementAndPeek');
    const run = (this.redis as unknown as { nfIncrementAndPeek(key: string, peek: string, ttl: number): Promise<[number, string | false | null]> })
      .nfIncrementAndPeek;
    const [count, peeked] = await run.call(this.redis, this.prefix + key, this.prefix + peekKey, Math.max(1, Math.ceil(ttlMs)));
    // A Lua false (missing key) arrives as null in the array reply.
    return [Number(count), typeof peeked === 'string' ? peeked : null];
  }

  async gatewayRound(
    marks: readonly string[],
    counters: readonly CounterStep[],
  ): Promise<{ marks: (string | null)[]; counters: [number, string | null][] }> {
    this.counted('gateway');
    const pipeline = this.redis.pipeline();
    if (marks.length > 0) pipeline.mget(marks.map((key) => this.prefix + key));
    const withScript = pipeline as unknown as { nfIncrementAndPeek(key: string, peek: string, ttl: number): unknown };
    for (const step of counters)
      withScript.nfIncrementAndPeek(this.prefix + step.key, this.prefix + step.peekKey, Math.max(1, Math.ceil(step.ttlMs)));
    const replies = (await pipeline.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const values = replies.map(([, value]) => value);
    const read = marks.length > 0 ? (values.shift() as (string | null)[]) : [];
    return {
      marks: read,
      counters: values.map((value) => {
        const [count, peeked] = value as [number, string | false | null];
        return [Number(count), typeof peeked === 'string' ? peeked : null];
      }),
    };
  }

  async ttl(key: string): Promise<number | null> {
    this.counted('ttl');
    const ms = await this.redis.pttl(this.prefix + key);
    return ms < 0 ? (ms === -1 ? Number.POSITIVE_INFINITY : null) : ms;
  }

  async delete(key: string): Promise<void> {
    this.counted('delete');
    await this.redis.del(this.prefix + key);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
