import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { RecordedEvent } from '../../domain/events.ts';
import { operatorSafeError } from '../../infra/http/health.ts';
import { CHANNEL_CHECKPOINTS } from '../../infra/notifications/notifications.ts';
import { isDataError, isTransientDatabaseError } from '../../infra/resilience.ts';
import { retryPolicies, retrying } from '../../infra/retry.ts';
import type { GlobalEventLog } from '../ports.ts';
import { subscribeToAll, type Subscription } from '../subscription.ts';
import { handles, ProjectionError, type Projection } from './projection.ts';

export interface ProjectionRunnerOptions {
  batchSize: number;
  /** Attempts at one failing event before it is parked. */
  maxAttempts?: number;
  /**
   * Told after each checkpoint move (wakes read-your-writes waiters). `stored`: it was committed and the
   * transaction announced it to other processes itself (NOTIFY nf_checkpoints); otherwise (a skip over
   * events of other types) it lives in this process's memory only, for now.
   */
  onCheckpoint?(projection: string, position: string, stored: boolean): void;
  /** Once live, how long appends may accumulate before a batch is read (see subscribeToAll). */
  liveDelayMs?: number;
}

/**
 * When the log moves on with events this projection does not handle, the checkpoint moves in memory at
 * once and reaches the table at most this often: a crash then re-reads only events it skips anyway.
 */
const SKIPPED_CHECKPOINT_PERSIST_MS = 1_000;

export interface ProjectionStatus {
  name: string;
  position: string | null;
  caughtUp: boolean;
  running: boolean;
  eventsApplied: number;
  parked: number;
  /** The newest events parked since the process started (position, type and error class: no tenant data). */
  recentlyParked: { position: string; eventType: string; error: string; at: string }[];
  /** The last error, as operators may see it (class and SQLSTATE, never the statement or its values). */
  lastError: string | null;
  lastErrorAt: string | null;
  /** Since when batches fail without progress (the database is unreachable); null while it progresses. */
  failingSince: string | null;
}

/** How many parked events each runner remembers for the health answer (the table keeps them all). */
const RECENTLY_PARKED = 5;

/**
 * Runs one projection: reads the global log from its checkpoint in batches and applies each batch in one
 * transaction that also stores the new checkpoint, so a crash never applies an event twice nor skips one.
 * Several runners of the same projection (in several processes) are safe: each batch locks the checkpoint
 * row and drops events the row says are already applied.
 *
 * A batch that fails for a reason other than the database being unreachable is split in halves until the
 * failing event is found. An event the read model cannot take (a data error: bad text, a number out of range,
 * a broken constraint; see isDataError) is parked at once with its error (table parked_events, and an error
 * log); any other failure (a bug in the projection) is retried a few times first. Either way the projection
 * moves on: one bad event never holds back the other tenants. Only an unreachable database stops it: the
 * subscription backs off and retries.
 */
