import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { RecordedEvent } from '../../domain/events.ts';
import { backoffDelay, isTransientDatabaseError, sleep } from '../../infra/resilience.ts';
import type { GlobalEventLog } from '../ports.ts';
import { subscribeToAll, type Subscription } from '../subscription.ts';
import type { Projection } from './projection.ts';

export interface ProjectionRunnerOptions {
  batchSize: number;
  /** Attempts at one failing event before it is parked. */
  maxAttempts?: number;
  /** Told after each committed checkpoint (wakes read-your-writes waiters in every process). */
  onCheckpoint?(projection: string, position: string): void;
}

export interface ProjectionStatus {
  name: string;
  position: string | null;
  caughtUp: boolean;
  running: boolean;
  eventsApplied: number;
  parked: number;
  lastError: string | null;
  lastErrorAt: string | null;
}

/**
 * Runs one projection: reads the global log from its checkpoint in batches and applies each batch in one
 * transaction that also stores the new checkpoint, so a crash never applies an event twice nor skips one.
 * Several runners of the same projection (in several processes) are safe: each batch locks the checkpoint
 * row and drops events the row says are already applied.
 *
 * A batch that fails for a reason other than the database being unreachable is split in halves until the
 * failing event is found; that event is retried, then parked with its error (table parked_events, and an
 * error log), and the projection moves on. Unreachable database: the subscription backs off and retries.
 */
export class ProjectionRunner {
  private subscription: Subscription | null = null;
  private readonly state: ProjectionStatus;

  constructor(
    private readonly projection: Projection,
    private readonly log: GlobalEventLog,
    private readonly orm: MikroORM,
    private readonly logger: Logger,
    private readonly options: ProjectionRunnerOptions,
  ) {
    this.state = {
      name: projection.name,
      position: null,
      caughtUp: false,
      running: false,
      eventsApplied: 0,
      parked: 0,
      lastError: null,
      lastErrorAt: null,
    };
    this.logger = logger.child({ projection: projection.name });
  }

  get name(): string {
    return this.projection.name;
  }

  status(): ProjectionStatus {
    return { ...this.state };
  }

  async start(): Promise<void> {
    const from = await this.loadCheckpoint();
    this.state.position = from;
    this.state.running = true;
    this.subscription = subscribeToAll(this.log, {
      from,
      batchSize: this.options.batchSize,
      logger: this.logger,
      handle: (events) => this.applyOrIsolate(events),
      onProgress: ({ caughtUp, error }) => {
        this.state.caughtUp = caughtUp;
        if (error) this.recordError(error);
      },
    });
    this.logger.info({ from }, 'projection started');
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = null;
    this.state.running = false;
  }

  private async loadCheckpoint(): Promise<string | null> {
    const em = this.orm.em.fork();
    await em.execute('INSERT INTO projection_checkpoints (name, position) VALUES (?, NULL) ON CONFLICT (name) DO NOTHING', [
      this.projection.name,
    ]);
    const rows = await em.execute<{ position: string | null }[]>(
      'SELECT position FROM projection_checkpoints WHERE name = ?',
      [this.projection.name],
    );
    const count = await em.execute<{ count: string }[]>(
      'SELECT count(*) AS count FROM parked_events WHERE projection = ? AND resolved_at IS NULL',
      [this.projection.name],
    );
    this.state.parked = Number(count[0]?.count ?? 0);
    return rows[0]?.position ?? null;
  }

  private async applyOrIsolate(events: RecordedEvent[]): Promise<void> {
    try {
      await this.commit(events, (relevant, em) => this.projection.apply(relevant, em));
    } catch (err) {
      if (isTransientDatabaseError(err)) throw err;
      if (events.length > 1) {
        const middle = Math.ceil(events.length / 2);
        await this.applyOrIsolate(events.slice(0, middle));
        await this.applyOrIsolate(events.slice(middle));
        return;
      }
      await this.retryOrPark(events[0]!, err);
    }
  }

  private async retryOrPark(event: RecordedEvent, firstError: unknown): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 3;
    let error = firstError;
    for (let attempt = 1; attempt < maxAttempts; attempt++) {
      this.recordError(error);
      await sleep(backoffDelay(attempt - 1, 50, 1_000));
      try {
        await this.commit([event], (relevant, em) => this.projection.apply(relevant, em));
        return;
      } catch (err) {
        if (isTransientDatabaseError(err)) throw err;
        error = err;
      }
    }
    await this.commit([event], async (_relevant, em) => {
      await em.execute(
        `INSERT INTO parked_events (projection, position, event_id, stream_id, event_type, error, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [this.projection.name, event.position, event.id, event.streamId, event.type, describe(error), maxAttempts],
      );
    });
    this.state.parked++;
    this.recordError(error);
    this.logger.error(
      { err: error, position: event.position, eventId: event.id, eventType: event.type, streamId: event.streamId },
      'event parked: the projection could not apply it and moved on',
    );
  }

  /**
   * One transaction: lock the checkpoint, drop events it already covers, apply the rest, move it.
   * `work` gets the events this projection subscribes to (possibly none: the checkpoint still moves).
   */
  private async commit(
    events: RecordedEvent[],
    work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>,
  ): Promise<void> {
    const last = events[events.length - 1]!.position;
    let applied = 0;
    await this.orm.em.fork().transactional(async (em) => {
      const rows = await em.execute<{ position: string | null }[]>(
        'SELECT position FROM projection_checkpoints WHERE name = ? FOR UPDATE',
        [this.projection.name],
      );
      const stored = rows[0]?.position ?? null;
      const fresh = events.filter((event) => this.log.comparePositions(event.position, stored) > 0);
      if (fresh.length === 0) return;
      const relevant = fresh.filter((event) => this.projection.eventTypes.has(event.type));
      await work(relevant, em);
      await em.flush();
      await em.execute('UPDATE projection_checkpoints SET position = ?, updated_at = now() WHERE name = ?', [
        last,
        this.projection.name,
      ]);
      applied = relevant.length;
    });
    this.state.position = last;
    this.state.eventsApplied += applied;
    this.options.onCheckpoint?.(this.projection.name, last);
  }

  private recordError(error: unknown): void {
    this.state.lastError = describe(error);
    this.state.lastErrorAt = new Date().toISOString();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
