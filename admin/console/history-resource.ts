// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import './adminjs-environment.ts';
import { BaseRecord, type Filter, type ParamsType } from 'adminjs';
import { redactSecrets } from '../../domain/audit/entities.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { VirtualResource } from './virtual-resource.ts';

/** A stream id as a record's history names it: `<aggregate>-<id>`, nothing else. */
const STREAM_ID = /^[A-Za-z]+-[A-Za-z0-9._@-]{1,200}$/;

/**
 * A record's history: the events of its stream (who, when, what), newest first. Read-only: it reads the one
 * stream the filter names from the event store, the only place the whole history is kept.
 */
export class HistoryResource extends VirtualResource {
  constructor(private readonly streams: { readStream(streamId: string): Promise<RecordedEvent[]> }) {
    super(
      'History',
      [
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
      ],
      'id',
      'History is what happened: it cannot be changed',
    );
  }

  /** One event, by `<stream>@<revision>`: read from its stream alone. */
  override async findOne(id: string): Promise<BaseRecord | null> {
    const at = id.lastIndexOf('@');
    if (at < 0) return null;
    const streamId = id.slice(0, at);
    const revision = Number(id.slice(at + 1));
    if (!STREAM_ID.test(streamId) || !Number.isSafeInteger(revision)) return null;
    const event = (await this.streams.readStream(streamId)).find((e) => e.revision === revision);
    return event ? new BaseRecord(paramsOf(event), this) : null;
  }

  protected override async rows(filter?: Filter): Promise<ParamsType[]> {
    const streamId = filter?.filters?.streamId?.value;
    if (typeof streamId !== 'string' || !STREAM_ID.test(streamId)) return [];
    const events = await this.streams.readStream(streamId);
    const type = filter?.filters?.type?.value;
    const wanted = typeof type === 'string' && type !== '' ? events.filter((e) => e.type.toLowerCase().includes(type.toLowerCase())) : events;
    return [...wanted].reverse().map(paramsOf);
  }
}

function paramsOf(event: RecordedEvent): ParamsType {
  const { actor, occurredAt, correlationId, causationId } = event.metadata;
  return {
    id: `${event.streamId}@${event.revision}`,
    streamId: event.streamId,
    revision: event.revision,
    type: event.type,
    occurredAt,
    actor: `${actor.type}:${actor.id}`,
    data: JSON.stringify(redactSecrets(event.data), null, 2),
    version: event.version,
    position: event.position,
    correlationId,
    causationId,
    eventId: event.id,
  };
}
