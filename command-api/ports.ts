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
}

export interface EventStreams {
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  append(streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult>;
  /**
   * Appends to several streams all or nothing: every expectation holds and every event is stored, or
   * nothing is and the first unmet expectation is thrown. Optional: a store that cannot do it (EventStoreDB's
   * client has no multi-stream append) leaves it out, and callers append one stream after the other.
   */
  appendAtomically?(appends: StreamAppend[]): Promise<AppendResult[]>;
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
