import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';
import type { CounterStep, EphemeralStore, SlotWindow } from './ephemeral-store.ts';

/** Creates the counter with its expiry atomically, so a crash between INCR and PEXPIRE cannot leave it immortal. */
const INCREMENT = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`;

/**
 * The gateway's round in one script: KEYS are a counter and its peek key per counter (ARGV[1] of them, each
 * counter's expiry in ARGV[1 + i]), then the marks to read. Answers each counter's value and peeked value,
 * then the marks (a missing key is a nil in the reply).
 */
const GATEWAY_ROUND = `
local counters = tonumber(ARGV[1])
local out = {}
for i = 1, counters do
  local key = KEYS[2 * i - 1]
  out[2 * i - 1] = redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1 + i]) end
  out[2 * i] = redis.call('GET', KEYS[2 * i])
end
if #KEYS > 2 * counters then
  local marks = redis.call('MGET', unpack(KEYS, 2 * counters + 1))
  for i = 1, #marks do out[2 * counters + i] = marks[i] end
end
return out`;

/** INCREMENT, plus the value of a second key, in one round trip. */
const INCREMENT_AND_PEEK = `
local value = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {value, redis.call('GET', KEYS[2])}`;

/**
 * takeSlots: KEYS are the windows' counters, ARGV each one's limit then expiry. Checks every window before
 * counting in any, so a full window leaves the others as they were; answers the full one's index (from 0)
 * or -1.
 */
const TAKE_SLOTS = `
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[2 * i - 1]) then return i - 1 end
end
for i = 1, #KEYS do
  redis.call('INCR', KEYS[i])
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) end
end
return -1`;

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
    redis.defineCommand('nfGateway', { lua: GATEWAY_ROUND });
    redis.defineCommand('nfTakeSlots', { lua: TAKE_SLOTS });
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
    // One command (not a pipeline of a MGET and a script per counter): auto-pipelining puts the rounds of the
    // requests that arrive together into one write, and Redis runs one script for each.
    const keys: string[] = [];
    for (const step of counters) keys.push(this.prefix + step.key, this.prefix + step.peekKey);
    for (const mark of marks) keys.push(this.prefix + mark);
    const ttls = counters.map((step) => Math.max(1, Math.ceil(step.ttlMs)));
    const run = (this.redis as unknown as { nfGateway(keyCount: number, ...args: (string | number)[]): Promise<(number | string | null)[]> })
      .nfGateway;
    const reply = await run.call(this.redis, keys.length, ...keys, counters.length, ...ttls);
    const answered: [number, string | null][] = [];
    for (let i = 0; i < counters.length; i++) answered.push([Number(reply[2 * i]), (reply[2 * i + 1] as string | null) ?? null]);
    return { marks: marks.map((_, i) => (reply[2 * counters.length + i] as string | null) ?? null), counters: answered };
  }

  async takeSlots(windows: readonly SlotWindow[]): Promise<number> {
    this.counted('takeSlots');
    const args: (string | number)[] = [];
    for (const window of windows) args.push(window.limit, Math.max(1, Math.ceil(window.ttlMs)));
    const run = (this.redis as unknown as { nfTakeSlots(keyCount: number, ...args: (string | number)[]): Promise<number> }).nfTakeSlots;
    return Number(await run.call(this.redis, windows.length, ...windows.map((window) => this.prefix + window.key), ...args));
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
