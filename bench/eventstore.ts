import { randomUUID } from 'node:crypto';
import { newEventId } from '../infra/eventstore/event-ids.ts';
import pg from 'pg';
import pino from 'pino';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import type { NewEvent } from '../domain/events.ts';
import type { StreamAppend } from '../command-api/ports.ts';
import { loadConfig } from '../infra/config/config.ts';
import { createContainer, migrateSchema } from '../infra/di/container.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import type { EventStore } from '../infra/eventstore/event-store.ts';
import { closedLoop, note, report } from './stats.ts';

const logger = pino({ level: 'silent' });

function contactCreated(tenantId: string): NewEvent {
  const contactId = randomUUID();
  return {
    id: newEventId(),
    type: 'ContactCreated',
    version: 1,
    data: { contactId, organizationId: tenantId, email: `${contactId}@bench.example`, firstName: 'Bench', tags: [] },
    metadata: {
      tenantId,
      actor: { type: 'user', id: randomUUID() },
      correlationId: randomUUID(),
      causationId: randomUUID(),
      occurredAt: new Date().toISOString(),
    },
  } as NewEvent;
}

/** Appends/s of one event per append, through the same store (group commit included) the API uses. */
export async function benchEventStore(databaseUrl: string, durationMs: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(databaseUrl, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  const tenantId = randomUUID();
  try {
    for (const concurrency of [1, 16, 64]) {
      const result = await closedLoop({
        concurrency,
        durationMs,
        warmupMs: 500,
        operation: async () => {
          const event = contactCreated(tenantId);
          await store.append(`contact-${randomUUID()}`, [event], 'no_stream');
        },
      });
      if (result.errors) throw new Error(`append to new streams failed ${result.errors} times: ${String(result.firstError)}`);
      report(`eventstore.append.new.c${concurrency}`, result.perSecond, 'appends/s');
      report(`eventstore.append.new.c${concurrency}.p50`, result.latencies.percentile(50), 'ms');
      report(`eventstore.append.new.c${concurrency}.p99`, result.latencies.percentile(99), 'ms');
    }

    // Existing streams: each worker owns its streams and appends with the exact expected revision, as the
    // command side does after loading a stream.
    const concurrency = 16;
    const streamsPerWorker = 64;
    const owned = await Promise.all(
      Array.from({ length: concurrency }, async () => {
        const streams: { id: string; revision: number }[] = [];
        for (let i = 0; i < streamsPerWorker; i++) {
          const id = `contact-${randomUUID()}`;
          const { nextRevision } = await store.append(id, [contactCreated(tenantId)], 'no_stream');
          streams.push({ id, revision: nextRevision });
        }
        return { streams, next: 0 };
      }),
    );
    const result = await closedLoop({
      concurrency,
      durationMs,
      warmupMs: 500,
      operation: async (worker) => {
        const mine = owned[worker]!;
        const stream = mine.streams[mine.next++ % streamsPerWorker]!;
        const { nextRevision } = await store.append(stream.id, [contactCreated(tenantId)], stream.revision);
        stream.revision = nextRevision;
      },
    });
    if (result.errors) throw new Error(`append to existing streams failed ${result.errors} times: ${String(result.firstError)}`);
    report('eventstore.append.existing.c16', result.perSecond, 'appends/s');
    report('eventstore.append.existing.c16.p50', result.latencies.percentile(50), 'ms');
    report('eventstore.append.existing.c16.p99', result.latencies.percentile(99), 'ms');
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM nf_events');
    note(`event store now holds ${rows[0]!.n} events`);
  } finally {
    await store.close();
    await notifications.close();
    await pool.end();
  }
}

/**
 * A CRM import's bulk: `streams` new contacts of 4 events each (created, then three updates), data about
 * the size of a real contact's (~300 bytes of JSON per event).
 */
function importedContacts(tenantId: string, streams: number, first = 0): StreamAppend[] {
  const metadata = () => ({
    tenantId,
    actor: { type: 'system' as const, id: 'crm-import' },
    correlationId: randomUUID(),
    causationId: randomUUID(),
    occurredAt: new Date().toISOString(),
  });
  return Array.from({ length: streams }, (_, i) => {
    const n = first + i;
    const contactId = randomUUID();
    const created = {
      contactId,
      organizationId: tenantId,
      email: `contact.${n}@import-${n % 97}.example.com`,
      firstName: 'Imported',
      lastName: `Contact ${n}`,
      phone: '+1 555 0100',
      company: `Company ${n % 1000} Inc.`,
      title: 'Head of Operations',
      timezone: 'Europe/Berlin',
      tags: ['imported', 'crm'],
      customFields: { source: 'crm', externalId: `crm-${n}` },
    };
    const updates = [
      { title: 'VP Operations', customFields: { source: 'crm', externalId: `crm-${n}`, score: n % 100, stage: 'lead' } },
      { phone: '+1 555 0199', company: `Company ${n % 1000} Holdings Inc.`, customFields: { stage: 'qualified', owner: 'imported' } },
      { lastName: `Contact ${n} (merged)`, tags: ['imported', 'crm', 'merged'], customFields: { stage: 'customer', mergedFrom: `crm-${n + 1}` } },
    ];
    const events = [
      { id: newEventId(), type: 'ContactCreated', version: 1, data: created, metadata: metadata() },
      ...updates.map((changes) => ({ id: newEventId(), type: 'ContactUpdated', version: 1, data: { contactId, changes }, metadata: metadata() })),
    ] as NewEvent[];
    return { streamId: `contact-${contactId}`, events, expectedRevision: 'no_stream' as const };
  });
}

/** Events/s of one bulk append of `streams` new contacts, events built beforehand (not measured). */
async function timedBulk(store: EventStore | PostgresEventStore, appends: StreamAppend[]): Promise<number> {
  const events = appends.reduce((n, a) => n + a.events.length, 0);
  const started = performance.now();
  const outcomes = await store.appendBulk!(appends);
  const seconds = (performance.now() - started) / 1000;
  const rejected = outcomes.filter((o) => o.status !== 'stored').length;
  if (rejected > 0) throw new Error(`bulk append rejected ${rejected} of ${appends.length} appends`);
  return events / seconds;
}

/**
 * The same appends as an import sends them: a page of the provider at a time (`pageSize` streams per bulk),
 * with the next page sealed and chained while the previous one is written (`inFlight` bulks at once).
 */
async function timedPagedBulk(
  store: EventStore | PostgresEventStore,
  tenantId: string,
  streams: number,
  pageSize: number,
  inFlight: number,
): Promise<number> {
  let next = 0;
  let events = 0;
  let rejected = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < streams) {
        // Made when it is sent, as an import fetches a page: no 50,000 streams held at once.
        const page = importedContacts(tenantId, Math.min(pageSize, streams - next), next);
        next += page.length;
        events += page.reduce((n, a) => n + a.events.length, 0);
        const outcomes = await store.appendBulk!(page);
        rejected += outcomes.filter((o) => o.status !== 'stored').length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (rejected > 0) throw new Error(`bulk append rejected ${rejected} of ${streams} appends`);
  return events / seconds;
}

const IMPORT_PAGE = 2_000;

/**
 * Bulk append (imports): 4 x `streams` events into new streams, first on the bare PostgreSQL store, then through
 * the layers the processes stack on it (personal-data sealing, the hash chain), built by the same modules.
 */
export async function benchBulkAppend(databaseUrl: string, streams: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(databaseUrl, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  try {
    const appends = importedContacts(randomUUID(), streams);
    const bytes = appends[0]!.events.reduce((n, e) => n + JSON.stringify(e.data).length, 0) / appends[0]!.events.length;
    note(`bulk append: ${streams} new streams x 4 events (~${Math.round(bytes)} bytes of data each), one appendBulk call`);
    report('eventstore.bulk_append', await timedBulk(store, appends), 'events/s', '≥ 80,000');
    note(`the same in pages of ${IMPORT_PAGE} streams (a provider's page), two bulks in flight`);
    report('eventstore.bulk_append.paged', await timedPagedBulk(store, randomUUID(), streams, IMPORT_PAGE, 2), 'events/s', '≥ 80,000');
  } finally {
    await store.close();
    await notifications.close();
    await pool.end();
  }

  const config = loadConfig({ DATABASE_URL: databaseUrl, JWT_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef', LOG_LEVEL: 'silent' }, 'cli');
  const { container, lifecycle } = createContainer(config, logger, []);
  try {
    await migrateSchema(container);
    const layered = await container.getAsync<EventStore>(TOKENS.EventStore);
    const appends = importedContacts(randomUUID(), streams);
    report('eventstore.bulk_append.layered', await timedBulk(layered, appends), 'events/s');
    report('eventstore.bulk_append.layered.paged', await timedPagedBulk(layered, randomUUID(), streams, IMPORT_PAGE, 2), 'events/s');
  } finally {
    await lifecycle.stop();
  }
}
