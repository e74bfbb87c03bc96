import type { CounterStep, EphemeralStore, SlotWindow } from './ephemeral-store.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * The embedded default's stand-in for Redis: one process, so a map is shared enough. Expired entries are
 * dropped when touched and by a sweep, so memory stays bounded by what is live.
 */
export class InProcessEphemeralStore implements EphemeralStore {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = Date.now,
    sweepEveryMs = 60_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.live(key)?.value ?? null);
  }

  async set(key: string, value: string, ttlMs: number, options: { onlyIfAbsent?: boolean } = {}): Promise<boolean> {
    if (options.onlyIfAbsent && this.live(key)) return false;
    this.entries.set(key, { value, expiresAt: this.now() + Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }

  async increment(key: string, ttlMs: number, by = 1): Promise<number> {
    return this.add(key, ttlMs, by);
  }

  async incrementAndPeek(key: string, ttlMs: number, peekKey: string): Promise<[number, string | null]> {
    return [await this.increment(key, ttlMs), this.live(peekKey)?.value ?? null];
  }

  async gatewayRound(
    marks: readonly string[],
    counters: readonly CounterStep[],
  ): Promise<{ marks: (string | null)[]; counters: [number, string | null][] }> {
    return {
      marks: await this.getMany(marks),
      counters: await Promise.all(counters.map((step) => this.incrementAndPeek(step.key, step.ttlMs, step.peekKey))),
    };
  }

  async takeSlots(windows: readonly SlotWindow[]): Promise<number> {
    // Checked and counted synchronously: atomic within this process.
    const full = windows.findIndex((window) => Number(this.live(window.key)?.value ?? 0) >= window.limit);
    if (full !== -1) return full;
    for (const window of windows) this.add(window.key, window.ttlMs, 1);
    return -1;
  }

  async ttl(key: string): Promise<number | null> {
    const entry = this.live(key);
    return entry ? entry.expiresAt - this.now() : null;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  /** Adds `by` to a counter (one that did not exist starts at 0 and expires after ttlMs); answers the new value. */
  private add(key: string, ttlMs: number, by: number): number {
    const entry = this.live(key);
    if (entry) {
      const next = Number(entry.value) + by;
      entry.value = String(next);
      return next;
    }
    this.entries.set(key, { value: String(by), expiresAt: this.now() + Math.max(1, Math.ceil(ttlMs)) });
    return by;
  }

  private live(key: string): Entry | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
