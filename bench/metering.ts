import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import pino from 'pino';
import type { RecordedEvent } from '../domain/events.ts';
import { migrateReadModels, onPlainConnection, openReadModels } from '../infra/readmodels/orm.ts';
import { AI_TOKENS_USED, meteringProjection } from '../projectors/billing/metering-projection.ts';
import { readModelEntities } from '../projectors/read-models.ts';
import { note, report } from './stats.ts';

const logger = pino({ level: 'silent' });
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Kiritimati', 'Australia/Lord_Howe'];
const DAY_MS = 86_400_000;

/**
 * A month of usage of `organizations` organizations as the log holds it, in log order: each organization's
 * creation first, then per 100 events about 50 executions started, 15 AI token reports, 20 contacts created
 * and 5 deleted, 4 workflows created, 3 paused and 2 resumed, 1 member registered; spread evenly over 30 days.
 */
function usageLog(count: number, organizations: number): RecordedEvent[] {
  const orgs = Array.from({ length: organizations }, () => randomUUID());
  const start = Date.parse('2026-11-01T00:00:00Z');
  const events: RecordedEvent[] = [];
  const contacts: { id: string; org: string }[] = [];
  const workflows: { id: string; org: string; active: boolean }[] = [];
  let position = 0;
  const push = (type: string, organizationId: string, data: Record<string, unknown>, at: number) => {
    const occurredAt = new Date(at).toISOString();
    events.push({
      id: randomUUID(),
      type,
      version: 1,
      data: { organizationId, ...data },
      metadata: { tenantId: organizationId, actor: { type: 'system', id: 'bench' }, correlationId: 'bench', causationId: 'bench', occurredAt },
      streamId: `bench-${organizationId}`,
      revision: 0,
      position: String(++position),
      recordedAt: occurredAt,
    } as RecordedEvent);
  };
  orgs.forEach((org, i) =>
    push('OrganizationCreated', org, { name: `Org ${i}`, ownerUserId: randomUUID(), timezone: ZONES[i % ZONES.length] }, start),
  );
  for (let i = 0; events.length < count; i++) {
    const at = start + Math.floor(((i / count) * 30 * DAY_MS) % (30 * DAY_MS));
    const org = orgs[i % orgs.length]!;
    const slot = i % 100;
    if (slot < 50) push('ExecutionStarted', org, { executionId: randomUUID(), workflowId: randomUUID(), startedAt: new Date(at).toISOString() }, at);
    else if (slot < 65) push(AI_TOKENS_USED, org, { tokens: 100 + (i % 900) }, at);
    else if (slot < 85) {
      const id = randomUUID();
      contacts.push({ id, org });
      push('ContactCreated', org, { contactId: id }, at);
    } else if (slot < 90 && contacts.length > 0) {
      const gone = contacts.splice(i % contacts.length, 1)[0]!;
      push('ContactDeleted', gone.org, { contactId: gone.id }, at);
    } else if (slot < 94) {
      const id = randomUUID();
      workflows.push({ id, org, active: true });
      push('WorkflowCreated', org, { workflowId: id }, at);
    } else if (slot < 99 && workflows.length > 0) {
      const workflow = workflows[i % workflows.length]!;
      push(workflow.active ? 'WorkflowPaused' : 'WorkflowResumed', workflow.org, { workflowId: workflow.id }, at);
      workflow.active = !workflow.active;
    } else push('UserRegistered', org, { userId: randomUUID() }, at);
  }
  return events;
}

/**
 * Usage events per second the metering projection ingests: a pre-built log of usage events applied batch by
 * batch through the projection, each batch in its own transaction on a plain connection of the read models'
 * pool, as the projection runner applies an sqlOnly projection (reading the log is not counted: see
 * `projection.catchup` for that side).
 */
export async function benchMeteringIngest(databaseUrl: string, count: number, batchSize: number): Promise<void> {
  const orm = await openReadModels({ url: databaseUrl, entities: readModelEntities, poolSize: 4, logger });
  await migrateReadModels(orm);
  try {
    const log = usageLog(count, 500);
    const knex = orm.em.getConnection().getKnex();
    const connection = (await knex.client.acquireConnection()) as pg.ClientBase;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    try {
      for (let offset = 0; offset < log.length; offset += batchSize) {
        await connection.query('BEGIN');
        await meteringProjection.apply(log.slice(offset, offset + batchSize), onPlainConnection(orm.em.fork(), connection));
        await connection.query('COMMIT');
      }
    } finally {
      await knex.client.releaseConnection(connection);
    }
    const elapsed = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const { rows } = await (orm.em.getConnection().getKnex().raw('SELECT count(*)::int AS buckets FROM usage_daily') as Promise<{
      rows: { buckets: number }[];
    }>);
    note(
      `metering: ${log.length} usage events (500 organizations in 6 time zones, 30 days) in batches of ${batchSize}: ${(elapsed / 1000).toFixed(2)} s, ${rows[0]!.buckets} day buckets`,
    );
    report('billing.metering_ingest', (log.length / elapsed) * 1000, 'events/s', '≥ 10,000 events/s (Lago on PostgreSQL)');
    report('billing.metering_ingest.cpu_per_event', (cpu.user + cpu.system) / log.length, 'µs (this process)');
  } finally {
    await orm.close();
  }
}
