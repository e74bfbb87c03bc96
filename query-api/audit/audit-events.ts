import { createHash } from 'node:crypto';
import { redactSecrets } from '../../domain/audit/entities.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';

export interface AuditRange {
  tenantId: string;
  /** Inclusive, exclusive (ISO 8601); by when the events happened. */
  from: string;
  to: string;
}

/** One exported event: where it is in the log, what it says (secrets redacted), who did it, and its link. */
export interface AuditRecord {
  position: string;
  eventId: string;
  streamId: string;
  revision: number;
  type: string;
  version: number;
  occurredAt: string;
  recordedAt: string;
  actorType: string;
  actorId: string;
  correlationId: string;
  causationId: string;
  previousHash: string | null;
  data: unknown;
}

export const auditColumns = [
  'position',
  'eventId',
  'streamId',
  'revision',
  'type',
  'version',
  'occurredAt',
  'recordedAt',
  'actorType',
  'actorId',
  'correlationId',
  'causationId',
  'previousHash',
  'data',
] as const satisfies readonly (keyof AuditRecord)[];

export function auditRecordOf(event: RecordedEvent): AuditRecord {
  const { actor, occurredAt, correlationId, causationId } = event.metadata;
  return {
    position: event.position,
    eventId: event.id,
    streamId: event.streamId,
    revision: event.revision,
    type: event.type,
    version: event.version,
    occurredAt,
    recordedAt: event.recordedAt,
    actorType: actor.type,
    actorId: actor.id,
    correlationId,
    causationId,
    previousHash: (event.metadata as { previousHash?: string | null }).previousHash ?? null,
    data: redactSecrets(event.data),
  };
}

/** Where an export reads from: the log as stored, and how stored events become readable. */
export interface AuditSource {
  log: Pick<GlobalEventLog, 'readAll' | 'headPosition' | 'comparePositions'>;
  /** Opens personal data and upgrades old versions (only the events the export keeps pay for it). */
  readable(events: RecordedEvent[]): Promise<RecordedEvent[]>;
}

/**
 * The tenant's events that happened in the range, in log order, read page by page up to the head of the log
 * as it was when the export began: memory stays constant however many events there are. Pages are filtered
 * on their metadata as stored, and only the tenant's events are opened.
 */
export async function* auditEvents(
  source: AuditSource,
  range: AuditRange,
  options: { after?: string | null; pageSize?: number; onPage?(position: string | null, head: string | null): void } = {},
): AsyncGenerator<RecordedEvent> {
  const { log } = source;
  const head = await log.headPosition();
  const from = Date.parse(range.from);
  const to = Date.parse(range.to);
  let after = options.after ?? null;
  while (head !== null && log.comparePositions(after, head) < 0) {
    const page = await log.readAll({ after, maxCount: options.pageSize ?? 2_000 });
    if (page.length === 0) break;
    const kept = page.filter((event) => {
      if (log.comparePositions(event.position, head) > 0 || event.metadata.tenantId !== range.tenantId) return false;
      const at = Date.parse(event.metadata.occurredAt);
      return at >= from && at < to;
    });
    if (kept.length > 0) yield* await source.readable(kept);
    after = page[page.length - 1]!.position;
    options.onPage?.(after, head);
    if (log.comparePositions(after, head) >= 0) return;
  }
}

/** Counts and hashes an export as it is written, for its manifest. */
export class ExportDigest {
  private readonly hash = createHash('sha256');
  bytes = 0;
  events = 0;
  firstPosition: string | null = null;
  lastPosition: string | null = null;
  readonly types: Record<string, number> = {};

  add(chunk: string | Buffer): void {
    this.hash.update(chunk);
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  }

  count(record: AuditRecord): void {
    this.events++;
    this.firstPosition ??= record.position;
    this.lastPosition = record.position;
    this.types[record.type] = (this.types[record.type] ?? 0) + 1;
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}
