import type { EntityManager } from '@mikro-orm/postgresql';
import { entityOfStream } from '../../domain/audit/entities.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { Projection } from '../runner/projection.ts';

const COLUMNS = 12;

/**
 * The audit log: who did what, when, to which entity, for every event of the log. The event itself stays in
 * the log; this is its index for filtering and paging. Applied again after a crash, a row is not doubled
 * (the event id is unique).
 */
export const auditLogProjection: Projection = {
  name: 'audit',
  eventTypes: 'all',

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    // Several hundred rows per statement, within PostgreSQL's 65,535 parameters.
    for (let start = 0; start < events.length; start += 500) {
      const chunk = events.slice(start, start + 500);
      const values: unknown[] = [];
      for (const event of chunk) {
        const entity = entityOfStream(event.streamId);
        const { tenantId, actor, occurredAt, correlationId } = event.metadata;
        values.push(
          event.position,
          event.id,
          tenantId,
          event.streamId,
          entity?.type ?? null,
          entity?.id ?? null,
          event.type,
          event.version,
          actor.type,
          actor.id,
          occurredAt,
          correlationId,
        );
      }
      await em.execute(
        `INSERT INTO audit_log (position, event_id, tenant_id, stream_id, entity_type, entity_id, event_type, event_version, actor_type, actor_id, occurred_at, correlation_id)
         VALUES ${chunk.map(() => `(${Array(COLUMNS).fill('?').join(', ')})`).join(', ')}
         ON CONFLICT (event_id) DO NOTHING`,
        values,
      );
    }
  },
};
