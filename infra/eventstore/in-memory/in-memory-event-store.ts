import {
  DuplicateEventIdError,
  WrongExpectedRevisionError,
  checkBulk,
  type AppendResult,
  type BulkAppendOutcome,
  type EventStreams,
  type ExpectedRevision,
  type ReadStreamOptions,
  type StreamAppend,
} from '../../../command-api/ports.ts';
import type { NewEvent, RecordedEvent } from '../../../domain/events.ts';
import { unstorableTextIn } from '../../../domain/text.ts';
import type { EventPage, GlobalEventLog } from '../../../projectors/ports.ts';
import { compareDecimalPositions, isInt64Digits } from '../envelope.ts';

/**
 * The event-store port in memory, for fast specs of the command side (no I/O, nothing to start or drop). It
 * passes the same contract as the PostgreSQL store (infra/eventstore/event-store.contract.ts) and keeps its
 * observable rules:
 *
 * - Positions are decimal strings from 1, gapless, in append order. An append is applied whole, at once, so
 *   no reader ever sees an event before one of a lower position, nor part of an append.
 * - Each append is checked against its stream's expected revision; `appendAtomically` checks every member
 *   first and stores all of them or none, later members building on earlier ones to the same stream.
 * - `appendBulk` checks and stores each append on its own, in input order (a rejected one stores nothing);
 *   an id already stored, or used by an earlier append of the bulk, rejects the append that holds it.
 * - Event ids are unique across the log: an append reusing one is refused with DuplicateEventIdError (checked
 *   before the expectation, as PostgreSQL does, so a retried append reports the duplicate).
 * - Events are stored and read back as JSON, as the jsonb columns keep them: callers can neither change a
 *   stored event nor see values JSON cannot hold (undefined, Dates become strings). Text PostgreSQL refuses in
 *   jsonb (NUL, unpaired surrogates) is refused here too, so a spec cannot pass on what production rejects.
 *
 * Not shared between processes: one instance is one log.
 */
export class InMemoryEventStore implements EventStreams, GlobalEventLog {
  private readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();
  private readonly ids = new Set<string>();
  private readonly waiters = new Set<() => void>();

  async append(streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    const [result] = this.write([{ streamId, events, expectedRevision }]);
    return result!;
  }

  /** StreamAppend.predecessorId is checked (appendAtomically). */
  readonly checksPredecessors = true;

  async appendAtomically(appends: StreamAppend[]): Promise<AppendResult[]> {
    if (appends.length === 0) throw new Error('appendAtomically needs at least one append');
    return this.write(appends);
  }

  async appendBulk(appends: StreamAppend[]): Promise<BulkAppendOutcome[]> {
    checkBulk(appends);
    // Ids met earlier in the bulk (stored or not; in the same append too): PostgreSQL's rule for an id used twice.
    const earlier = new Set<string>();
    const outcomes = appends.map((append): BulkAppendOutcome => {
      let duplicate = false;
      for (const event of append.events) {
        if (this.ids.has(event.id) || earlier.has(event.id)) duplicate = true;
        earlier.add(event.id);
      }
      if (duplicate) return { status: 'duplicate_event_id' };
      const actual = (this.streams.get(append.streamId)?.length ?? 0) - 1;
      if (!meets(append.expectedRevision, actual)) return { status: 'wrong_expected_revision', actual: actual < 0 ? 'no_stream' : actual };
      // Unstorable text is an error, not a rejected append (as in PostgreSQL, where it fails the chunk).
      return { status: 'stored', ...this.write([append])[0]! };
    });
    return outcomes;
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const stream = this.streams.get(streamId) ?? [];
    const from = Math.max(options.fromRevision ?? 0, 0);
    const to = options.maxCount === undefined ? undefined : from + Math.max(options.maxCount, 0);
    return stream.slice(from, to).map(copy);
  }

  async readAll(options: { after: string | null; maxCount: number }): Promise<RecordedEvent[]> {
    const start = this.indexAfter(options.after);
    return this.log.slice(start, start + Math.max(options.maxCount, 0)).map(copy);
  }

