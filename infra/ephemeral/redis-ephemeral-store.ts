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
 * The gateway rounds of the requests that arrived together, in one script: ARGV[1] is how many rounds; each
 * round then gives its counters' count, its marks' count and each counter's expiry (ARGV), and its keys in
 * turn (KEYS): a counter and its peek key per counter, then the marks. Answers, round after round, each
 * counter's value and peeked value, then the marks (a missing key is a nil in the reply).
 */
const GATEWAY_ROUNDS = `
local rounds = tonumber(ARGV[1])
local out, n, k, a = {}, 0, 0, 1
for r = 1, rounds do
  local counters, marks = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  for i = 1, counters do
    local key = KEYS[k + 2 * i - 1]
    n = n + 1
    out[n] = redis.call('INCR', key)
    if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[a + 2 + i]) end
    n = n + 1
    out[n] = redis.call('GET', KEYS[k + 2 * i])
  end
  k = k + 2 * counters
  if marks > 0 then
    local values = redis.call('MGET', unpack(KEYS, k + 1, k + marks))
    for i = 1, marks do
      n = n + 1
      out[n] = values[i]
    end
  end
  k = k + marks
  a = a + 2 + counters
end
return out`;

/** At most this many requests' rounds in one script (Redis runs a script alone: a short one, then the next). */
const ROUNDS_PER_SCRIPT = 128;

interface PendingRound {
  marks: readonly string[];
  counters: readonly CounterStep[];
  resolve(answer: { marks: (string | null)[]; counters: [number, string | null][] }): void;
  reject(err: unknown): void;
}

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
      // The gateway's script carries the rounds of one turn of the event loop already (gatewayRound): sent at once.
      autoPipeliningIgnoredCommands: ['nfGatewayRounds'],
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
    redis.defineCommand('nfGatewayRounds', { lua: GATEWAY_ROUNDS });
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

  /**
   * The rounds asked for in one turn of the event loop (the requests read together) go to Redis as one script:
   * one command to build, send and parse instead of one per request, and one script run. ioredis's
   * auto-pipelining used to put them in one write, but each was still a command of its own at both ends.
   */
  gatewayRound(
    marks: readonly string[],
    counters: readonly CounterStep[],
  ): Promise<{ marks: (string | null)[]; counters: [number, string | null][] }> {
    return new Promise((resolve, reject) => {
      this.rounds.push({ marks, counters, resolve, reject });
      if (this.rounds.length === 1) setImmediate(this.sendRounds);
    });
  }

  private rounds: PendingRound[] = [];

  private readonly sendRounds = (): void => {
    const all = this.rounds;
    this.rounds = [];
    for (let from = 0; from < all.length; from += ROUNDS_PER_SCRIPT) void this.runRounds(all.slice(from, from + ROUNDS_PER_SCRIPT));
  };

  private async runRounds(rounds: PendingRound[]): Promise<void> {
    this.counted('gateway');
    const keys: string[] = [];
    const args: number[] = [rounds.length];
    for (const { marks, counters } of rounds) {
      args.push(counters.length, marks.length);
      for (const step of counters) {
        keys.push(this.prefix + step.key, this.prefix + step.peekKey);
        args.push(Math.max(1, Math.ceil(step.ttlMs)));
      }
      for (const mark of marks) keys.push(this.prefix + mark);
    }
    const run = (this.redis as unknown as { nfGatewayRounds(keyCount: number, ...args: (string | number)[]): Promise<(number | string | null)[]> })
      .nfGatewayRounds;
    let reply: (number | string | null)[];
    try {
      reply = await run.call(this.redis, keys.length, ...keys, ...args);
    } catch (err) {
      for (const round of rounds) round.reject(err);
      return;
    }
    let n = 0;
    for (const { marks, counters, resolve } of rounds) {
      const answered: [number, string | null][] = [];
      for (let i = 0; i < counters.length; i++, n += 2) answered.push([Number(reply[n]), (reply[n + 1] as string | null) ?? null]);
      const values: (string | null)[] = [];
      for (let i = 0; i < marks.length; i++, n++) values.push((reply[n] as string | null) ?? null);
      resolve({ marks: values, counters: answered });
    }
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
