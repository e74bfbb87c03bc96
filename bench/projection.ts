import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import pino from 'pino';
import { contactStream, type ContactEvent } from '../domain/contacts/contact.ts';
import type { NewEvent } from '../domain/events.ts';
import { organizationStream } from '../domain/organizations/organization.ts';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import { migrateReadModels, openReadModels } from '../infra/readmodels/orm.ts';
import { ProjectorHost } from '../projectors/projector-host.ts';
import { projections, projectionTables, readModelEntities } from '../projectors/read-models.ts';
import type { Projection } from '../projectors/runner/projection.ts';
import type { ProjectionStatus } from '../projectors/runner/projection-runner.ts';
import { facts } from '../test/support/facts.ts';
import { mib, note, report } from './stats.ts';

const logger = pino({ level: 'silent' });

/**
 * A realistic mix for the contact projections: organizations, then contacts created, about a third of them
 * updated and a fifth tagged. Appended through the store the API uses, many streams per group commit.
 */
async function seed(store: PostgresEventStore, contacts: number): Promise<number> {
  let events = 0;
  const organizations = Array.from({ length: 20 }, () => facts.organizationCreated());
  for (const org of organizations) {
    await store.append(organizationStream(org.data.organizationId), [org], 'no_stream');
    events++;
  }
  const chunk = 500;
  for (let offset = 0; offset < contacts; offset += chunk) {
    const appends = Array.from({ length: Math.min(chunk, contacts - offset) }, (_, i) => {
      const organizationId = organizations[(offset + i) % organizations.length]!.data.organizationId;
      const created = facts.contactCreated(organizationId);
      const contactId = created.data.contactId;
      const stream: NewEvent<ContactEvent>[] = [created];
      if (i % 3 === 0) {
        stream.push(
          facts.contactEvent(organizationId, { type: 'ContactUpdated', data: { contactId, changes: { company: 'Initech', title: 'CTO' } } }),
        );
      }
      if (i % 5 === 0) {
        stream.push(facts.contactEvent(organizationId, { type: 'ContactTagged', data: { contactId, tag: 'vip' } }));
      }
      events += stream.length;
      return store.append(contactStream(contactId), stream, 'no_stream');
    });
    await Promise.all(appends);
  }
  return events;
}

/** Runs `chosen` from their checkpoints until each has reached `head`; when each got there (ms after the start). */
async function catchUp(
  chosen: Projection[],
  store: PostgresEventStore,
  orm: MikroORM,
  batchSize: number,
  catchUpBatchSize: number,
  head: string | null,
): Promise<{ elapsed: number; cpuMicros: number; reached: Map<string, number>; statuses: ProjectionStatus[] }> {
  const reached = new Map<string, number>();
  let finish!: () => void;
  const allCaughtUp = new Promise<void>((resolve) => (finish = resolve));
  const host = new ProjectorHost(chosen, store, orm, logger, {
    batchSize,
    catchUpBatchSize,
    server: true,
    onCheckpoint(projection, position) {
      if (position === head && !reached.has(projection)) {
        reached.set(projection, performance.now() - started);
        if (reached.size === chosen.length) finish();
      }
    },
  });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await host.start();
  await allCaughtUp;
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await host.stop();
  return { elapsed, cpuMicros: cpu.user + cpu.system, reached, statuses: host.statuses() };
}

/** Empties what `projection` built, so it can catch up from the start again. */
async function resetProjection(pool: pg.Pool, projection: Projection): Promise<void> {
  const tables = projectionTables[projection.name] ?? [];
  if (tables.length > 0) await pool.query(`TRUNCATE ${tables.map((table) => pg.escapeIdentifier(table)).join(', ')}`);
  await pool.query('UPDATE projection_checkpoints SET position = NULL WHERE name = $1', [projection.name]);
  await pool.query('DELETE FROM parked_events WHERE projection = $1', [projection.name]);
}

/**
 * Events/s of a cold catch-up: every projection of the product from position zero to the head, together as
 * the projector process runs them; then each projection alone over the same log, which says which of them
 * sets the pace. Wall-clock rates depend on what else the machine runs; CPU time per event of this process
 * (the projector's side; PostgreSQL's is not counted) is the steadier figure to compare runs by.
 */
export async function benchProjectionCatchUp(databaseUrl: string, contacts: number, batchSize: number, catchUpBatchSize: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(databaseUrl, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  const orm = await openReadModels({ url: databaseUrl, entities: readModelEntities, poolSize: 16, logger });
  await migrateReadModels(orm);
  try {
    const seeded = await seed(store, contacts);
    const head = await store.headPosition();
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    // Sampled on a timer: read at every checkpoint (a thousand a run), it was 1.2 % of the catch-up's profile.
    const sampling = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 25);
    const all = await catchUp(projections, store, orm, batchSize, catchUpBatchSize, head).finally(() => clearInterval(sampling));
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    note(
      `catch-up of ${seeded} events (${contacts} contacts, 20 organizations) through ${projections.length} projections, batch ${batchSize} (${catchUpBatchSize} well behind the head): ${(all.elapsed / 1000).toFixed(2)} s`,
    );
    report('projection.catchup', (seeded / all.elapsed) * 1000, 'events/s', '≥ 25,000 events/s');
    report('projection.catchup.cpu_per_event', all.cpuMicros / seeded, 'µs (this process)');
    report('projection.catchup.rss_peak', mib(peakRss), 'MiB');
    for (const projection of projections) {
      const applied = all.statuses.find((status) => status.name === projection.name)?.eventsApplied ?? 0;
      note(
        `  ${projection.name}: at the head after ${((all.reached.get(projection.name) ?? Number.NaN) / 1000).toFixed(2)} s, ${applied} events applied`,
      );
    }
    note('each projection alone, from the start of the same log (events of the log per second; applied: those it handles)');
    for (const projection of projections) {
      await resetProjection(pool, projection);
      const alone = await catchUp([projection], store, orm, batchSize, catchUpBatchSize, head);
      const applied = alone.statuses[0]?.eventsApplied ?? 0;
      report(
        `projection.catchup.${projection.name}`,
        (seeded / alone.elapsed) * 1000,
        `events/s (applied ${applied}, ${(alone.cpuMicros / seeded).toFixed(1)} µs CPU per event)`,
      );
    }
  } finally {
    await orm.close();
    await store.close();
    await notifications.close();
    await pool.end();
  }
}
