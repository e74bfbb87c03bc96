import { randomUUID } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import type { NewEvent } from '../domain/events.ts';
import { closedLoop, note, report } from './stats.ts';

const logger = pino({ level: 'silent' });

function contactCreated(tenantId: string): NewEvent {
  const contactId = randomUUID();
  return {
    id: randomUUID(),
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
