/**
 * Wake-ups between processes: "something committed, read again". Never the data itself, and a missed
 * notification only delays a reader until its next poll.
 */
export interface Notifications {
  /**
   * True when listeners hear PostgreSQL NOTIFY: then a transaction can announce its own commit with
   * pg_notify(), delivered exactly when it commits and without a round trip of its own.
   */
  readonly hearsDatabaseNotify: boolean;
  notify(channel: string, payload: string): Promise<void>;
  /** Returns a function that stops listening. */
  listen(channel: string, handler: (payload: string) => void): () => void;
  close(): Promise<void>;
}

export const CHANNEL_EVENTS_APPENDED = 'nf_events_appended';
export const CHANNEL_CHECKPOINTS = 'nf_checkpoints';
/** A read-your-writes read has waited a while on these read models ({"projections": [...]}): see ReadModelPace. */
export const CHANNEL_READ_WAITING = 'nf_read_waiting';
