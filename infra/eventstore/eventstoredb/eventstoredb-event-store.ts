import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamRecordedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import type { EventMetadata, NewEvent, RecordedEvent } from '../../../domain/events.ts';
import {
  WrongExpectedRevisionError,
  checkBulk,
  type AppendResult,
  type BulkAppendOutcome,
  type EventStreams,
  type ExpectedRevision,
  type ReadStreamOptions,
  type StreamAppend,
} from '../../../command-api/ports.ts';
import type { EventPage, GlobalEventLog } from '../../../projectors/ports.ts';

type StoredMetadata = EventMetadata & { schemaVersion?: number };

/** Appends of a bulk sent at once: enough to fill the connection, few enough to keep the order mostly. */
const BULK_GROUP = 32;

/**
 * The event-store port on EventStoreDB / KurrentDB (@eventstore/db-client). Positions are the $all
 * commit/prepare pair, exposed as the opaque string "commit/prepare".
 *
 * Known differences from the PostgreSQL store, both EventStoreDB's own semantics:
 * - appending an event id that is already stored is an idempotent no-op there, not a DuplicateEventIdError;
 * - there is no multi-stream transaction, which the port does not offer anyway;
 * - a bulk append is one append per stream, a few at a time: positions follow the input order between
 *   those groups, not inside one (no reader skips an event either way: $all is ordered by commit).
 */
export class EventStoreDbEventStore implements EventStreams, GlobalEventLog {
  private readonly client: EventStoreDBClient;
  private live: AllStreamSubscription | null = null;
  private readonly wakeListeners = new Set<() => void>();

  constructor(connectionString: string) {
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  async append(streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    try {
      const result = await this.client.appendToStream(
        streamId,
        events.map((event) =>
          jsonEvent({
            id: event.id,
            type: event.type,
            data: event.data as never,
            metadata: { ...event.metadata, schemaVersion: event.version } satisfies StoredMetadata as never,
          }),
        ),
        { expectedRevision: toExpected(expectedRevision) },
      );
      if (!result.position) throw new Error('EventStoreDB returned no position (server older than 22.6?)');
      return { nextRevision: Number(result.nextExpectedRevision), position: encode(result.position) };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        const actual = err.actualVersion;
        throw new WrongExpectedRevisionError(streamId, expectedRevision, typeof actual === 'bigint' ? Number(actual) : 'no_stream');
      }
      throw err;
    }
  }

  /** Appends stream by stream, BULK_GROUP at a time (the client has no multi-stream append). */
  async appendBulk(appends: StreamAppend[]): Promise<BulkAppendOutcome[]> {
    checkBulk(appends);
    const outcomes: BulkAppendOutcome[] = [];
    for (let start = 0; start < appends.length; start += BULK_GROUP) {
      const group = appends.slice(start, start + BULK_GROUP);
      outcomes.push(
        ...(await Promise.all(
          group.map(async ({ streamId, events, expectedRevision }): Promise<BulkAppendOutcome> => {
            try {
              return { status: 'stored', ...(await this.append(streamId, events, expectedRevision)) };
            } catch (err) {
              if (err instanceof WrongExpectedRevisionError) return { status: 'wrong_expected_revision', actual: err.actual };
              throw err;
            }
          }),
        )),
      );
    }
    return outcomes;
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(streamId, {
        direction: FORWARDS,
        fromRevision: options.fromRevision === undefined ? START : BigInt(options.fromRevision),
        ...(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
      });
      for await (const resolved of read) {
        if (resolved.event) events.push(toRecorded(resolved.event as AllStreamRecordedEvent));
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return events;
  }

  async readAll(options: { after: string | null; maxCount: number }): Promise<RecordedEvent[]> {
    return (await this.readPage(options)).events;
  }

  async readPage(options: { after: string | null; maxCount: number; types?: readonly string[] }): Promise<EventPage> {
    const wanted = options.types ? new Set(options.types) : null;
    const events: RecordedEvent[] = [];
    let end = options.after;
    let scanned = 0;
    // fromPosition is inclusive in EventStoreDB: the event at `after` comes back first and is skipped.
    const read = this.client.readAll({
      direction: FORWARDS,
      fromPosition: options.after ? decode(options.after) : START,
      maxCount: options.maxCount * 10 + 1,
      resolveLinkTos: false,
    });
    for await (const resolved of read) {
      const event = resolved.event;
      if (!event) continue;
      const position = encode(event.position);
      if (options.after && comparePositions(position, options.after) <= 0) continue;
      scanned++;
      end = position;
      if (event.type.startsWith('$') || event.streamId.startsWith('$')) continue;
      if (wanted && !wanted.has(event.type)) continue;
      events.push(toRecorded(event));
      if (events.length === options.maxCount) break;
    }
    const head = await this.headPosition();
    return { events, end, atHead: end === head || scanned === 0 };
  }

  async headPosition(): Promise<string | null> {
    const read = this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 100 });
    for await (const resolved of read) {
      const event = resolved.event;
      if (event && !event.type.startsWith('$') && !event.streamId.startsWith('$')) return encode(event.position);
    }
    return null;
  }

  isValidPosition(value: string): boolean {
    return /^\d{1,20}\/\d{1,20}$/.test(value);
  }

  comparePositions(a: string | null, b: string | null): number {
    return comparePositions(a, b);
  }

  waitForAppends(_after: string | null, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    this.ensureLiveSubscription();
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

  async close(): Promise<void> {
    for (const wake of [...this.wakeListeners]) wake();
    await this.live?.unsubscribe().catch(() => undefined);
    this.live = null;
    await this.client.dispose();
  }

  /** One live subscription from the end of $all, shared by every waiter; only a wake-up, never data. */
  private ensureLiveSubscription(): void {
    if (this.live) return;
    const subscription = this.client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
    subscription.on('data', () => {
      for (const wake of [...this.wakeListeners]) wake();
    });
    subscription.on('error', () => {
      // Dropped: waiters fall back to their timeout, and the next wait subscribes again.
      if (this.live === subscription) this.live = null;
    });
    this.live = subscription;
  }
}

function toExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'stream_exists') return STREAM_EXISTS;
  if (expected === 'any') return ANY;
  return BigInt(expected);
}

function encode(position: Position): string {
  return `${position.commit}/${position.prepare}`;
}

function decode(value: string): Position {
  const [commit, prepare] = value.split('/');
  return { commit: BigInt(commit!), prepare: BigInt(prepare!) };
}

function comparePositions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const x = decode(a);
  const y = decode(b);
  if (x.commit !== y.commit) return x.commit < y.commit ? -1 : 1;
  if (x.prepare !== y.prepare) return x.prepare < y.prepare ? -1 : 1;
  return 0;
}

function toRecorded(event: AllStreamRecordedEvent | ResolvedEvent['event']): RecordedEvent {
  const recorded = event as AllStreamRecordedEvent;
  const { schemaVersion, ...metadata } = (recorded.metadata ?? {}) as unknown as StoredMetadata;
  return {
    id: recorded.id,
    type: recorded.type,
    version: schemaVersion ?? 1,
    data: recorded.data,
    metadata: metadata as EventMetadata,
    streamId: recorded.streamId,
    revision: Number(recorded.revision),
    position: recorded.position ? encode(recorded.position) : '',
    recordedAt: recorded.created.toISOString(),
  } as RecordedEvent;
}
