import { BaseProperty, BaseRecord, BaseResource, Filter, ForbiddenError, type ParamsType } from 'adminjs';
import type { RecordedEvent } from '../../domain/events.ts';

/** A stream id as a record's history names it: `<aggregate>-<id>`, nothing else. */
const STREAM_ID = /^[A-Za-z]+-[A-Za-z0-9._@-]{1,200}$/;

const specs: [path: string, type: 'string' | 'number' | 'datetime' | 'textarea'][] = [
  ['id', 'string'],
  ['streamId', 'string'],
  ['revision', 'number'],
  ['type', 'string'],
  ['occurredAt', 'datetime'],
  ['actor', 'string'],
  ['data', 'textarea'],
  ['version', 'number'],
  ['position', 'string'],
  ['correlationId', 'string'],
  ['causationId', 'string'],
  ['eventId', 'string'],
];

/**
 * A record's history: the events of its stream (who, when, what), newest first. Virtual and read-only: it
 * reads the one stream the filter names from the event store, the only place the whole history is kept.
 */
export class HistoryResource extends BaseResource {
  private readonly props = specs.map(([path, type], index) => new BaseProperty({ path, type, isId: path === 'id', isSortable: false, position: index + 1 }));

  constructor(private readonly streams: { readStream(streamId: string): Promise<RecordedEvent[]> }) {
    super('History');
  }

  static override isAdapterFor(): boolean {
    return false;
  }

  override databaseName(): string {
    return 'event store';
  }

  override databaseType(): string {
    return 'eventstore';
  }

  override id(): string {
    return 'History';
  }

  override properties(): BaseProperty[] {
    return this.props;
  }

  override property(path: string): BaseProperty | null {
    return this.props.find((p) => p.path() === path) ?? null;
  }

  override async count(filter: Filter): Promise<number> {
    return (await this.eventsOf(filter)).length;
  }

  override async find(filter: Filter, options: { limit?: number; offset?: number }): Promise<BaseRecord[]> {
    const events = await this.eventsOf(filter);
    const offset = options.offset ?? 0;
    return events.slice(offset, offset + (options.limit ?? 10)).map((event) => this.record(event));
  }

  override async findOne(id: string): Promise<BaseRecord | null> {
    const at = id.lastIndexOf('@');
    if (at < 0) return null;
    const streamId = id.slice(0, at);
    const revision = Number(id.slice(at + 1));
    if (!STREAM_ID.test(streamId) || !Number.isSafeInteger(revision)) return null;
    const event = (await this.streams.readStream(streamId)).find((e) => e.revision === revision);
    return event ? this.record(event) : null;
  }

  override async findMany(ids: (string | number)[]): Promise<BaseRecord[]> {
    const records = await Promise.all(ids.map((id) => this.findOne(String(id))));
    return records.filter((r): r is BaseRecord => r !== null);
  }

  override async create(): Promise<ParamsType> {
    throw new ForbiddenError('History is what happened: it cannot be changed');
  }

  override async update(): Promise<ParamsType> {
    throw new ForbiddenError('History is what happened: it cannot be changed');
  }

  override async delete(): Promise<void> {
    throw new ForbiddenError('History is what happened: it cannot be changed');
  }

  private async eventsOf(filter: Filter): Promise<RecordedEvent[]> {
    const streamId = filter.filters?.streamId?.value;
    if (typeof streamId !== 'string' || !STREAM_ID.test(streamId)) return [];
    const events = await this.streams.readStream(streamId);
    const type = filter.filters?.type?.value;
    const wanted = typeof type === 'string' && type !== '' ? events.filter((e) => e.type.toLowerCase().includes(type.toLowerCase())) : events;
    return [...wanted].reverse();
  }

  private record(event: RecordedEvent): BaseRecord {
    const { actor, occurredAt, correlationId, causationId } = event.metadata;
    return new BaseRecord(
      {
        id: `${event.streamId}@${event.revision}`,
        streamId: event.streamId,
        revision: event.revision,
        type: event.type,
        occurredAt,
        actor: `${actor.type}:${actor.id}`,
        data: JSON.stringify(redacted(event.data), null, 2),
        version: event.version,
        position: event.position,
        correlationId,
        causationId,
        eventId: event.id,
      },
      this,
    );
  }
}

/** Secrets recorded in events (hashes, sealed secrets) are not for staff eyes, even hashed. */
function redacted(data: unknown): unknown {
  if (Array.isArray(data)) return data.map(redacted);
  if (data === null || typeof data !== 'object') return data;
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, /hash|secret|sealed|token/i.test(key) ? '[redacted]' : redacted(value)]),
  );
}
