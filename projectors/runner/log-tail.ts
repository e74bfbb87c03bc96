import type { RecordedEvent } from '../../domain/events.ts';
import type { EventPage, GlobalEventLog } from '../ports.ts';

/** How long the tail holds an event unless told otherwise (LogTailOptions.maxAgeMs). */
export const TAIL_MAX_AGE_MS = 10_000;

export interface LogTailOptions {
  /** The most events held (the oldest leave first); 0 turns the tail off (every read goes to the store). */
  maxEvents: number;
  /**
   * How long an event is held at most (10 s): hosts follow the head within seconds, and an idle process then
   * holds nothing. A host further behind reads the store.
   */
  maxAgeMs?: number;
  /** Events read from the store at once to grow the tail (at least the page a caller asked for). */
  readCount?: number;
  /** Each page answered, and where from: the tail, or the store (a miss, or a read that grew the tail). */
  onPage?(source: 'tail' | 'store'): void;
}

export interface LogTail extends GlobalEventLog {
  /** Forgets every event held (a person's data was erased: what the tail holds was opened with their key). */
  clear(): void;
  /** Events held now (for tests and health). */
  readonly held: number;
}

/**
 * The recent end of the log, kept in the process and served to every host that follows it (read models,
 * reactors, each rebuildable read model): each recent event is read from the store and opened once, not once
 * per host. Hosts follow the head at different paces and from different positions, so reads joined only
 * while in flight (sharingReads) still read most events once per host.
 *
 * What it holds is complete: events of every type, all of them in (`base`, `end`], because it grows only by
 * pages of all types read from its own `end` (a page of all types covers every event up to its end; see the
 * port) and shrinks only from the front. So a page served from it, of any types, holds every event of those
 * types up to the page's end, as a page read from the store would: a host never misses an event for it.
 *
 * - A read from inside the tail is answered from it: the caller's types, up to its `maxCount` of them.
 * - A read from the tail's end reads the next events of all types from the store (one read at a time, the
 *   others wait for it) and grows the tail.
 * - Any other read (before the tail: a host catching up, or the tail is not started) goes to the store as
 *   asked. A page of it that reaches the head starts the tail again at the head if the tail is behind it.
 *
 * A page served from the tail says `atHead` only while nothing may have been appended since the tail's latest
 * read reached the head: the tail waits for appends after its end (waitForAppends, at most a second) and stops
 * saying it once that wait returns. A caller told it is not at the head reads again from the tail's end, which
 * reads the store. (A store whose wait cannot tell an older append from a newer one, EventStoreDB's, would
 * otherwise leave a caller waiting for the next append with events to read.)
 *
 * Personal data: the events are held opened, as every page is between its read and its handling. Erasing a
 * person clears the tail (`clear`, on the erasure announcement): what a host reads afterwards comes from the
 * store, opened with the keys left.
 */
