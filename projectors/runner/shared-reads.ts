import type { RecordedEvent } from '../../domain/events.ts';
import type { EventPage, GlobalEventLog } from '../ports.ts';

/** How many recent heads a read may start from and still be shared by the subscriptions ahead of it. */
const RECENT_HEADS = 8;

interface Read {
  after: string | null;
  maxCount: number;
  page: Promise<EventPage>;
}

/**
 * The log as all the hosts of a process read it (read models, reactors, each rebuildable read model): a
 * request made while a read is in flight from the same position, or from a recent head before it, waits for
 * that read and takes its part of the page, instead of reading again. Live, every subscription wakes on the
 * same appends and asks for the page after where it stands (the head of a read a moment ago, not always the
 * same one), and each read costs a query and the opening of the personal data of every event in it.
 *
 * Every page is read with all its types, and each caller keeps its own, so that hosts following different
 * types share too: a page of all types covers each type up to its end. What a caller gets is as fresh as
 * what it would have read itself, give or take the read it joined: nothing is kept once a read is done (a
 * page kept would serve a caller an older head than a read of its own, see SharedPageReader).
 */
export function sharingReads(log: GlobalEventLog): GlobalEventLog {
  const inFlight = new Set<Read>();
  /** Where the latest reads that reached the head ended: a read from one of them holds only what came since. */
  const recentHeads: (string | null)[] = [];

  /**
   * The read in flight from `after`, or else from an earlier position where a recent read reached the head
   * (closest first). Only those: a read from further back (a host catching up) is a whole page, and waiting
   * for it would cost more than a read of one's own.
   */
  const joinable = (after: string | null, maxCount: number): Read | null => {
    let best: Read | null = null;
    for (const read of inFlight) {
      if (read.maxCount !== maxCount) continue;
      const from = log.comparePositions(read.after, after);
      if (from === 0) return read;
      if (from > 0 || !recentHeads.includes(read.after)) continue;
      if (best === null || log.comparePositions(read.after, best.after) > 0) best = read;
    }
    return best;
  };

  const start = (after: string | null, maxCount: number): Promise<EventPage> => {
    const read: Read = { after, maxCount, page: log.readPage({ after, maxCount }) };
    inFlight.add(read);
    read.page.then(
      (page) => {
        inFlight.delete(read);
        if (page.atHead && !recentHeads.includes(page.end)) {
          recentHeads.push(page.end);
          if (recentHeads.length > RECENT_HEADS) recentHeads.shift();
        }
      },
      () => inFlight.delete(read),
    );
    return read.page;
  };

  /** The part of `page` after `after` of the given types (a copy: the page is shared). */
  const part = (page: EventPage, after: string | null, types: readonly string[] | undefined): EventPage => {
    let events: RecordedEvent[] = page.events;
    const first = events.findIndex((event) => log.comparePositions(event.position, after) > 0);
    events = first < 0 ? [] : events.slice(first);
    if (types) {
      const wanted = new Set(types);
      events = events.filter((event) => wanted.has(event.type));
    }
    return { events, end: page.end, atHead: page.atHead };
  };

  return {
    async readPage({ after, maxCount, types }) {
      const joined = joinable(after, maxCount);
      if (joined) {
        const page = await joined.page.catch(() => null);
        // Only a page that reaches past `after` answers it (one that ended at or before it read the log too early).
        if (page && log.comparePositions(page.end, after) > 0) return part(page, after, types);
      }
      return part(await start(after, maxCount), after, types);
    },
    readAll: (options) => log.readAll(options),
    headPosition: () => log.headPosition(),
    isValidPosition: (value) => log.isValidPosition(value),
    comparePositions: (a, b) => log.comparePositions(a, b),
    waitForAppends: (after, timeoutMs, signal) => log.waitForAppends(after, timeoutMs, signal),
    answersFromMemory: (after) => log.answersFromMemory?.(after) ?? false,
  };
}
