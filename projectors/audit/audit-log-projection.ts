import type { EntityManager } from '@mikro-orm/postgresql';
import { entityOfStream } from '../../domain/audit/entities.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { CopyValue } from '../../infra/postgres/copy-format.ts';
import { canCopy, COPY_FROM_ROWS, copyRows, executeBound, pgArray, writeBound } from '../../infra/readmodels/orm.ts';
import type { Projection } from '../runner/projection.ts';

/** The audit log's columns as a batch loads them (COPY). */
const COLUMNS = [
  'position',
  'event_id',
  'tenant_key',
  'stream_id',
  'entity_type',
  'entity_id',
  'event_type',
  'event_version',
  'actor_type',
  'actor_id',
  'occurred_at',
  'correlation_id',
] as const;

/**
 * An event's row (an object literal: JSON.stringify writes one at a third of the cost of a built one). Its
 * tenant is its key from `keys` (null for the platform's log), or without `keys` its id, for the statement
 * to look up. Its properties are in the order of COLUMNS, so its values are also its COPY fields.
 */
function rowOf(event: RecordedEvent, keys: ReadonlyMap<string, number> | null) {
  const entity = entityOfStream(event.streamId);
  const { tenantId, actor, occurredAt, correlationId } = event.metadata;
  return {
    position: event.position,
    event_id: event.id,
    tenant: keys === null || tenantId === null ? tenantId : keys.get(tenantId)!,
    stream_id: event.streamId,
    entity_type: entity?.type ?? null,
    entity_id: entity?.id ?? null,
    event_type: event.type,
    event_version: event.version,
    actor_type: actor.type,
    actor_id: actor.id,
    occurred_at: occurredAt,
    correlation_id: correlationId,
  };
}

/**
 * The batch's tenants get their keys (audit_tenants), those met for the first time a new one. Only tenants
 * without a key are offered to the insert: one that conflicts still draws its key from the sequence, and
 * every batch naming a known tenant would have used up a key (2^31 of them within months of live batches).
 */
async function addTenants(em: EntityManager, events: RecordedEvent[]): Promise<string[]> {
  const tenants = [...new Set(events.map((event) => event.metadata.tenantId).filter((id): id is string => id !== null))].sort();
  if (tenants.length > 0) {
    await writeBound(
      em,
      `INSERT INTO audit_tenants (tenant_id)
       SELECT t FROM unnest(?::text[]) AS t WHERE NOT EXISTS (SELECT 1 FROM audit_tenants a WHERE a.tenant_id = t)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [pgArray(tenants)],
    );
  }
  return tenants;
}

/**
 * The audit log: who did what, when, to which entity, for every event of the log. The event itself stays in
 * the log; this is its index for filtering and paging. Each event is applied once (its checkpoint moves in
 * the same transaction), and its id is unique: a row could never be doubled, a second application would fail
 * and be parked. (ON CONFLICT DO NOTHING said the same silently, for a third more of the insert's cost.)
 * Rows name their tenant by a small key (audit_tenants): the indexes all lead with it.
 */
export const auditLogProjection: Projection = {
  name: 'audit',
  eventTypes: 'all',
  sqlOnly: true,
  background: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const tenants = await addTenants(em, events);
    // A large batch (a catch-up, the batches after a burst) by COPY where the server takes it: ~20 % less
    // server CPU per row (the server unpacking the JSON below was most of a row's cost after the indexes).
    // Its tenants' keys are read first (one round trip, for thousands of rows).
    if (events.length >= COPY_FROM_ROWS && canCopy(em)) {
      const keys = new Map(
        tenants.length === 0
          ? []
          : (
              await executeBound<{ tenant_key: number; tenant_id: string }>(
                em,
                'SELECT tenant_key, tenant_id FROM audit_tenants WHERE tenant_id = ANY(?::text[])',
                [pgArray(tenants)],
              )
            ).map((row) => [row.tenant_id, row.tenant_key]),
      );
      if (
        await copyRows(
          em,
          'audit_log',
          COLUMNS,
          events.map((event) => Object.values(rowOf(event, keys)) as CopyValue[]),
        )
      )
        return;
    }
    // Else (a live batch, or the embedded database) in one statement with one bound parameter, unpacked by the
    // server: a statement with a placeholder per value had every value escaped into its text by the ORM, then
    // parsed back by the server, which cost more than the rows themselves. The tenants' keys are looked up
    // row by row in it (a scalar subquery keeps the rows in the log's order, as `seq` must follow it): no
    // round trip before the batch's writes, which then go out with its commit.
    await writeBound(
      em,
      `INSERT INTO audit_log (position, event_id, tenant_key, stream_id, entity_type, entity_id, event_type, event_version, actor_type, actor_id, occurred_at, correlation_id)
       SELECT position, event_id, (SELECT t.tenant_key FROM audit_tenants t WHERE t.tenant_id = r.tenant), stream_id, entity_type, entity_id,
              event_type, event_version, actor_type, actor_id, occurred_at, correlation_id
       FROM json_to_recordset(?::json) AS r(position text, event_id uuid, tenant text, stream_id text, entity_type text, entity_id text,
            event_type text, event_version integer, actor_type text, actor_id text, occurred_at timestamptz, correlation_id text)`,
      [JSON.stringify(events.map((event) => rowOf(event, null)))],
    );
  },
};
