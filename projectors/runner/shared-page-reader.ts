import type { EventPage, GlobalEventLog } from '../ports.ts';

interface CachedPage {
  after: string | null;
  maxCount: number;
  read: Promise<EventPage>;
  /** Set once the read succeeded. */
  page: EventPage | null;
  /** Served only to a request from the same position for as many events (see startRead), never its tail. */
  exactOnly?: boolean;
}

interface Reader {
  /** The `after` of its latest request: it is done with every page that starts before. */
  position: string | null | undefined;
  lastSeen: number;
}

/** A reader silent this long (a long transaction, an error backoff, stopped) no longer holds pages back. */
const STALE_MS = 2_000;

/**
 * The global log as the projections of one process read it: pages of the union of their event types, read
 * once and shared. Each projection gets its own view, which hands it only its own types.
 *
 * Why: live, every projection wakes on the same append and reads from the same head; in a catch-up they
 * walk the same pages. Reading each page once instead of once per projection halves the work of a catch-up.
 *
 * What a projection sees never depends on the sharing: a page of the union covers, up to its `end`, every
 * event of every type in the union, so its part of a projection's types is complete up to `end` too, and a
 * page may be served from any position inside it (its tail is then a complete page from that position).
 *
 * Memory stays bounded: at most `keep` pages are held (and one more for each projection furthest behind); with
 * a `pageUnit`, a page takes the room of as many pages as it holds units of that many events (a catch-up's larger
 * pages, see subscribeToAll's catchUpBatchSize, count as several). A projection that gets `keep` pages ahead of
 * the others waits for them (it would only have to read those pages again) unless they have been silent for
 * `staleMs`, in which case it drops the oldest page and goes on. The projection furthest behind never waits: the
 * others wait for it.
 *
 * Only reads from the store go through the pages: a read the log answers from memory (the process's tail of
 * the log, which every host shares already) goes straight to it. Live projections read there, each from where
 * it stands at its own pace: their pages, kept here, filled the room in a fraction of a second, and a live
 * projection then waited for room behind a background one that reads every 250 ms (measured: the contacts
 * read model stalled for 90–400 ms several times a second at 500 commands/s, and for 2 s when the readers
 * furthest behind were themselves waiting for room, until the silence deadline).
 */
export class SharedPageReader {
  private readonly pages = new Map<string, CachedPage>();
  private readonly readers = new Map<symbol, Reader>();
  private readonly waiters = new Set<() => void>();
  /** undefined: every type (some projection tracks them all). */
  private readonly types: readonly string[] | undefined;

  constructor(
    private readonly log: GlobalEventLog,
    types: Iterable<string> | undefined,
    private readonly keep: number,
    private readonly staleMs = STALE_MS,
    private readonly pageUnit?: number,
  ) {
    this.types = types ? [...new Set(types)] : undefined;
  }

  /** A view for one projection; `release()` when it stops, so it holds nothing back. */
  view(): GlobalEventLog & { release(): void } {
    const id = Symbol('reader');
    this.readers.set(id, { position: undefined, lastSeen: Date.now() });
    const log = this.log;
    return {
      readPage: (options) => this.readPage(id, options),
      readAll: (options) => log.readAll(options),
      headPosition: () => log.headPosition(),
      isValidPosition: (value) => log.isValidPosition(value),
      comparePositions: (a, b) => log.comparePositions(a, b),
      waitForAppends: (after, timeoutMs, signal) => log.waitForAppends(after, timeoutMs, signal),
      answersFromMemory: (after) => log.answersFromMemory?.(after) ?? false,
      release: () => {
        this.readers.delete(id);
        this.wake();
      },
    };
  }

  /** Pages held now (for tests and health). */
  get held(): number {
    return this.pages.size;
  }

  private async readPage(id: symbol, options: { after: string | null; maxCount: number; types?: readonly string[] }): Promise<EventPage> {
    const reader = this.readers.get(id);
    if (reader) {
      reader.position = options.after;
      reader.lastSeen = Date.now();
    }
    this.evictConsumed();
    this.wake();
    if (this.log.answersFromMemory?.(options.after)) return this.log.readPage(options);

    const key = keyOf(options.after, options.maxCount);
    let page = this.covering(options.after, options.maxCount);
    if (!page) {
      let cached = this.pages.get(key);
      if (!cached) {
        await this.roomForOne(id);
        cached = this.pages.get(key) ?? this.startRead(key, options.after, options.maxCount);
      }
      page = await cached.read;
    }
    return this.slice(page, options.after, options.types);
  }

  /** A page read already whose range holds `after` (its tail is the page from `after`). */
  private covering(after: string | null, maxCount: number): EventPage | null {
    const exact = this.pages.get(keyOf(after, maxCount))?.page;
    if (exact) return exact;
    for (const cached of this.pages.values()) {
      const page = cached.page;
      if (!page || page.end === null || cached.maxCount !== maxCount || cached.exactOnly) continue;
      const starts = this.log.comparePositions(cached.after, after) <= 0;
      const holds = this.log.comparePositions(after, page.end) < 0;
      if (starts && holds) return page;
    }
    return null;
  }