export function keepingTail(log: GlobalEventLog, options: LogTailOptions): LogTail {
  const readCount = options.readCount ?? 1_000;
  const maxAgeMs = options.maxAgeMs ?? TAIL_MAX_AGE_MS;
  let started = false;
  /** The tail holds every event after `base` up to `end` (inclusive), oldest first. */
  let base: string | null = null;
  let end: string | null = null;
  let endAtHead = false;
  let events: RecordedEvent[] = [];
  /** When the events came in, oldest first: `count` events each (a read's worth). */
  let arrivals: { count: number; at: number }[] = [];
  /** Bumped by `clear` and by a restart: a read begun before does not grow the tail it did not start from. */
  let epoch = 0;
  let growing: Promise<void> | null = null;
  /** Whether the tail waits for an append after its end (one wait at a time; see `watch`). */
  let watching = false;
  let stopWatching = new AbortController();
  const filters = new WeakMap<readonly string[], ReadonlySet<string>>();

  const compare = (a: string | null, b: string | null) => log.comparePositions(a, b);

  const restart = (at: string | null, held: RecordedEvent[] = [], from: string | null = at): void => {
    epoch++;
    started = true;
    base = from;
    events = held;
    arrivals = held.length > 0 ? [{ count: held.length, at: Date.now() }] : [];
    end = at;
    endAtHead = true;
    trim();
    watch();
  };

  /** Lets the oldest `count` events go: the tail then starts after the last of them. */
  const dropFront = (count: number): void => {
    base = events[count - 1]!.position;
    events = events.slice(count);
    for (let left = count; left > 0 && arrivals.length > 0;) {
      const oldest = arrivals[0]!;
      if (oldest.count <= left) {
        left -= oldest.count;
        arrivals.shift();
      } else {
        oldest.count -= left;
        left = 0;
      }
    }
  };

  /** At most maxEvents, none older than maxAgeMs. */
  const trim = (): void => {
    const now = Date.now();
    let old = 0;
    for (const arrival of arrivals) {
      if (now - arrival.at <= maxAgeMs) break;
      old += arrival.count;
    }
    const over = Math.max(old, events.length - options.maxEvents);
    if (over > 0) dropFront(Math.min(over, events.length));
  };

  /** Inside the tail: `after` is at or past its base and before its end. */
  const holds = (after: string | null): boolean => started && compare(after, base) >= 0 && compare(after, end) < 0;

  const serve = (after: string | null, maxCount: number, types: readonly string[] | undefined): EventPage => {
    let low = 0;
    let high = events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compare(events[middle]!.position, after) > 0) high = middle;
      else low = middle + 1;
    }
    let wanted: ReadonlySet<string> | null = null;
    if (types) {
      wanted = filters.get(types) ?? null;
      if (!wanted) {
        wanted = new Set(types);
        filters.set(types, wanted);
      }
    }
    const page: RecordedEvent[] = [];
    for (let index = low; index < events.length; index++) {
      const event = events[index]!;
      if (wanted && !wanted.has(event.type)) continue;
      page.push(event);
      if (page.length === maxCount) {
        // Full: it covers the log up to its last event (the events of other types after it are for the next page).
        const last = event.position;
        return { events: page, end: last, atHead: endAtHead && compare(last, end) === 0 };
      }
    }
    return { events: page, end, atHead: endAtHead };
  };

  /**
   * After a read that reached the head: the head is the tail's end until the process hears of an append after
   * it (or a second passes without news). Spurious wake-ups only cost a read.
   */
  const watch = (): void => {
    if (watching) return;
    watching = true;
    log.waitForAppends(end, 1_000, stopWatching.signal).then(
      () => {
        watching = false;
        endAtHead = false;
      },
      () => {
        watching = false;
        endAtHead = false;
      },
    );
  };

  /** Reads the events after the tail's end (all types) and appends them; one read at a time. */
  const grow = (maxCount: number): Promise<void> => {
    growing ??= (async () => {
      const from = end;
      const at = epoch;
      try {
        const page = await log.readPage({ after: from, maxCount: Math.max(maxCount, readCount) });
        options.onPage?.('store');
        if (at !== epoch || compare(end, from) !== 0) return; // cleared or restarted meanwhile
        if (page.end !== null && compare(page.end, from) > 0) {
          const before = events.length;
          for (const event of page.events) if (compare(event.position, from) > 0) events.push(event);
          if (events.length > before) arrivals.push({ count: events.length - before, at: Date.now() });
          end = page.end;
          trim();
        }
        endAtHead = page.atHead;
        if (page.atHead) watch();
      } finally {
        growing = null;
      }
    })();
    return growing;
  };

  return {
    get held() {
      return events.length;
    },
    clear() {
      epoch++;
      stopWatching.abort();
      stopWatching = new AbortController();
      endAtHead = false;
      started = false;
      base = null;
      end = null;
      events = [];
      arrivals = [];
    },
    async readPage({ after, maxCount, types }) {
      if (options.maxEvents > 0 && started) {
        trim();
        if (holds(after)) {
          options.onPage?.('tail');
          return serve(after, maxCount, types);
        }
        if (compare(after, end) === 0) {
          await grow(maxCount);
          if (holds(after)) return serve(after, maxCount, types);
          if (started && compare(after, end) === 0) return { events: [], end: after, atHead: endAtHead };
          // Cleared or restarted elsewhere meanwhile: read as asked.
        }
      }
      const page = await log.readPage(types ? { after, maxCount, types } : { after, maxCount });
      options.onPage?.('store');
      // A read that reached the head starts the tail there, unless the tail is at or past it already. A page of
      // all types is held as it is (it is complete from `after`), one of some types only marks where to start.
      if (options.maxEvents > 0 && page.atHead && (!started || compare(page.end, end) > 0)) {
        if (types) restart(page.end);
        else restart(page.end, [...page.events], after);
      }
      return page;
    },
    readAll: (readOptions) => log.readAll(readOptions),
    headPosition: () => log.headPosition(),
    isValidPosition: (value) => log.isValidPosition(value),
    comparePositions: (a, b) => log.comparePositions(a, b),
    waitForAppends: (after, timeoutMs, signal) => log.waitForAppends(after, timeoutMs, signal),
    // Inside the tail, or at its end (where one read grows it for every caller at once).
    answersFromMemory: (after) => options.maxEvents > 0 && started && compare(after, base) >= 0 && compare(after, end) <= 0,
  };
}
