import pg from 'pg';
import pino from 'pino';
import { contactStream, type ContactEvent } from '../domain/contacts/contact.ts';
import type { NewEvent } from '../domain/events.ts';
import { organizationStream } from '../domain/organizations/organization.ts';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import { migrateReadModels, openReadModels } from '../infra/readmodels/orm.ts';
import { ProjectorHost } from '../projectors/projector-host.ts';
import { projections, readModelEntities } from '../projectors/read-models.ts';
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

/** Events/s of a cold catch-up: every projection of the product from position zero to the head. */
export async function benchProjectionCatchUp(databaseUrl: string, contacts: number, batchSize: number): Promise<void> {
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
    const caughtUp = new Map<string, string>();
    let finish!: () => void;
    const allCaughtUp = new Promise<void>((resolve) => (finish = resolve));
    const host = new ProjectorHost(projections, store, orm, logger, {
      batchSize,
      onCheckpoint(projection, position) {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        if (position === head) {
          caughtUp.set(projection, position);
          if (caughtUp.size === projections.length) finish();
        }
      },
    });
    const started = performance.now();
    await host.start();
    await allCaughtUp;
    const elapsed = performance.now() - started;
    await host.stop();
    note(
      `catch-up of ${seeded} events (${contacts} contacts, 20 organizations) through ${projections.length} projections, batch ${batchSize}: ${(elapsed / 1000).toFixed(2)} s`,
    );
    report('projection.catchup', (seeded / elapsed) * 1000, 'events/s');
    report('projection.catchup.rss_peak', mib(peakRss), 'MiB');
  } finally {
    await orm.close();
    await store.close();
    await notifications.close();
    await pool.end();
  }
}