  private startRead(key: string, after: string | null, maxCount: number): CachedPage {
    const cached: CachedPage = {
      after,
      maxCount,
      page: null,
      read: this.log.readPage({ after, maxCount, ...(this.types ? { types: this.types } : {}) }),
    };
    this.pages.set(key, cached);
    cached.read.then(
      (page) => {
        const empty = page.end === null || this.log.comparePositions(page.end, after) <= 0;
        if (empty || (page.atHead && !(this.pageUnit && page.events.length >= this.pageUnit))) {
          // It ends at the head of the log as it was: true only until the next append, so it is shared by the
          // requests already waiting for it, never served again. Served later, it would cut a projection that
          // is behind into the small pages that live projections read at each append (they got a batch of a
          // few events each time, and under a steady stream fell further and further behind).
          if (this.pages.get(key) === cached) this.pages.delete(key);
          return;
        }
        // A large page that reached the head (the last of a catch-up) is kept for the same request only: every
        // projection of the catch-up asks for it, from the same position, and without it each read it again
        // (16 projections read the last page of 5,000 events 16 times). Served later, its end may lie behind
        // the head by then: the projection reads on from there at once (the log's wait returns when the head is past).
        cached.exactOnly = page.atHead;
        cached.page = page;
      },
      () => {
        // A failed read is not kept: the next request reads again.
        if (this.pages.get(key) === cached) this.pages.delete(key);
        this.wake();
      },
    );
    return cached;
  }

  private slice(page: EventPage, after: string | null, types: readonly string[] | undefined): EventPage {
    // Events are in log order: skip those up to `after` by bisection, then keep the reader's types.
    let low = 0;
    let high = page.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.log.comparePositions(page.events[middle]!.position, after) > 0) high = middle;
      else low = middle + 1;
    }
    // A copy even when nothing is skipped: the page's own array is shared by every reader.
    const tail = page.events.slice(low);
    const wanted = types ? this.filterFor(types) : null;
    return { events: wanted ? tail.filter((event) => wanted.has(event.type)) : tail, end: page.end, atHead: page.atHead };
  }

  /** Per type list a reader asks with (its subscription's, the same array each time): the Set to keep, or null when it wants every type read. */
  private readonly filters = new WeakMap<readonly string[], ReadonlySet<string> | null>();

  private filterFor(types: readonly string[]): ReadonlySet<string> | null {
    let filter = this.filters.get(types);
    if (filter === undefined) {
      const set = new Set(types);
      filter = this.types && this.types.every((type) => set.has(type)) ? null : set;
      this.filters.set(types, filter);
    }
    return filter;
  }

  /** Drops pages every active reader has moved past. */
  private evictConsumed(): void {
    if (this.pages.size === 0) return;
    // A page is done with when every active reader asked from past its start: the furthest-behind reader decides
    // (one pass over the readers, then one comparison per page, not readers × pages).
    const now = Date.now();
    let behind: string | null | undefined;
    let anyActive = false;
    for (const reader of this.readers.values()) {
      if (now - reader.lastSeen >= this.staleMs) continue;
      if (reader.position === undefined) return; // a reader that has not asked yet may need any page
      if (!anyActive || this.log.comparePositions(reader.position, behind!) < 0) behind = reader.position;
      anyActive = true;
    }
    for (const [key, cached] of this.pages) {
      if (cached.page === null) continue; // in flight: someone is about to use it
      if (!anyActive || this.log.comparePositions(behind!, cached.after) > 0) this.pages.delete(key);
    }
  }

  /**
   * Waits until fewer than `keep` pages are held; after `staleMs` the oldest is dropped anyway. Not for the
   * reader furthest behind: the pages held are kept for it, so waiting for room would wait for itself.
   */
  private async roomForOne(id: symbol): Promise<void> {
    const deadline = Date.now() + this.staleMs;
    while (this.room() >= this.keep) {
      if (this.furthestBehind(id)) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        const oldest = [...this.pages.entries()].find(([, cached]) => cached.page !== null);
        if (!oldest) return; // all in flight: they settle soon, and a page more is harmless
        this.pages.delete(oldest[0]);
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 100));
        this.waiters.add(done);
      });
      this.evictConsumed();
    }
  }

  /** The room the pages held take, in pages (of pageUnit events, when set). */
  private room(): number {
    const unit = this.pageUnit;
    if (!unit) return this.pages.size;
    let units = 0;
    for (const cached of this.pages.values()) units += Math.ceil(cached.maxCount / unit);
    return units;
  }

  /** Whether no other active reader stands before this one (none that may still need an earlier page). */
  private furthestBehind(id: symbol): boolean {
    const self = this.readers.get(id);
    if (!self || self.position === undefined) return false;
    const now = Date.now();
    for (const [other, reader] of this.readers) {
      if (other === id || now - reader.lastSeen >= this.staleMs) continue;
      if (reader.position === undefined || this.log.comparePositions(reader.position, self.position) < 0) return false;
    }
    return true;
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

function keyOf(after: string | null, maxCount: number): string {
  return `${after ?? ''}/${maxCount}`;
}
