/**
 * Short-lived shared state that may be lost without harm to the business record: revocation marks for
 * tokens, rate-limit windows, idempotency replies, failed-login counters. Redis in production; an
 * in-process stand-in on the embedded default (one process, so nothing needs sharing). Both pass
 * ephemeral-store.contract.ts.
 *
 * Keys are plain strings; adapters add their own namespace prefix.
 */
/** One incrementAndPeek of a gateway round. */
export interface CounterStep {
  key: string;
  ttlMs: number;
  peekKey: string;
}

/** One window of takeSlots: at most `limit` slots taken under `key` until it expires. */
export interface SlotWindow {
  key: string;
  ttlMs: number;
  limit: number;
}

export interface EphemeralStore {
  get(key: string): Promise<string | null>;
  /** Values of several keys at once (one round trip), null for the missing ones. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Sets the value, expiring after ttlMs. With `onlyIfAbsent`, leaves an existing key alone and answers false. */
  set(key: string, value: string, ttlMs: number, options?: { onlyIfAbsent?: boolean }): Promise<boolean>;
  /**
   * Adds `by` to a counter and answers the new value; a counter that did not exist starts at 0 and expires
   * after ttlMs (later increments do not extend it: a fixed window).
   */
  increment(key: string, ttlMs: number, by?: number): Promise<number>;
  /**
   * increment(), and the value of `peekKey` read in the same round trip (what a sliding window needs: this
   * window's count and the previous window's).
   */
  incrementAndPeek(key: string, ttlMs: number, peekKey: string): Promise<[count: number, peeked: string | null]>;
  /**
   * The gateway's round: several values and several incrementAndPeek counters at once, in ONE round trip
   * (what every authenticated request needs: its revocation marks and its rate-limit windows).
   */
  gatewayRound(
    marks: readonly string[],
    counters: readonly CounterStep[],
  ): Promise<{ marks: (string | null)[]; counters: [number, string | null][] }>;
  /**
   * Takes one slot in each window if every one has room, atomically and in one round trip; if one is full,
   * takes none. Answers -1 when the slots were taken, else the index of the first full window. A window's
   * counter starts when first taken and expires after its ttlMs (a fixed window, as increment()).
   */
  takeSlots(windows: readonly SlotWindow[]): Promise<number>;
  /** Milliseconds until the key expires, or null when it does not exist. */
  ttl(key: string): Promise<number | null>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}
