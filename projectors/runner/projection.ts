import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';

/**
 * A read-model projection. `apply` receives a batch of events it subscribed to, in log order, and writes
 * through `em` inside the transaction that also moves its checkpoint. It should treat the batch as a whole
 * (load every row it needs once, then change them) because catch-up speed depends on it.
 */
export interface Projection {
  readonly name: string;
  /** The event types it handles, or 'all' (analytics tracks every event). */
  readonly eventTypes: ReadonlySet<string> | 'all';
  apply(events: RecordedEvent[], em: EntityManager): Promise<void>;
  /**
   * A reactor: `apply` causes effects elsewhere (appends to the event store, calls out) rather than writing
   * the read models. It then runs outside the checkpoint's transaction, which moves only after it succeeded:
   * at least once, so its effects must be idempotent. (Holding a transaction while appending through another
   * connection would freeze the embedded database, which has one session for all connections.)
   */
  readonly reactor?: boolean;
  /**
   * `apply` writes only through executeBound (bulk SQL; no find, no unit of work): the runner then runs its
   * transaction on a plain connection, which saves the ORM's transaction and a round trip per batch. The
   * `em` it gets runs executeBound in that transaction and nothing else.
   */
  readonly sqlOnly?: boolean;
  /**
   * The workflow runner or scheduler works from what it writes (the queue of due executions, the schedules):
   * never held back while the runner is backlogged (see ReadModelPace), or new work would wait for the hold.
   */
  readonly feedsRunner?: boolean;
  /**
   * Nobody waits on it from one moment to the next (an audit log, usage, search and analytics, embeddings,
   * integration events; never a read model that commands or workflow steps read, such as the CRM sync's
   * integrations, which a crm_action step looks up): once live it takes what arrived in
   * PROJECTION_BACKGROUND_DELAY_MS (250 ms) as one batch instead of every PROJECTION_LIVE_DELAY_MS (10 ms),
   * unless a read-your-writes read waits on it (then at once). A batch costs about the same whatever it holds,
   * so under a steady stream this takes a fraction of the process's and the database's time (measured: see the
   * fifth session in docs/performance-log.md), and what users wait on goes first.
   */
  readonly background?: boolean;
}

export function handles(projection: Pick<Projection, 'eventTypes'>, type: string): boolean {
  return projection.eventTypes === 'all' || projection.eventTypes.has(type);
}

/** Thrown by a projection when an event does not fit the read model (a bug or a gap); the runner parks it. */
export class ProjectionError extends Error {
  override name = 'ProjectionError';
}
