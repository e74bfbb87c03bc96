import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { RecordedEvent } from '../../domain/events.ts';
import { operatorSafeError } from '../../infra/http/health.ts';
import { CHANNEL_CHECKPOINTS } from '../../infra/notifications/notifications.ts';
import { COPY_FROM_ROWS, executeBound, onPlainConnection, writeBound } from '../../infra/readmodels/orm.ts';
import { PipelinedTransaction } from '../../infra/readmodels/pipelined-transaction.ts';
import { isDataError, isTransientDatabaseError } from '../../infra/resilience.ts';
import { retryPolicies, retrying } from '../../infra/retry.ts';
import type { GlobalEventLog } from '../ports.ts';
import { subscribeToAll, type Subscription } from '../subscription.ts';
import { handles, ProjectionError, type Projection } from './projection.ts';
import type { ProjectionMetrics } from './projection-metrics.ts';

/** What a projection's batches wait for before they are applied (see ReadModelPace). */
export interface BatchPace {
  hold(projection: string, recordedAt: string, signal: AbortSignal): Promise<void>;
  /** Resolves when a read-your-writes read waits on `projection` (at once while one has lately), or `signal` aborts. */
  hurried?(projection: string, signal: AbortSignal): Promise<void>;
}

export interface ProjectionRunnerOptions {
  batchSize: number;
  /** Events per batch once well behind the head (see subscribeToAll's catchUpBatchSize); default batchSize. */
  catchUpBatchSize?: number;
  /** Attempts at one failing event before it is parked. */
  maxAttempts?: number;
  /**
   * Told after each checkpoint move (wakes read-your-writes waiters). `stored`: it was committed and the
   * transaction announced it to other processes itself (NOTIFY nf_checkpoints); otherwise (a skip over
   * events of other types) it lives in this process's memory only, for now.
   */
  onCheckpoint?(projection: string, position: string, stored: boolean): void;
  /** Once live, the least time between two batches (see subscribeToAll). */
  liveDelayMs?: number;
  /** The same for a background projection (Projection `background`), cut short when a reader waits on it. */
  backgroundDelayMs?: number;
  /** What each batch waits for before it is applied (see ReadModelPace). */
  pace?: BatchPace;
  /** Events applied, batches committed and events parked, per projection. */
  metrics?: ProjectionMetrics;
  /**
   * The read models are on a PostgreSQL server (default: no, as on the embedded database): a projection's
   * statements are then prepared by name on each connection, and a large batch may go by COPY FROM STDIN
   * (see onPlainConnection). The embedded database's socket server takes no COPY, and its connections share
   * one session, where a name one prepared already exists for the next.
   */
  server?: boolean;
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

/** nf_move_checkpoint's SQLSTATE: the checkpoint is not where the runner expected it (see transactPipelined). */
const CHECKPOINT_MOVED = 'NF001';

/** How many parked events each runner remembers for the health answer (the table keeps them all). */
const RECENTLY_PARKED = 5;

/**
 * Runs one projection: reads the global log from its checkpoint in batches and applies each batch in one
 * transaction that also stores the new checkpoint, so a crash never applies an event twice nor skips one.
 * Several runners of the same projection (in several processes) are safe: each batch locks the checkpoint
 * row and drops events the row says are already applied (a reactor, whose effects are idempotent and happen
 * outside the transaction, moves the row from the position it read, or not at all).
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
  /**
   * A reactor's checkpoint as this runner last read or stored it; undefined when it must be read (at first,
   * and after another runner was found to have moved it).
   */
  private reactorCheckpoint: { position: string | null } | undefined = undefined;
  /**
   * A read model's checkpoint as this runner last stored or read it (a batch is then pipelined, see
   * transactPipelined); undefined when it must be read first (at a failure, and when another runner moved it).
   */
  private storedCheckpoint: { position: string | null } | undefined = undefined;

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
    this.storedCheckpoint = { position: from };
    this.state.running = true;
    const { pace } = this.options;
    const name = this.projection.name;
    this.subscription = subscribeToAll(this.log, {
      from,
      batchSize: this.options.batchSize,
      ...(this.options.catchUpBatchSize ? { catchUpBatchSize: this.options.catchUpBatchSize } : {}),
      ...(this.projection.eventTypes === 'all' ? {} : { types: [...this.projection.eventTypes] }),
      liveDelayMs: this.projection.background ? (this.options.backgroundDelayMs ?? this.options.liveDelayMs) : this.options.liveDelayMs,
      ...(pace?.hurried && this.projection.background ? { wakeEarly: (signal: AbortSignal) => pace.hurried!(name, signal) } : {}),
      ...(pace && !this.projection.feedsRunner
        ? { holdBatch: (oldest: RecordedEvent, signal: AbortSignal) => pace.hold(name, oldest.recordedAt, signal) }
        : {}),
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
    this.options.metrics?.parked(this.projection.name, this.state.parked);
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
    // The first try on its own: live, most batches are one event, and setting up the policy cost more than them.
    const first = await this.apply([event], end).then(
      () => null,
      (error: unknown) => ({ error }),
    );
    if (!first) return;
    const policy = { ...retryPolicies.parking, attempts: Math.max(1, this.options.maxAttempts ?? retryPolicies.parking.attempts) };
    let attempts = 0;
    try {
      await retrying(
        policy,
        async (attempt) => {
          attempts = attempt;
          if (attempt === 1) throw first.error;
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
      await executeBound(
        em,
        `INSERT INTO parked_events (projection, position, event_id, stream_id, event_type, error, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [this.projection.name, event.position, event.id, event.streamId, event.type, describe(error), attempts],
      );
    });
    this.state.parked++;
    this.options.metrics?.parked(this.projection.name, this.state.parked);
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
   * Applies `events` (a batch up to `last`, possibly none of them the projection's: the checkpoint still
   * moves) and moves the checkpoint to `last`: in one transaction, or for a reactor after its effects.
   */
  private async commit(events: RecordedEvent[], last: string, work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>): Promise<void> {
    const started = performance.now();
    let applied: number | null;
    try {
      applied = this.projection.reactor
        ? await this.react(events, last, work)
        : this.projection.sqlOnly
          ? await this.transactPlain(events, last, work)
          : await this.transact(events, last, work);
    } catch (err) {
      // A lost connection may have lost the commit or not: the next batch reads where the checkpoint is.
      this.storedCheckpoint = undefined;
      throw err;
    }
    // Stored at `last` now; or another runner had got further, and the next batch reads where.
    this.storedCheckpoint = applied === null ? undefined : { position: last };
    if (applied === null) return;
    if (this.log.comparePositions(last, this.state.position) > 0) this.state.position = last;
    this.state.eventsApplied += applied;
    this.options.metrics?.committed(this.projection.name, applied, (performance.now() - started) / 1000);
    this.options.onCheckpoint?.(this.projection.name, last, true);
  }

  /**
   * One transaction: move the checkpoint to `last` (locking it, and learning where it stood), drop the events
   * it already covered, apply the rest. Answers how many were applied; null when another runner had got
   * further (nothing changed).
   */
  private async transact(
    events: RecordedEvent[],
    last: string,
    work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>,
  ): Promise<number | null> {
    // begin/commit on a fork of our own rather than em.transactional: no nested fork, and nothing copied back
    // into a parent context at the end (a batch's entities are not needed after it).
    const em = this.orm.em.fork();
    await em.begin();
    try {
      const stored = await this.moveCheckpoint(em, last);
      // Another runner (another process) got further: nothing here is new, and the checkpoint must not go back.
      if (this.log.comparePositions(last, stored) <= 0) {
        await em.rollback();
        return null;
      }
      const relevant = this.relevant(events, stored);
      if (relevant.length > 0) await work(relevant, em);
      await em.commit(); // flushes the unit of work first
      return relevant.length;
    } catch (err) {
      await em.rollback().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The same transaction for a projection that writes only through executeBound and writeBound, on a plain
   * connection of the read models' pool, without an ORM transaction (for the small batches of a live
   * projection, setting one up was most of a batch's cost). On a server, a batch smaller than a COPY is
   * pipelined while this runner knows where the checkpoint is (transactPipelined); else BEGIN goes out with the
   * checkpoint's move in one round trip (transactChecked).
   */
  private async transactPlain(
    events: RecordedEvent[],
    last: string,
    work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>,
  ): Promise<number | null> {
    const knex = this.orm.em.getConnection().getKnex();
    const connection = (await knex.client.acquireConnection()) as pg.ClientBase;
    try {
      const stored = this.storedCheckpoint;
      // Nothing new (a skip stored late, behind a batch committed since): the checkpoint must not go back.
      if (stored && this.log.comparePositions(last, stored.position) <= 0) return null;
      if (this.options.server && stored && events.length < COPY_FROM_ROWS) {
        const applied = await this.transactPipelined(connection, stored.position, events, last, work);
        if (applied !== undefined) return applied;
      }
      return await this.transactChecked(connection, events, last, work);
    } finally {
      await knex.client.releaseConnection(connection);
    }
  }

  /**
   * A batch in one round trip: BEGIN, the checkpoint's move from `expected` (where this runner stored it;
   * nf_move_checkpoint fails the transaction with NF001 if it is not there), the projection's statements and
   * COMMIT go out without waiting for each other (PipelinedTransaction); a statement whose answer the projection
   * reads (a lookup) costs a round trip of its own, writes go with the COMMIT (writeBound). Answers how many
   * events were applied, or undefined, having changed nothing, when the checkpoint was not at `expected`
   * (another runner moved it, or a rebuild emptied the table): the caller then applies the batch the way that
   * reads it first.
   */
  private async transactPipelined(
    connection: pg.ClientBase,
    expected: string | null,
    events: RecordedEvent[],
    last: string,
    work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>,
  ): Promise<number | undefined> {
    const name = this.projection.name;
    const transaction = PipelinedTransaction.begin(connection);
    const em = onPlainConnection(this.orm.em.fork(), transaction, { server: true });
    await writeBound(em, 'SELECT nf_move_checkpoint(?, ?, ?, ?, ?)', [
      name,
      expected,
      last,
      CHANNEL_CHECKPOINTS,
      JSON.stringify({ projection: name, position: last }),
    ]);
    const relevant = this.relevant(events, expected);
    try {
      if (relevant.length > 0) await work(relevant, em);
      await transaction.commit();
      return relevant.length;
    } catch (err) {
      // The cause, not the statements that failed behind it because the transaction was aborted.
      const cause = (await transaction.rollbackWithCause()) ?? err;
      if (cause instanceof Error && (cause as { code?: unknown }).code === CHECKPOINT_MOVED) return undefined;
      throw cause;
    }
  }

  /** BEGIN with the checkpoint's move (which answers where it stood), the projection's statements, COMMIT. */
  private async transactChecked(
    connection: pg.ClientBase,
    events: RecordedEvent[],
    last: string,
    work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>,
  ): Promise<number | null> {
    try {
      const name = this.projection.name;
      const move = (position: string) =>
        `UPDATE projection_checkpoints c SET position = ${connection.escapeLiteral(position)}, updated_at = now()
         FROM (SELECT name, position FROM projection_checkpoints WHERE name = ${connection.escapeLiteral(name)} FOR UPDATE) prior
         WHERE c.name = prior.name
         RETURNING prior.position AS stored, set_config('synchronous_commit', 'off', true),
                   pg_notify(${connection.escapeLiteral(CHANNEL_CHECKPOINTS)}, ${connection.escapeLiteral(JSON.stringify({ projection: name, position }))})`;
      // Several statements in one simple query: BEGIN and the move in one round trip (see moveCheckpoint).
      const [, moved] = (await connection.query(`BEGIN; ${move(last)}`)) as unknown as pg.QueryResult<{ stored: string | null }>[];
      let rows = moved!.rows;
      if (rows.length === 0) {
        // The row went away (a rebuild or a test emptied the table): it starts again from nothing.
        await connection.query({
          text: 'INSERT INTO projection_checkpoints (name, position) VALUES ($1, NULL) ON CONFLICT (name) DO NOTHING',
          values: [name],
        });
        rows = (await connection.query<{ stored: string | null }>(move(last))).rows;
      }
      const stored = rows[0]?.stored ?? null;
      // Another runner (another process) got further: nothing here is new, and the checkpoint must not go back.
      if (this.log.comparePositions(last, stored) <= 0) {
        await connection.query('ROLLBACK');
        return null;
      }
      const relevant = this.relevant(events, stored);
      if (relevant.length > 0) await work(relevant, onPlainConnection(this.orm.em.fork(), connection, { server: this.options.server ?? false }));
      await connection.query('COMMIT');
      return relevant.length;
    } catch (err) {
      await connection.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * A reactor: its effects first (outside any transaction; they are idempotent), for the events after the
   * stored checkpoint, then the checkpoint moves in one statement from where it was read, no transaction
   * around it (it would hold nothing else). Answers how many events were handled; null when another runner
   * had got further.
   */
  private async react(
    events: RecordedEvent[],
    last: string,
    work: (relevant: RecordedEvent[], em: EntityManager) => Promise<void>,
  ): Promise<number | null> {
    const em = this.orm.em.fork();
    const read = async (): Promise<string | null> => {
      const rows = await executeBound<{ position: string | null }>(em, 'SELECT position FROM projection_checkpoints WHERE name = ?', [
        this.projection.name,
      ]);
      if (rows.length > 0) return rows[0]!.position;
      // The row went away (a rebuild or a test emptied the table): it starts again from nothing.
      await executeBound(em, 'INSERT INTO projection_checkpoints (name, position) VALUES (?, NULL) ON CONFLICT (name) DO NOTHING', [
        this.projection.name,
      ]);
      return read();
    };
    const storedNow = async (): Promise<string | null> => {
      const position = await read();
      this.reactorCheckpoint = { position };
      return position;
    };
    // Where this runner left it, as long as nobody else moved it (the compare-and-set below finds out): one
    // query less per batch.
    let stored = this.reactorCheckpoint ? this.reactorCheckpoint.position : await storedNow();
    if (this.log.comparePositions(last, stored) <= 0) return null;
    const relevant = this.relevant(events, stored);
    if (relevant.length > 0) await work(relevant, em);
    // Compare-and-set: moved only from the position read. Another runner that moved it meanwhile handled up to
    // there (its effects may repeat ours; they are idempotent): set it to `last` from its position then,
    // unless it is past `last` already.
    for (;;) {
      const moved = await executeBound(
        em,
        `UPDATE projection_checkpoints SET position = ?, updated_at = now()
         WHERE name = ? AND position IS NOT DISTINCT FROM ?
         RETURNING set_config('synchronous_commit', 'off', true), pg_notify(?, ?)`,
        [last, this.projection.name, stored, CHANNEL_CHECKPOINTS, JSON.stringify({ projection: this.projection.name, position: last })],
      );
      if (moved.length > 0) {
        this.reactorCheckpoint = { position: last };
        return relevant.length;
      }
      stored = await storedNow();
      if (this.log.comparePositions(last, stored) <= 0) return null;
    }
  }

  /** The events after `stored` that this projection handles (usually all of them: one comparison then). */
  private relevant(events: RecordedEvent[], stored: string | null): RecordedEvent[] {
    const first = events[0];
    const fresh =
      first === undefined || this.log.comparePositions(first.position, stored) > 0
        ? events
        : events.filter((event) => this.log.comparePositions(event.position, stored) > 0);
    return this.projection.eventTypes === 'all' ? fresh : fresh.filter((event) => handles(this.projection, event.type));
  }

  /**
   * The first statement of a batch's transaction: locks the checkpoint row, moves it to `last` and answers
   * where it stood (the batch then drops what that covered, or rolls back when it covered everything). In the
   * same round trip: the announcement (NOTIFY, heard by other processes exactly when the batch commits), and
   * asynchronous commit: a read model can always be rebuilt from the log, and the checkpoint commits with it,
   * so if a crash loses this commit it loses the checkpoint move too and the batch is applied again. The
   * commit then need not wait for its WAL flush.
   */
  private async moveCheckpoint(em: EntityManager, last: string): Promise<string | null> {
    const name = this.projection.name;
    const move = () =>
      executeBound<{ stored: string | null }>(
        em,
        `UPDATE projection_checkpoints c SET position = ?, updated_at = now()
         FROM (SELECT name, position FROM projection_checkpoints WHERE name = ? FOR UPDATE) prior
         WHERE c.name = prior.name
         RETURNING prior.position AS stored, set_config('synchronous_commit', 'off', true), pg_notify(?, ?)`,
        [last, name, CHANNEL_CHECKPOINTS, JSON.stringify({ projection: name, position: last })],
      );
    let rows = await move();
    if (rows.length === 0) {
      // The row went away (a rebuild or a test emptied the table): it starts again from nothing.
      await executeBound(em, 'INSERT INTO projection_checkpoints (name, position) VALUES (?, NULL) ON CONFLICT (name) DO NOTHING', [name]);
      rows = await move();
    }
    return rows[0]?.stored ?? null;
  }

  private recordError(error: unknown): void {
    this.state.lastError = operatorSafeError(error);
    this.state.lastErrorAt = new Date().toISOString();
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
