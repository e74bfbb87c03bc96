import type { Metrics } from '../../observability/metrics.ts';
import type pg from 'pg';
import type { NewEvent, RecordedEvent } from '../../../domain/events.ts';
import {
  DuplicateEventIdError,
  PersonalDataKeyExistsError,
  WrongExpectedRevisionError,
  checkBulk,
  type AppendResult,
  type BulkAppendOutcome,
  type EventStreams,
  type ExpectedRevision,
  type NewPersonalDataKey,
  type ReadStreamOptions,
  type StreamAppend,
} from '../../../command-api/ports.ts';
import type { EventPage, GlobalEventLog } from '../../../projectors/ports.ts';
import { CHANNEL_EVENTS_APPENDED, type Notifications } from '../../notifications/notifications.ts';
import { isTransientDatabaseError } from '../../resilience.ts';
import { compareDecimalPositions, isInt64Digits } from '../envelope.ts';
import { AppendBatcher, type BatchDependencies, type PendingAppend } from './append-batcher.ts';
import { CopyBuffers, encodeCopyChunk, writeCopyChunk, type CopyChunk } from './bulk-copy.ts';
import { EVENT_STORE_SCHEMA_LOCK, eventStoreSchemaSql } from './schema.ts';

/** One entry of the group-commit queue: one append, or several that go in all or nothing. */
type AppendRequest = StreamAppend[];

interface EventRow {
  position: string;
  event_id: string;
  stream_id: string;
  revision: string;
  type: string;
  version: number;
  data: unknown;
  metadata: RecordedEvent['metadata'];
  recorded_at: string;
}

const EXPECTED_CODES = { no_stream: -1, any: -2, stream_exists: -3 } as const;
/**
 * Events queued before a second append transaction may start beside one in flight. Measured at 500 commands/s
 * (the visibility bench), where appends arrive one by one: with any queued append starting one, batches held
 * 3.4 events on average and the transactions cost PostgreSQL 40 % more than at 5.5 events; under the closed
 * loop of 32 connections the queue fills past it at once.
 */
const APPEND_OVERLAP_FROM = 8;

/**
 * An append that names its predecessor (StreamAppend.predecessorId: linked to one still under way) goes in a
 * batch beside the batch that writes that predecessor only as speculative: the later batch could take the log
 * head first, and the function then hands the append back as 'not_yet' (with every one linked to it) instead
 * of refusing it; the batcher sends it again once the predecessor's batch is over.
 */
const APPEND_DEPENDENCIES: BatchDependencies<AppendRequest> = {
  needs: (request) => {
    let needs: string[] | null = null;
    for (const append of request) if (append.predecessorId !== undefined) (needs ??= []).push(append.predecessorId);
    return needs ?? NO_IDS;
  },
  provides: (request) => request.map((append) => append.events[append.events.length - 1]!.id),
};
const NO_IDS: readonly string[] = [];
// recorded_at is formatted by the server exactly as Date#toISOString would: parsing a Date per row and
// formatting it again was a measurable part of a catch-up.
const COLUMNS = `position, event_id, stream_id, revision, type, version, data, metadata,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at`;

export interface PostgresEventStoreOptions {
  /** Upper bound of events per group-commit transaction. */
  maxBatchEvents?: number;
  /**
   * Events per transaction of a bulk append (whole appends; one larger append makes a larger chunk). Each
   * chunk holds the log head while it is written: live appends wait at most one chunk, and the subscribers
   * are woken after each one.
   */
  bulkChunkEvents?: number;
  /**
   * Named (server-side prepared) statements: planned once per connection instead of on every call. Must be
   * off on the embedded database, where every socket connection shares ONE session: a name one connection
   * prepared already exists for the next, which the driver cannot know ("prepared statement already exists").
   */
  namedStatements?: boolean;
  /**
   * Bulk chunks whose appends all expect a new stream go in with COPY (see bulk-copy.ts); default on. Off on
   * the embedded database, whose socket server does not take COPY FROM STDIN.
   */
  copyBulk?: boolean;
  /** Append latency, group-commit batch sizes and round trips are recorded here. */
  metrics?: Metrics;
}

