import type { RecordedEvent } from '../domain/events.ts';

/**
 * What projectors and reactors need from the event store: the global log, read in pages from a position,
 * and a hint that new events may have arrived.
 *
 * Ordering guarantee every implementation must give: once an event at position P is readable, every event
 * that will ever be readable at a position below P already is. A reader that remembers the last position it
 * handled therefore never skips an event, however appends interleave.
 */
export interface GlobalEventLog {
  /** Events strictly after `after` (null: from the beginning), oldest first, at most `maxCount`. */
  readAll(options: { after: string | null; maxCount: number }): Promise<RecordedEvent[]>;
  /**
   * One page of the events of the given types (all types when absent) after `after`, and how far the page covers: every event of
   * those types up to `end` (inclusive) is in `events`. A projection that cares about a few types moves its
   * checkpoint to `end` without ever receiving the rest. `end` equals `after` when nothing new was scanned.
   */
  readPage(options: { after: string | null; maxCount: number; types?: readonly string[] }): Promise<EventPage>;
  /** Position of the newest event, or null when the log is empty. */
  headPosition(): Promise<string | null>;
  /** Whether a client-supplied string is a position of this store (they come back in X-Min-Position). */
  isValidPosition(value: string): boolean;
  /** <0, 0, >0 like a sort comparator; null (before the first event) is lowest. */
  comparePositions(a: string | null, b: string | null): number;
  /**
   * Resolves when events after `after` may be readable, or after `timeoutMs`, or when `signal` aborts.
   * Only a hint: callers read again either way.
   */
  waitForAppends(after: string | null, timeoutMs: number, signal: AbortSignal): Promise<void>;
  /**
   * Whether a page read from `after` is answered from this process's memory (a tail of the log it keeps, see
   * LogTail), so that reading it again costs next to nothing. Absent: every read goes to the store.
   */
  answersFromMemory?(after: string | null): boolean;
}

export interface EventPage {
  events: RecordedEvent[];
  /** The position up to which the log was scanned (null: nothing yet). */
  end: string | null;
  /** Whether `end` is the head of the log as of this read. */
  atHead: boolean;
}
