import type { NewEvent, RecordedEvent } from '../domain/events.ts';

/**
 * What the command side needs from the event store: read one stream, append to one stream with an
 * optimistic-concurrency expectation.
 *
 * Revisions are 0-based: after the first event a stream is at revision 0.
 */
export type ExpectedRevision =
  | number
  /** The stream must not exist yet. */
  | 'no_stream'
  /** The stream must have at least one event. */
  | 'stream_exists'
  /** No check. */
  | 'any';

export interface AppendResult {
  /** Revision of the last event appended (the stream's revision now). */
  nextRevision: number;
  /** Global position of the last event appended; opaque. */
  position: string;
}

export interface ReadStreamOptions {
  fromRevision?: number;
  maxCount?: number;
}

export interface StreamAppend {
  streamId: string;
  events: NewEvent[];
  expectedRevision: ExpectedRevision;
  /** Personal-data keys made for these events, stored in the append's transaction (see EventStreams.keysWithEvents). */
  keys?: readonly NewPersonalDataKey[];
  /**
   * With a numeric expectation, to a store that says `checksPredecessors`: the id the event at that revision
   * must have. Another event there (the one expected was never stored, and another writer took its place)
   * refuses the append as an unmet expectation. The hash chain sets it when it links to an append still under
   * way, so that a link never names an event that is not the one before it.
   */
  predecessorId?: string;
  /**
   * Called once the append is on its way to the store, ordered after every append sent before it: an append
   * to the same stream sent from now on is written after this one (or refused with it). Not called for an
   * append that never got so far. The plan-limit gate lets the organization's next write decide then.
   */
  onSent?: () => void;
}

/**
 * A person's new personal-data key (already sealed with the data-protection key) that travels with the
 * append whose events were sealed with it: stored in the same transaction, so an append never waits for a
 * key of its own, and a refused append leaves no key behind.
 */
export interface NewPersonalDataKey {
  subject: string;
  sealedKey: string;
}

export interface EventStreams {
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** `keys`: only to a store that says `keysWithEvents` (a store without it would drop them). */
  append(streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision, keys?: readonly NewPersonalDataKey[]): Promise<AppendResult>;
  /**
   * The store keeps the personal-data keys that travel with an append (StreamAppend.keys) in the append's own
   * transaction. A key whose person already has one is refused with PersonalDataKeyExistsError, as an unmet
   * expectation is (nothing of that append, or of its all-or-nothing group, is stored). Absent: keys are
   * stored before the append, on their own.
   */
  readonly keysWithEvents?: boolean;
  /** The store checks StreamAppend.predecessorId in appendAtomically (a store without it ignores it). */
  readonly checksPredecessors?: boolean;
  /**
   * Appends to several streams all or nothing: every expectation holds and every event is stored, or
   * nothing is and the first unmet expectation is thrown. Optional: a store that cannot do it (EventStoreDB's
   * client has no multi-stream append) leaves it out, and callers append one stream after the other.
   */
  appendAtomically?(appends: StreamAppend[]): Promise<AppendResult[]>;
  /**
   * Appends to many streams at once, for imports (a CRM's initial sync): far fewer transactions than one
   * append per stream. Optional; a store without it is appended to one stream after the other.
   *
   * - Each append is checked on its own against its stream's expected revision. One that fails stores none of
   *   its events and does not stop the others: its outcome says why, and the import reports its rejects.
   * - The outcomes follow the input, one per append. Stored events take positions in input order (a rejected
   *   append takes none), and the global log's guarantee is the one of `append`: a reader following the log
   *   never skips a bulk event, nor sees one before an event of a lower position.
   * - Every stream appears at most once in a bulk: a repeated streamId is refused with an Error before anything
   *   is stored (one append per stream can hold all its events; two would make the second's expectation depend
   *   on whether the first was stored). Likewise an append without events or with an invalid revision.
   * - A store may write a large bulk in several transactions (chunks of whole appends, in input order). If one
   *   fails with an error other than a rejected append (database down, a value it cannot store), the call
   *   rejects with that error and earlier chunks stay stored; sending the same bulk again is safe, since the
   *   appends already stored then come back rejected (their event ids are known, their revisions moved on).
   * - An empty bulk stores nothing and returns [].
   */
  appendBulk?(appends: StreamAppend[]): Promise<BulkAppendOutcome[]>;
}

/**
 * What became of one append of a bulk: stored (as `append` would have returned); rejected because its
 * stream is not at the expected revision (`actual` says where it is); or rejected because one of its event ids
 * is already stored, or was used by an earlier append of the same bulk.
 */
export type BulkAppendOutcome =
  ({ status: 'stored' } & AppendResult) | { status: 'wrong_expected_revision'; actual: number | 'no_stream' } | { status: 'duplicate_event_id' };

/** Refuses what no store may accept in a bulk (see EventStreams.appendBulk); returns its number of events. */
export function checkBulk(appends: StreamAppend[]): number {
  const streams = new Set<string>();
  let size = 0;
  for (const { streamId, events, expectedRevision } of appends) {
    if (streams.has(streamId)) throw new Error(`appendBulk: stream ${streamId} appears more than once`);
    streams.add(streamId);
    if (events.length === 0) throw new Error(`appendBulk: the append to ${streamId} has no events`);
    if (typeof expectedRevision === 'number' && !(Number.isSafeInteger(expectedRevision) && expectedRevision >= 0)) {
      throw new RangeError(`expected revision must be a non-negative integer: ${expectedRevision}`);
    }
    size += events.length;
  }
  return size;
}

/** A stale or otherwise unmet expectation: someone else appended first. */
export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's revision at the time of the append, or 'no_stream'. */
    readonly actual: number | 'no_stream',
  ) {
    super(`Stream ${streamId}: expected revision ${String(expected)} but it is ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

/** An event id that is already in the store (event ids are unique across the log). */
export class DuplicateEventIdError extends Error {
  constructor(readonly streamId: string) {
    super(`Stream ${streamId}: an event with one of these ids was already appended`);
    this.name = 'DuplicateEventIdError';
  }
}

/** A key travelled with an append for a person who has one already (made by another process, or erased). */
export class PersonalDataKeyExistsError extends Error {
  constructor(readonly streamId: string) {
    super(`Stream ${streamId}: a personal-data key sent with the append exists already`);
    this.name = 'PersonalDataKeyExistsError';
  }
}

/** An email the system sends to a person (confirmation, reset and invitation links, notices). */
export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  /** Which message this is (e.g. "signup-confirmation"), for logs and for finding it again. */
  template: string;
  /** The sender, when not the system's own address (a workflow's mailbox). */
  from?: string;
  /** Sending twice with the same key sends once (a retried or taken-over workflow step). */
  idempotencyKey?: string;
}

/** Sends email. The default transport keeps every message in an outbox directory (see infra/mail). */
export interface Mailer {
  send(email: OutgoingEmail): Promise<void>;
}