export class ProjectionRunner {
  private subscription: Subscription | null = null;
  private readonly state: ProjectionStatus;
  /** A position reached by skipping only, not yet stored. */
  private unsavedSkip: string | null = null;
  private skipTimer: NodeJS.Timeout | null = null;

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
      recentlyParked: [],
      lastError: null,
      lastErrorAt: null,
      failingSince: null,
    };
    this.logger = logger.child({ projection: projection.name });
  }

  get name(): string {
    return this.projection.name;
  }

  status(): ProjectionStatus {
    return { ...this.state, recentlyParked: [...this.state.recentlyParked] };
  }

  async start(): Promise<void> {
    const from = await this.loadCheckpoint();
    this.state.position = from;
    this.state.running = true;
    this.subscription = subscribeToAll(this.log, {
      from,
      batchSize: this.options.batchSize,
      ...(this.projection.eventTypes === 'all' ? {} : { types: [...this.projection.eventTypes] }),
      liveDelayMs: this.options.liveDelayMs,
      logger: this.logger,
      handle: (events, end) => (events.length === 0 ? this.skipTo(end) : this.applyOrIsolate(events, end)),
      onProgress: ({ caughtUp, error }) => {
        this.state.caughtUp = caughtUp;
        if (error) {
          this.recordError(error);
          this.state.failingSince ??= new Date().toISOString();
        } else {
          this.state.failingSince = null;
        }
      },
    });
    this.logger.info({ from }, 'projection started');
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = null;
    if (this.skipTimer) clearTimeout(this.skipTimer);
    this.skipTimer = null;
    await this.saveSkip().catch((err: unknown) => this.logger.warn({ err }, 'could not store the checkpoint on stop'));
    this.state.running = false;
  }

  /** The log moved on with events of other types only: move the checkpoint without a transaction. */
  private async skipTo(end: string): Promise<void> {
    this.state.position = end;
    this.unsavedSkip = end;
    this.options.onCheckpoint?.(this.projection.name, end, false);
    this.skipTimer ??= setTimeout(() => {
      this.skipTimer = null;
      this.saveSkip().catch((err: unknown) => this.logger.warn({ err }, 'could not store a skipped-to checkpoint; will retry'));
    }, SKIPPED_CHECKPOINT_PERSIST_MS);
    this.skipTimer.unref();
  }

  private async saveSkip(): Promise<void> {
    const end = this.unsavedSkip;
    if (end === null) return;
    await this.commit([], end, async () => undefined);
    if (this.unsavedSkip === end) this.unsavedSkip = null;
  }

  private async loadCheckpoint(): Promise<string | null> {
    const em = this.orm.em.fork();
    await em.execute('INSERT INTO projection_checkpoints (name, position) VALUES (?, NULL) ON CONFLICT (name) DO NOTHING', [this.projection.name]);
    const rows = await em.execute<{ position: string | null }[]>('SELECT position FROM projection_checkpoints WHERE name = ?', [
      this.projection.name,
    ]);
    const count = await em.execute<{ count: string }[]>('SELECT count(*) AS count FROM parked_events WHERE projection = ? AND resolved_at IS NULL', [
      this.projection.name,
    ]);
    this.state.parked = Number(count[0]?.count ?? 0);
    return rows[0]?.position ?? null;
  }

  /** Applies `events` (all of this projection's events up to `end`) and moves the checkpoint to `end`. */
  private async applyOrIsolate(events: RecordedEvent[], end: string): Promise<void> {
    if (events.length === 1) return this.applyOrPark(events[0]!, end);
    try {
      await this.apply(events, end);
    } catch (err) {
      if (isTransientDatabaseError(err)) throw err;
      const middle = Math.ceil(events.length / 2);
      const firstHalf = events.slice(0, middle);
      await this.applyOrIsolate(firstHalf, firstHalf[firstHalf.length - 1]!.position);
      await this.applyOrIsolate(events.slice(middle), end);
    }
  }

  /**
   * One event: applied, or tried again under the parking policy when a bug failed it, or parked. The data
   * decides a data error (trying again cannot help: parked at once); an unreachable database is not the
   * event's fault: the subscription waits it out and offers the batch again.
   */
  private async applyOrPark(event: RecordedEvent, end: string): Promise<void> {
    const policy = { ...retryPolicies.parking, attempts: Math.max(1, this.options.maxAttempts ?? retryPolicies.parking.attempts) };
    let attempts = 0;
    try {
      await retrying(
        policy,
        async (attempt) => {
          attempts = attempt;
          await this.apply([event], end);
        },
        {
          retryIf: (err, attempt) => !isTransientDatabaseError(err) && (attempt > 1 || !(isDataError(err) || err instanceof ProjectionError)),
          onRetry: (err) => this.recordError(err),
        },
      );
    } catch (err) {
      if (isTransientDatabaseError(err)) throw err;
      await this.park(event, end, err, attempts);
    }
  }

  private async park(event: RecordedEvent, end: string, error: unknown, attempts: number): Promise<void> {
    await this.commit([event], end, async (_relevant, em) => {
      await em.execute(
        `INSERT INTO parked_events (projection, position, event_id, stream_id, event_type, error, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [this.projection.name, event.position, event.id, event.streamId, event.type, describe(error), attempts],
      );
    });
    this.state.parked++;
    this.recordError(error);
    this.state.recentlyParked = [
      { position: event.position, eventType: event.type, error: operatorSafeError(error), at: new Date().toISOString() },
      ...this.state.recentlyParked,
    ].slice(0, RECENTLY_PARKED);
    this.logger.error(
      { err: error, position: event.position, eventId: event.id, eventType: event.type, streamId: event.streamId },
      'event parked: the projection could not apply it and moved on',
    );
  }

  private apply(events: RecordedEvent[], end: string): Promise<void> {
    return this.commit(events, end, (relevant, em) => this.projection.apply(relevant, em));
  }

  /**
   * One transaction: lock the checkpoint, drop events it already covers, apply the rest, move it to `last`.
   * `work` gets the events this projection subscribes to (possibly none: the checkpoint still moves).
   */
  private async commit(events: RecordedEvent[], last: string, work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>): Promise<void> {
    let applied = 0;
    let moved = false;
    let reacted: RecordedEvent[] | null = null;
    if (this.projection.reactor) {
      const em = this.orm.em.fork();
      const rows = await em.execute<{ position: string | null }[]>('SELECT position FROM projection_checkpoints WHERE name = ?', [
        this.projection.name,
      ]);
      const stored = rows[0]?.position ?? null;
      if (this.log.comparePositions(last, stored) <= 0) return;
      reacted = events.filter((event) => this.log.comparePositions(event.position, stored) > 0 && handles(this.projection, event.type));
      if (reacted.length > 0) await work(reacted, em);
    }
    await this.orm.em.fork().transactional(async (em) => {
      // Asynchronous commit (set in the same round trip): a read model can always be rebuilt from the log, and
      // the checkpoint commits with it, so if a crash loses this commit it loses the checkpoint move too and the
      // batch is applied again. The commit then need not wait for its WAL flush.
      const rows = await em.execute<{ position: string | null }[]>(
        "SELECT position, set_config('synchronous_commit', 'off', true) FROM projection_checkpoints WHERE name = ? FOR UPDATE",
        [this.projection.name],
      );
      const stored = rows[0]?.position ?? null;
      // Another runner (another process) got further: nothing here is new.
      if (this.log.comparePositions(last, stored) <= 0) return;
      const fresh = events.filter((event) => this.log.comparePositions(event.position, stored) > 0);
      const relevant = reacted ?? fresh.filter((event) => handles(this.projection, event.type));
      if (relevant.length > 0 && reacted === null) await work(relevant, em);
      await em.flush();
      // One statement: move the checkpoint and announce it, heard by other processes exactly at commit.
      await em.execute(
        `WITH moved AS (UPDATE projection_checkpoints SET position = ?, updated_at = now() WHERE name = ? RETURNING name)
         SELECT pg_notify(?, ?) FROM moved`,
        [last, this.projection.name, CHANNEL_CHECKPOINTS, JSON.stringify({ projection: this.projection.name, position: last })],
      );
      applied = relevant.length;
      moved = true;
    });
    if (!moved) return;
    if (this.log.comparePositions(last, this.state.position) > 0) this.state.position = last;
    this.state.eventsApplied += applied;
    this.options.onCheckpoint?.(this.projection.name, last, true);
  }

  private recordError(error: unknown): void {
    this.state.lastError = operatorSafeError(error);
    this.state.lastErrorAt = new Date().toISOString();
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