export class PostgresEventStore implements EventStreams, GlobalEventLog {
  private readonly batcher: AppendBatcher<AppendRequest, AppendResult[]>;
  /**
   * Whole-stream reads, grouped like appends: one read goes at once; those asked for while it runs go
   * together in the next query (a runner loading the executions it claimed, a busy command API). Each
   * query starts after its callers asked, so a read still sees every append its caller saw committed.
   */
  private readonly streamReads = new AppendBatcher<string, RecordedEvent[]>((batch) => this.readStreams(batch), 256, 4);
  /** Highest position this process has heard of; lets a waiter return at once if it is already behind. */
  private lastAnnounced: string | null = null;
  private readonly wakeListeners = new Set<() => void>();
  private readonly stopListening: () => void;
  private readonly namedStatements: boolean;
  private readonly metrics: Metrics | undefined;
  private readonly bulkChunkEvents: number;
  private readonly copyBulk: boolean;
  private readonly copyBuffers = new CopyBuffers();
  /** Bulk appends of this store being written now. */
  private bulkCalls = 0;
  /** Bulk appends being written, for close() to wait for. */
  private readonly bulksInFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly notifications: Notifications,
    options: PostgresEventStoreOptions = {},
  ) {
    this.namedStatements = options.namedStatements ?? true;
    this.metrics = options.metrics;
    this.bulkChunkEvents = options.bulkChunkEvents ?? 10_000;
    this.copyBulk = options.copyBulk ?? true;
    // A second batch starts beside the one in flight only from APPEND_OVERLAP_FROM events queued (see AppendBatcher).
    this.batcher = new AppendBatcher((batch) => this.writeBatch(batch), options.maxBatchEvents ?? 2_000, 2, APPEND_OVERLAP_FROM, APPEND_DEPENDENCIES);
    this.stopListening = notifications.listen(CHANNEL_EVENTS_APPENDED, (payload) => this.onAnnounced(payload));
  }

  /** Creates the schema if needed. Safe to run from several processes at once. */
  static async migrate(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [EVENT_STORE_SCHEMA_LOCK]);
      await client.query(eventStoreSchemaSql);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Personal-data keys go in the append's transaction (personal_data_keys is in this database). */
  readonly keysWithEvents = true;

  /** StreamAppend.predecessorId is checked in the append's transaction (nf_append_batch). */
  readonly checksPredecessors = true;

  append(streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision, keys?: readonly NewPersonalDataKey[]): Promise<AppendResult> {
    const timer = this.metrics?.appendDuration.startTimer();
    const layer = this.metrics?.layer('append');
    return new Promise<AppendResult>((resolve, reject) => {
      const appends = [{ streamId, events, expectedRevision, keys }];
      const size = checkedSize(appends);
      this.batcher.enqueue(appends, size, (results) => resolve(results[0]!), reject);
    }).finally(() => {
      timer?.();
      layer?.();
    });
  }

  appendAtomically(appends: StreamAppend[]): Promise<AppendResult[]> {
    const timer = this.metrics?.appendDuration.startTimer();
    const layer = this.metrics?.layer('append');
    return new Promise<AppendResult[]>((resolve, reject) => this.batcher.enqueue(appends, checkedSize(appends), resolve, reject)).finally(() => {
      timer?.();
      layer?.();
    });
  }

  /**
   * Bulk appends (see EventStreams.appendBulk): chunks of whole appends, one transaction each, through
   * nf_append_bulk. Not through the group-commit queue: a chunk is already a large batch, and live appends
   * keep their own queue, taking the log head between two chunks. Chunks go one after the other (a second
   * one sent early could take the head first and break the input order); the next one is encoded while the
   * database writes the current one.
   */
  appendBulk(appends: StreamAppend[]): Promise<BulkAppendOutcome[]> {
    const written = this.writeBulk(appends);
    this.bulksInFlight.add(written);
    const forget = () => this.bulksInFlight.delete(written);
    written.then(forget, forget);
    return written;
  }

  private async writeBulk(appends: StreamAppend[]): Promise<BulkAppendOutcome[]> {
    checkBulk(appends);
    this.bulkCalls++;
    try {
      const chunks = chunked(appends, this.bulkChunkEvents);
      const outcomes: BulkAppendOutcome[] = [];
      // COPY until a chunk is refused (a stream that exists after all, a known id): then the function takes the
      // rest. And only while this is the one bulk writing: COPY sends its rows once it holds the log head, so with
      // another bulk holding it, the function (whose parameters travel with the call and are parsed while it
      // waits for the head) keeps the two cores busy.
      let copying = this.copyBulk;
      const encode = (chunk: StreamAppend[]) =>
        (copying && this.bulkCalls === 1 ? encodeCopyChunk(chunk, this.copyBuffers) : null) ?? toBulkParameters(chunk);
      let next = chunks.length > 0 ? encode(chunks[0]!) : null;
      for (let i = 0; i < chunks.length; i++) {
        let sent!: () => void;
        const handedOver = new Promise<void>((resolve) => (sent = resolve));
        const writing = this.writeChunk(chunks[i]!, next!, sent);
        // Awaited below; handled now so that a failure while the next chunk is encoded is not "unhandled".
        writing.catch(() => undefined);
        // The next chunk is encoded while the database writes this one.
        await handedOver;
        next = i + 1 < chunks.length ? encode(chunks[i + 1]!) : null;
        const { outcomes: chunkOutcomes, copyRefused, head } = await writing;
        if (copyRefused) {
          copying = false;
          if (next !== null && !Array.isArray(next)) {
            this.copyBuffers.give(next.buffer);
            next = toBulkParameters(chunks[i + 1]!);
          }
        }
        outcomes.push(...chunkOutcomes);
        if (head !== null) this.announce(head);
      }
      return outcomes;
    } finally {
      this.bulkCalls--;
    }
  }

  /** One chunk, through COPY (encoded as rows) or nf_append_bulk (encoded as its parameters); `sent` once it is handed over. */
  private async writeChunk(
    chunk: StreamAppend[],
    encoded: CopyChunk | unknown[],
    sent: () => void,
  ): Promise<{ outcomes: BulkAppendOutcome[]; copyRefused: boolean; head: string | null }> {
    if (!Array.isArray(encoded)) {
      // BEGIN with the head, COPY, then the head, the notification and COMMIT.
      this.metrics?.databaseRoundTrips.inc({ kind: 'bulk_copy' }, 3);
      const result = await writeCopyChunk(this.pool, encoded, sent).finally(() => this.copyBuffers.give(encoded.buffer));
      if (result.stored) return { outcomes: result.outcomes, copyRefused: false, head: result.head };
      // Refused, nothing stored: nf_append_bulk sorts out which appends go in and reports the others.
      return { ...(await this.callAppendBulk(toBulkParameters(chunk), () => undefined)), copyRefused: true };
    }
    return { ...(await this.callAppendBulk(encoded, sent)), copyRefused: false };
  }

  private async callAppendBulk(parameters: unknown[], sent: () => void): Promise<{ outcomes: BulkAppendOutcome[]; head: string | null }> {
    this.metrics?.databaseRoundTrips.inc({ kind: 'bulk_append' });
    const writing = this.pool.query<OutcomeRow>({ ...this.statement('nf_append_bulk'), text: BULK_SQL, values: parameters });
    writing.catch(() => undefined);
    // Let the driver send it before the caller encodes the next chunk.
    await new Promise((resolve) => setImmediate(resolve));
    sent();
    const { rows } = await writing;
    const outcomes: BulkAppendOutcome[] = [];
    let head: string | null = null;
    for (const row of rows) {
      if (row.o_outcome === 'ok') {
        outcomes.push({ status: 'stored', nextRevision: Number(row.o_revision), position: row.o_position! });
        head = row.o_position;
      } else if (row.o_outcome === 'duplicate_event_id') {
        outcomes.push({ status: 'duplicate_event_id' });
      } else {
        const actual = Number(row.o_revision);
        outcomes.push({ status: 'wrong_expected_revision', actual: actual < 0 ? 'no_stream' : actual });
      }
    }
    return { outcomes, head };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    // A whole stream (what deciders load): read together with the others asked for meanwhile.
    if (!options.fromRevision && options.maxCount === undefined) return this.streamReads.submit(streamId, 1);
    this.metrics?.databaseRoundTrips.inc({ kind: 'read_stream' });
    const { rows } = await this.pool.query<EventRow>({
      ...this.statement('nf_read_stream'),
      text: `SELECT ${COLUMNS} FROM nf_events WHERE stream_id = $1 AND revision >= $2 ORDER BY revision LIMIT $3`,
      values: [streamId, options.fromRevision ?? 0, options.maxCount ?? null],
    });
    return rows.map(toRecorded);
  }

  /** One query for several whole streams; settles each caller with its own stream's events. */
  private async readStreams(batch: PendingAppend<string, RecordedEvent[]>[]): Promise<void> {
    this.metrics?.databaseRoundTrips.inc({ kind: 'read_stream' });
    const ids = [...new Set(batch.map((entry) => entry.request))];
    const { rows } =
      ids.length === 1
        ? await this.pool.query<EventRow>({
            ...this.statement('nf_read_stream'),
            text: `SELECT ${COLUMNS} FROM nf_events WHERE stream_id = $1 AND revision >= $2 ORDER BY revision LIMIT $3`,
            values: [ids[0], 0, null],
          })
        : await this.pool.query<EventRow>({
            ...this.statement('nf_read_streams'),
            text: `SELECT ${COLUMNS} FROM nf_events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, revision`,
            values: [ids],
          });
    const byStream = new Map<string, RecordedEvent[]>();
    for (const row of rows) {
      const event = toRecorded(row);
      const events = byStream.get(event.streamId);
      if (events) events.push(event);
      else byStream.set(event.streamId, [event]);
    }
    // Callers of the same stream each get their own array (they may change what they read).
    const handed = new Set<string>();
    for (const entry of batch) {
      const events = byStream.get(entry.request) ?? [];
      entry.resolve(handed.has(entry.request) ? structuredClone(events) : events);
      handed.add(entry.request);
    }
  }

  async readAll(options: { after: string | null; maxCount: number }): Promise<RecordedEvent[]> {
    const { rows } = await this.pool.query<EventRow>(`SELECT ${COLUMNS} FROM nf_events WHERE position > $1 ORDER BY position LIMIT $2`, [
      options.after ?? '0',
      options.maxCount,
    ]);
    return rows.map(toRecorded);
  }

  async readPage(options: { after: string | null; maxCount: number; types?: readonly string[] }): Promise<EventPage> {
    const after = options.after ?? '0';
    // Positions are gapless (see schema.ts), so a window of positions bounds the rows scanned per page even
    // when few of them match; with every type wanted, the window is the page. Head and events come from one
    // statement, hence one snapshot, in which the head is the newest event (they commit together): the scan
    // needs no bound from it. Its bounds are parameters, so the planner sees how many rows they span and
    // walks the primary key in order; with a bound it could not see (the head) it guessed a few rows,
    // fetched the whole window, formatted every row and sorted them for the page (10x the work without
    // statistics, as in a fresh database). Timestamps are formatted for the page's rows only, outside.
    const window = BigInt(options.maxCount) * (options.types ? 10n : 1n);
    const { rows } = await this.pool.query<EventRow & { head: string }>({
      ...this.statement('nf_read_page'),
      text: `WITH bound AS (SELECT position AS head, LEAST(position, $1::bigint + $4::bigint) AS upto FROM nf_log_head WHERE id = 1)
             SELECT b.head, b.upto, e.position, e.event_id, e.stream_id, e.revision, e.type, e.version, e.data, e.metadata,
                    to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at
             FROM bound b
             LEFT JOIN (
               SELECT position, event_id, stream_id, revision, type, version, data, metadata, recorded_at FROM nf_events
               WHERE position > $1::bigint AND position <= $1::bigint + $4::bigint AND ($3::text[] IS NULL OR type = ANY($3::text[]))
               ORDER BY position LIMIT $2
             ) e ON true`,
      values: [after, options.maxCount, options.types ?? null, window.toString()],
    });
    const first = rows[0] as unknown as { head: string; upto: string } | undefined;
    const head = first?.head ?? '0';
    const upto = first?.upto ?? '0';
    const events = rows.filter((row) => row.position !== null).map(toRecorded);
    const full = events.length === options.maxCount;
    const endPosition = full ? events[events.length - 1]!.position : compareDecimalPositions(upto, after) > 0 ? upto : after;
    return {
      events,
      end: endPosition === '0' ? null : endPosition,
      atHead: endPosition === head,
    };
  }

  async headPosition(): Promise<string | null> {
    const { rows } = await this.pool.query<{ position: string }>('SELECT position FROM nf_log_head WHERE id = 1');
    const position = rows[0]?.position ?? '0';
    return position === '0' ? null : position;
  }

  isValidPosition(value: string): boolean {
    return isInt64Digits(value);
  }

  comparePositions(a: string | null, b: string | null): number {
    return compareDecimalPositions(a, b);
  }

  waitForAppends(after: string | null, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // Already stopping (the signal aborted before the wait began): no wait at all.
    if (signal.aborted || (this.lastAnnounced !== null && compareDecimalPositions(this.lastAnnounced, after) > 0)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeListeners.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.wakeListeners.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Waits for appends in flight, then stops listening. The pool belongs to the caller. */
  async close(): Promise<void> {
    await this.batcher.flushed();
    await this.streamReads.flushed();
    await Promise.allSettled([...this.bulksInFlight]);
    this.stopListening();
    for (const wake of [...this.wakeListeners]) wake();
  }

  private statement(name: string): { name?: string } {
    return this.namedStatements ? { name } : {};
  }

  private onAnnounced(payload: string): void {
    // An empty payload means "notifications may have been lost": wake everyone, they read again.
    if (payload !== '' && /^\d+$/.test(payload)) {
      if (compareDecimalPositions(payload, this.lastAnnounced) > 0) this.lastAnnounced = payload;
    }
    for (const wake of [...this.wakeListeners]) wake();
  }

  /** Settles the batch's entries; returns the speculative ones that went ahead of what they build on. */
  private async writeBatch(batch: PendingAppend<AppendRequest, AppendResult[]>[]): Promise<readonly PendingAppend<AppendRequest, AppendResult[]>[]> {
    let rows: OutcomeRow[];
    if (this.metrics) {
      this.metrics.databaseRoundTrips.inc({ kind: 'append' });
      this.metrics.appendBatchSize.observe(batch.reduce((n, entry) => n + entry.request.reduce((m, append) => m + append.events.length, 0), 0));
    }
    try {
      const values = toParameters(batch);
      rows = (await this.pool.query({ ...this.statement('nf_append_batch'), text: APPEND_SQL, values })).rows;
    } catch (err) {
      if (batch.length > 1 && !isTransientDatabaseError(err)) {
        // One bad append must not fail its neighbours: write them one by one to isolate it.
        const handedBack: PendingAppend<AppendRequest, AppendResult[]>[] = [];
        for (const entry of batch) handedBack.push(...(await this.writeBatch([entry])));
        return handedBack;
      }
      // Alone, a key stored by a concurrent transaction since the function looked (see schema.ts) is what it
      // would have said a moment later.
      const keyed = isKeyStoredMeanwhile(err) ? batch[0]?.request.find((append) => append.keys?.length) : undefined;
      for (const entry of batch) entry.reject(keyed ? new PersonalDataKeyExistsError(keyed.streamId) : err);
      return NONE_HANDED_BACK;
    }
    let lastPosition: string | null = null;
    let row = 0;
    let handedBack: PendingAppend<AppendRequest, AppendResult[]>[] | null = null;
    for (const entry of batch) {
      const results: AppendResult[] = [];
      let failure: Error | null = null;
      let notYet = false;
      for (const { streamId, expectedRevision } of entry.request) {
        const { o_outcome: outcome, o_revision: revision, o_position: position } = rows[row++]!;
        if (outcome === 'ok') {
          results.push({ nextRevision: Number(revision), position: position! });
          if (compareDecimalPositions(position, lastPosition) > 0) lastPosition = position;
        } else if (outcome === 'wrong_expected_revision') {
          const actual = Number(revision);
          failure ??= new WrongExpectedRevisionError(streamId, expectedRevision, actual < 0 ? 'no_stream' : actual);
        } else if (outcome === 'duplicate_event_id') {
          failure ??= new DuplicateEventIdError(streamId);
        } else if (outcome === 'key_exists') {
          failure ??= new PersonalDataKeyExistsError(streamId);
        } else if (outcome === 'not_yet') {
          // Speculative, and its batch went first: nothing of it was stored; it goes again (AppendBatcher).
          notYet = true;
        }
        // 'aborted': fine on its own, skipped with its group; the member that failed is reported.
      }
      if (notYet) (handedBack ??= []).push(entry);
      else if (failure) entry.reject(failure);
      else entry.resolve(results);
    }
    if (lastPosition !== null) this.announce(lastPosition);
    if (handedBack) this.metrics?.appendsHandedBack.inc(handedBack.length);
    return handedBack ?? NONE_HANDED_BACK;
  }

  private announce(position: string): void {
    this.onAnnounced(position);
    // With LISTEN/NOTIFY the append transaction announced itself (nf_append_batch calls pg_notify).
    if (this.notifications.hearsDatabaseNotify) return;
    this.notifications.notify(CHANNEL_EVENTS_APPENDED, position).catch(() => {
      // Listeners elsewhere fall back to polling; nothing is lost.
    });
  }
}

/** One append's outcome, as nf_append_batch and nf_append_bulk return it. */
interface OutcomeRow {
  o_outcome: string;
  o_revision: string;
  o_position: string | null;
}

const BULK_SQL = 'SELECT o_outcome, o_revision, o_position FROM nf_append_bulk($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)';

/** Splits a bulk into chunks of whole appends of about `maxEvents` events each, in input order. */
function chunked(appends: StreamAppend[], maxEvents: number): StreamAppend[][] {
  const chunks: StreamAppend[][] = [];
  let current: StreamAppend[] = [];
  let events = 0;
  for (const append of appends) {
    if (current.length > 0 && events + append.events.length > maxEvents) {
      chunks.push(current);
      current = [];
      events = 0;
    }
    current.push(append);
    events += append.events.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** nf_append_bulk's parameters: the appends' columns, then the events' (data and metadata as one text each; see schema.ts). */
function toBulkParameters(appends: StreamAppend[]): unknown[] {
  const streams: string[] = [];
  const expected: number[] = [];
  const counts: number[] = [];
  const eventAppend: number[] = [];
  const eventSeq: number[] = [];
  const ids: string[] = [];
  const types: string[] = [];
  const versions: number[] = [];
  const data: string[] = [];
  const metadata: string[] = [];
  appends.forEach(({ streamId, events, expectedRevision }, index) => {
    streams.push(streamId);
    expected.push(typeof expectedRevision === 'number' ? expectedRevision : EXPECTED_CODES[expectedRevision]);
    counts.push(events.length);
    events.forEach((event, seq) => {
      eventAppend.push(index + 1);
      eventSeq.push(seq);
      ids.push(event.id);
      types.push(event.type);
      versions.push(event.version);
      data.push(JSON.stringify(event.data) ?? 'null');
      metadata.push(JSON.stringify(event.metadata) ?? 'null');
    });
  });
  // Array literals written here, while the database writes the previous chunk (the driver would build them
  // when the query is sent, with the database waiting).
  return [
    textArray(streams),
    intArray(expected),
    intArray(counts),
    intArray(eventAppend),
    intArray(eventSeq),
    textArray(ids),
    textArray(types),
    intArray(versions),
    // One text each, split by the function: JSON.stringify escapes every control character, U+001E included.
    data.join('\x1e'),
    metadata.join('\x1e'),
  ];
}

/** A PostgreSQL array literal of integers. */
function intArray(values: number[]): string {
  return `{${values.join(',')}}`;
}

/** A PostgreSQL array literal of texts (null as NULL). */
function textArray(values: (string | null)[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) literal += ',';
    if (value === null || value === undefined) literal += 'NULL';
    else if (/["\\]/.test(value)) literal += `"${value.replace(/["\\]/g, '\\$&')}"`;
    else literal += `"${value}"`;
  }
  return `${literal}}`;
}

// 18 parameters: this release's function, not an earlier one a database may still hold (schema.ts).
const APPEND_SQL =
  'SELECT o_outcome, o_revision, o_position FROM nf_append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text, $13::text, $14, $15, $16, $17::uuid[], $18::boolean[])';
const NONE_HANDED_BACK: readonly PendingAppend<AppendRequest, AppendResult[]>[] = [];

/** nf_append_batch refused a key that a concurrent transaction stored after it had looked (schema.ts). */
function isKeyStoredMeanwhile(err: unknown): boolean {
  const { code, constraint } = err as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'personal_data_keys_pkey';
}

/** Events in the appends; throws (inside the caller's promise) on an append the store must refuse. */
function checkedSize(appends: StreamAppend[]): number {
  if (appends.length === 0) throw new Error('appendAtomically needs at least one append');
  let size = 0;
  for (const { events, expectedRevision } of appends) {
    if (events.length === 0) throw new Error('append needs at least one event');
    if (typeof expectedRevision === 'number' && !(Number.isSafeInteger(expectedRevision) && expectedRevision >= 0)) {
      throw new RangeError(`expected revision must be a non-negative integer: ${expectedRevision}`);
    }
    size += events.length;
  }
  return size;
}

function toParameters(batch: readonly PendingAppend<AppendRequest, AppendResult[]>[]): unknown[] {
  const streams: string[] = [];
  const expected: number[] = [];
  const counts: number[] = [];
  const groups: number[] = [];
  const eventAppend: number[] = [];
  const eventSeq: number[] = [];
  const eventStreams: string[] = [];
  const eventTenants: (string | null)[] = [];
  const ids: string[] = [];
  const types: string[] = [];
  const versions: number[] = [];
  const data: string[] = [];
  const metadata: string[] = [];
  const keyAppend: number[] = [];
  const keySubjects: string[] = [];
  const sealedKeys: string[] = [];
  // Per append; sent as NULL when no append names a predecessor (the function then skips the check).
  const predecessors: (string | null)[] = [];
  let anyPredecessor = false;
  batch.forEach(({ request: appends }, entry) => {
    // A lone append needs no group; several from one request are one all-or-nothing group.
    const group = appends.length > 1 ? entry + 1 : 0;
    for (const { streamId, events, expectedRevision: exp, keys, predecessorId } of appends) {
      streams.push(streamId);
      const checked = predecessorId !== undefined && typeof exp === 'number';
      predecessors.push(checked ? predecessorId : null);
      if (checked) anyPredecessor = true;
      expected.push(typeof exp === 'number' ? exp : EXPECTED_CODES[exp]);
      counts.push(events.length);
      groups.push(group);
      const index = streams.length;
      if (keys) {
        for (const { subject, sealedKey } of keys) {
          keyAppend.push(index);
          keySubjects.push(subject);
          sealedKeys.push(sealedKey);
        }
      }
      events.forEach((event, seq) => {
        eventAppend.push(index);
        eventSeq.push(seq + 1);
        eventStreams.push(streamId);
        eventTenants.push(event.metadata.tenantId);
        ids.push(event.id);
        types.push(event.type);
        versions.push(event.version);
        data.push(JSON.stringify(event.data));
        metadata.push(JSON.stringify(event.metadata));
      });
    }
  });
  // Array literals and joined texts written here: the driver's own escaping of every element (prepareValue,
  // escapeElement) cost more than the rest of building the parameters.
  return [
    textArray(streams),
    intArray(expected),
    intArray(counts),
    intArray(groups),
    intArray(eventAppend),
    intArray(eventSeq),
    textArray(eventStreams),
    textArray(eventTenants),
    textArray(ids),
    textArray(types),
    intArray(versions),
    // One text each, split by the function: JSON.stringify escapes every control character, U+001E included.
    data.join('\x1e'),
    metadata.join('\x1e'),
    intArray(keyAppend),
    textArray(keySubjects),
    textArray(sealedKeys),
    anyPredecessor ? textArray(predecessors) : null,
    speculativeAppends(batch),
  ];
}

/** Per append, like the predecessors: true for the appends of a speculative request; NULL when there is none. */
function speculativeAppends(batch: readonly PendingAppend<AppendRequest, AppendResult[]>[]): string | null {
  if (!batch.some((entry) => entry.speculative)) return null;
  return `{${batch.flatMap(({ request, speculative }) => request.map(() => (speculative ? 't' : 'f'))).join(',')}}`;
}

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    revision: Number(row.revision),
    position: row.position,
    type: row.type,
    version: row.version,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
  };
}