  async readPage(options: { after: string | null; maxCount: number; types?: readonly string[] }): Promise<EventPage> {
    const types = options.types ? new Set(options.types) : null;
    const events: RecordedEvent[] = [];
    let end = options.after;
    for (let i = this.indexAfter(options.after); i < this.log.length && events.length < options.maxCount; i++) {
      const event = this.log[i]!;
      end = event.position;
      if (!types || types.has(event.type)) events.push(copy(event));
    }
    // Not full: every event up to the head was scanned, including those of other types after the last one kept.
    if (events.length < options.maxCount) end = this.head() ?? options.after;
    return { events, end, atHead: end === this.head() };
  }

  async headPosition(): Promise<string | null> {
    return this.head();
  }

  isValidPosition(value: string): boolean {
    return isInt64Digits(value);
  }

  comparePositions(a: string | null, b: string | null): number {
    return compareDecimalPositions(a, b);
  }

  waitForAppends(after: string | null, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || compareDecimalPositions(this.head(), after) > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every waiter; the events stay readable. */
  async close(): Promise<void> {
    for (const wake of [...this.waiters]) wake();
  }

  /** Checks every append first, then stores all of them: nothing is stored when one fails. */
  private write(appends: StreamAppend[]): AppendResult[] {
    const revisions = new Map<string, number>();
    const revisionOf = (streamId: string) => revisions.get(streamId) ?? (this.streams.get(streamId)?.length ?? 0) - 1;
    const seen = new Set<string>();
    // The last event each stream has so far, this group's own included (for StreamAppend.predecessorId).
    const lastIds = new Map<string, string>();
    for (const { streamId, events, expectedRevision, predecessorId } of appends) {
      if (events.length === 0) throw new Error('append needs at least one event');
      if (typeof expectedRevision === 'number' && !(Number.isSafeInteger(expectedRevision) && expectedRevision >= 0)) {
        throw new RangeError(`expected revision must be a non-negative integer: ${expectedRevision}`);
      }
      for (const event of events) {
        if (this.ids.has(event.id) || seen.has(event.id)) throw new DuplicateEventIdError(streamId);
        seen.add(event.id);
        const field = unstorableTextIn(event.data) ?? unstorableTextIn(event.metadata);
        if (field !== null)
          throw new Error(`Stream ${streamId}: ${event.type} holds text PostgreSQL cannot store in jsonb (NUL or an unpaired surrogate) at ${field}`);
      }
      const actual = revisionOf(streamId);
      if (!meets(expectedRevision, actual)) throw new WrongExpectedRevisionError(streamId, expectedRevision, actual < 0 ? 'no_stream' : actual);
      if (predecessorId !== undefined && typeof expectedRevision === 'number') {
        const standing = lastIds.get(streamId) ?? this.streams.get(streamId)?.[expectedRevision]?.id;
        if (standing !== predecessorId) throw new WrongExpectedRevisionError(streamId, expectedRevision, actual);
      }
      revisions.set(streamId, actual + events.length);
      lastIds.set(streamId, events[events.length - 1]!.id);
    }

    const recordedAt = new Date().toISOString();
    const results = appends.map(({ streamId, events }) => {
      let stream = this.streams.get(streamId);
      if (!stream) this.streams.set(streamId, (stream = []));
      for (const event of events) {
        const stored = JSON.parse(
          JSON.stringify({ id: event.id, type: event.type, version: event.version, data: event.data, metadata: event.metadata }),
        );
        const recorded = { ...stored, streamId, revision: stream.length, position: String(this.log.length + 1), recordedAt } as RecordedEvent;
        stream.push(recorded);
        this.log.push(recorded);
        this.ids.add(event.id);
      }
      return { nextRevision: stream.length - 1, position: this.head()! };
    });
    for (const wake of [...this.waiters]) wake();
    return results;
  }

  private head(): string | null {
    return this.log.length === 0 ? null : String(this.log.length);
  }

  /** Index in the log of the first event after `after` (positions are 1-based and gapless). */
  private indexAfter(after: string | null): number {
    if (after === null) return 0;
    const position = Number(after);
    return Number.isSafeInteger(position) && position > 0 ? Math.min(position, this.log.length) : 0;
  }
}

function meets(expected: ExpectedRevision, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === -1;
    case 'stream_exists':
      return actual >= 0;
    default:
      return expected === actual;
  }
}

/** A reader's own copy: nobody can change what the log holds. */
function copy(event: RecordedEvent): RecordedEvent {
  return structuredClone(event);
}
