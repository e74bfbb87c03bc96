import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import type { AppendResult, ExpectedRevision, NewPersonalDataKey, ReadStreamOptions, StreamAppend } from '../../command-api/ports.ts';
import type { EventPage } from '../../projectors/ports.ts';
import type { EventStore } from './event-store.ts';

/** What a layer does to events on their way in and out; either side may be left as is. */
export interface EventTransforms {
  /** Before an append: e.g. seal personal data. */
  onAppend?(streamId: string, events: NewEvent[]): Promise<NewEvent[]>;
  /** After every read: e.g. open personal data, upgrade old versions. */
  onRead?(events: RecordedEvent[]): Promise<RecordedEvent[]> | RecordedEvent[];
}

/**
 * An event store that changes events on their way in or out and passes everything else to the store under
 * it. The processes stack these (upcasting, personal-data sealing, the hash chain), so that deciders,
 * projections and replays see events in their newest, readable shape while the log keeps what was written.
 */
export class EventStoreLayer implements EventStore {
  constructor(
    readonly below: EventStore,
    private readonly transforms: EventTransforms,
  ) {}

  async append(
    streamId: string,
    events: NewEvent[],
    expectedRevision: ExpectedRevision,
    keys?: readonly NewPersonalDataKey[],
  ): Promise<AppendResult> {
    return this.below.append(streamId, await this.sealed(streamId, events), expectedRevision, keys);
  }

  /** Keys travel through a layer as they are (StreamAppend.keys), so it can take them when the store can. */
  get keysWithEvents(): boolean {
    return this.below.keysWithEvents === true;
  }

  /** StreamAppend.predecessorId travels through a layer as it is, like the keys. */
  get checksPredecessors(): boolean {
    return this.below.checksPredecessors === true;
  }

  /** Made once per layer: every command reads it (twice), and a closure per read was garbage per command. */
  get appendAtomically(): EventStore['appendAtomically'] {
    return (this.atomic ??= { append: this.atomicAppend() }).append;
  }

  private atomic?: { append: EventStore['appendAtomically'] };
  private bulk?: { append: EventStore['appendBulk'] };

  /** What appendAtomically is: the layer's own group append, or undefined where the store below has none. */
  protected atomicAppend(): EventStore['appendAtomically'] {
    if (!this.below.appendAtomically) return undefined;
    return async (appends: StreamAppend[]) =>
      this.below.appendAtomically!(await Promise.all(appends.map(async (a) => ({ ...a, events: await this.sealed(a.streamId, a.events) }))));
  }

  /** Bulk appends pass with every append's events transformed, as appendAtomically's. */
  get appendBulk(): EventStore['appendBulk'] {
    return (this.bulk ??= { append: this.bulkAppend() }).append;
  }

  protected bulkAppend(): EventStore['appendBulk'] {
    if (!this.below.appendBulk) return undefined;
    return async (appends: StreamAppend[]) =>
      this.below.appendBulk!(await Promise.all(appends.map(async (a) => ({ ...a, events: await this.sealed(a.streamId, a.events) }))));
  }

  async readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.opened(await this.below.readStream(streamId, options));
  }

  async readAll(options: { after: string | null; maxCount: number }): Promise<RecordedEvent[]> {
    return this.opened(await this.below.readAll(options));
  }

  async readPage(options: { after: string | null; maxCount: number; types?: readonly string[] }): Promise<EventPage> {
    const page = await this.below.readPage(options);
    return { ...page, events: await this.opened(page.events) };
  }

  headPosition() {
    return this.below.headPosition();
  }
  isValidPosition(value: string) {
    return this.below.isValidPosition(value);
  }
  comparePositions(a: string | null, b: string | null) {
    return this.below.comparePositions(a, b);
  }
  waitForAppends(after: string | null, timeoutMs: number, signal: AbortSignal) {
    return this.below.waitForAppends(after, timeoutMs, signal);
  }
  close() {
    return this.below.close();
  }

  private sealed(streamId: string, events: NewEvent[]): Promise<NewEvent[]> | NewEvent[] {
    return this.transforms.onAppend ? this.transforms.onAppend(streamId, events) : events;
  }

  private async opened(events: RecordedEvent[]): Promise<RecordedEvent[]> {
    return this.transforms.onRead && events.length > 0 ? this.transforms.onRead(events) : events;
  }
}
