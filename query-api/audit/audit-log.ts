import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { entityOfStream } from '../../domain/audit/entities.ts';

export const auditLogEntrySchema = z.object({
  position: z.string(),
  occurredAt: z.string(),
  eventType: z.string(),
  eventVersion: z.number().int(),
  eventId: z.string(),
  streamId: z.string(),
  entity: z.object({ type: z.string().nullable(), id: z.string().nullable() }),
  actor: z.object({ type: z.string(), id: z.string() }),
  correlationId: z.string(),
});

export type AuditLogEntry = z.infer<typeof auditLogEntrySchema>;

export interface AuditLogFilter {
  entity?: string | undefined;
  actor?: string | undefined;
  type?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** A row of the audit log as stored. */
interface AuditLogRow {
  seq: string;
  position: string;
  occurred_at: Date;
  event_type: string;
  event_version: number;
  event_id: string;
  stream_id: string;
  entity_type: string | null;
  entity_id: string | null;
  actor_type: string;
  actor_id: string;
  correlation_id: string;
}

/**
 * The key the audit log's rows name a tenant by (audit_tenants); undefined for a tenant with no entries yet.
 * Read before the page's statement rather than inside it: given the key itself, the planner weighs that
 * tenant's share of the rows (a subquery's key weighs as an average tenant, and for a small tenant in a large
 * log it walked the whole log newest first to fill a page).
 */
export async function auditTenantKey(orm: MikroORM, tenantId: string): Promise<number | undefined> {
  const rows = await orm.em.fork().execute<{ tenant_key: number }[]>('SELECT tenant_key FROM audit_tenants WHERE tenant_id = ?', [tenantId]);
  return rows[0]?.tenant_key;
}

/**
 * The statement of a page (newest first, one more row than the page to tell whether more follow) of a tenant
 * by its key (auditTenantKey), or of the platform's log (null). Each filter is answered from its index on
 * (tenant, filter, seq).
 */
export function auditLogQuery(tenantKey: number | null, filter: AuditLogFilter): { sql: string; values: unknown[] } {
  const conditions = [tenantKey === null ? 'tenant_key IS NULL' : 'tenant_key = ?'];
  const values: unknown[] = tenantKey === null ? [] : [tenantKey];
  if (filter.entity) {
    // An entity id, or a stream id. A stream's rows carry the entity its id names (`contact-<id>`: <id>; none
    // for a stream that is no entity), so both are asked of the entity column, which the index answers
    // (said as `entity_id = ? OR stream_id = ?`, the planner read every row of the tenant to find them).
    const ofStream = entityOfStream(filter.entity);
    conditions.push(`(entity_id = ? OR (${ofStream ? 'entity_id = ?' : 'entity_id IS NULL'} AND stream_id = ?))`);
    values.push(filter.entity, ...(ofStream ? [ofStream.id] : []), filter.entity);
  }
  if (filter.actor) {
    conditions.push('actor_id = ?');
    values.push(filter.actor);
  }
  if (filter.type) {
    conditions.push('event_type = ?');
    values.push(filter.type);
  }
  if (filter.from) {
    conditions.push('occurred_at >= ?');
    values.push(filter.from);
  }
  if (filter.to) {
    conditions.push('occurred_at < ?');
    values.push(filter.to);
  }
  if (filter.cursor) {
    conditions.push('seq < ?');
    values.push(filter.cursor);
  }
  return { sql: `SELECT * FROM audit_log WHERE ${conditions.join(' AND ')} ORDER BY seq DESC LIMIT ?`, values: [...values, filter.limit + 1] };
}

/**
 * A page of the audit log of one tenant (null: platform-level entries), newest first. The cursor is the
 * sequence of the last entry seen, so pages stay stable while new entries arrive.
 */
export async function auditLogPage(
  orm: MikroORM,
  tenantId: string | null,
  filter: AuditLogFilter,
): Promise<{ data: AuditLogEntry[]; page: { limit: number; hasMore: boolean; nextCursor: string | null } }> {
  const tenantKey = tenantId === null ? null : await auditTenantKey(orm, tenantId);
  if (tenantKey === undefined) return { data: [], page: { limit: filter.limit, hasMore: false, nextCursor: null } };
  const { sql, values } = auditLogQuery(tenantKey, filter);
  const rows = await orm.em.fork().execute<AuditLogRow[]>(sql, values);
  const hasMore = rows.length > filter.limit;
  const page = rows.slice(0, filter.limit);
  return {
    data: page.map((row) => ({
      position: row.position,
      occurredAt: new Date(row.occurred_at).toISOString(),
      eventType: row.event_type,
      eventVersion: row.event_version,
      eventId: row.event_id,
      streamId: row.stream_id,
      entity: { type: row.entity_type, id: row.entity_id },
      actor: { type: row.actor_type, id: row.actor_id },
      correlationId: row.correlation_id,
    })),
    page: { limit: filter.limit, hasMore, nextCursor: hasMore ? String(page[page.length - 1]!.seq) : null },
  };
}
