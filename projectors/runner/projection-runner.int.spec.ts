import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { contactStream } from '../../domain/contacts/contact.ts';
import { organizationStream } from '../../domain/organizations/organization.ts';
import { eventually } from '../../test/support/events.ts';
import { facts } from '../../test/support/facts.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { openStores, silentLogger } from '../../test/support/stores.ts';
import { ContactViewSchema } from '../contacts/contact-view.ts';
import { contactsProjection } from '../contacts/contacts-projection.ts';
import { OrganizationViewSchema } from '../organizations/organization-view.ts';
import { organizationsProjection } from '../organizations/organizations-projection.ts';
import type { Projection } from './projection.ts';
import { ProjectionRunner } from './projection-runner.ts';
import { migrateDatabase } from '../../infra/di/container.ts';
import { DataProtection } from '../../infra/auth/data-protection.ts';
import { EventStoreLayer } from '../../infra/eventstore/event-store-layer.ts';
import { PersonalDataKeys, personalDataSealing } from '../../infra/privacy/personal-data-sealing.ts';

type Stores = Awaited<ReturnType<typeof openStores>>;

async function checkpointOf(pool: pg.Pool, name: string): Promise<string | null> {
  const { rows } = await pool.query('SELECT position FROM projection_checkpoints WHERE name = $1', [name]);
  return rows[0]?.position ?? null;
}

async function contactCount(stores: Stores, organizationId: string): Promise<{ rows: number; counter: number }> {
  const em = stores.orm.em.fork();
  const rows = await em.count(ContactViewSchema, { organizationId }, { filters: false });
  const org = await em.findOne(OrganizationViewSchema, { id: organizationId }, { filters: false });
  return { rows, counter: org?.contactCount ?? -1 };
}

/**
 * A runner as a projector process on a server makes it (`server`: batches pipelined while the runner knows where
 * its checkpoint is); `server: false` as on the embedded database (every batch reads its checkpoint first).
 */
function runner(stores: Stores, projection = contactsProjection, batchSize = 100, server = true, catchUpBatchSize?: number) {
  return new ProjectionRunner(projection, stores.store, stores.orm, silentLogger, {
    batchSize,
    server,
    ...(catchUpBatchSize ? { catchUpBatchSize } : {}),
  });
}

/** Appends `count` contacts for a new organization, in appends of up to 500 contact streams at once. */
async function seedContacts(stores: Stores, count: number): Promise<string> {
  const org = facts.organizationCreated();
  const organizationId = org.data.organizationId;
  await stores.store.append(organizationStream(organizationId), [org], 'no_stream');
  for (let offset = 0; offset < count; offset += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - offset) }, () => {
        const created = facts.contactCreated(organizationId);
        return stores.store.append(contactStream(created.data.contactId), [created], 'no_stream');
      }),
    );
  }
  return organizationId;
}

describe('projection runner', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let stores: Stores;

  beforeEach(async () => {
    database = await createTestDatabase();
    stores = await openStores(database.url);
  });
  afterEach(async () => {
    await stores.close();
    await database.drop();
  });

  it('builds the contacts read model from creates, updates, tags and deletes, and stores its checkpoint', async () => {
    const organizationId = randomUUID();
    const kept = facts.contactCreated(organizationId, randomUUID(), 'kept@example.com', ['lead']);
    const removed = facts.contactCreated(organizationId, randomUUID(), 'gone@example.com');
    const keptId = kept.data.contactId;
    await stores.store.append(contactStream(keptId), [kept], 'no_stream');
    await stores.store.append(contactStream(removed.data.contactId), [removed], 'no_stream');
    const last = await stores.store.append(
      contactStream(keptId),
      [
        facts.contactEvent(organizationId, {
          type: 'ContactUpdated',
          data: { contactId: keptId, changes: { title: 'CTO', customFields: { score: 7 } } },
        }),
        facts.contactEvent(organizationId, { type: 'ContactTagged', data: { contactId: keptId, tag: 'vip' } }),
        facts.contactEvent(organizationId, { type: 'ContactUntagged', data: { contactId: keptId, tag: 'lead' } }),
      ],
      0,
    );
    await stores.store.append(
      contactStream(removed.data.contactId),
      [facts.contactEvent(organizationId, { type: 'ContactDeleted', data: { contactId: removed.data.contactId, email: 'gone@example.com' } })],
      0,
    );
    const run = runner(stores);
    await run.start();
    try {
      const head = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'contacts'),
        (p) => p === head,
      );
      const rows = await stores.orm.em.fork().find(ContactViewSchema, {}, { filters: false });
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({ id: keptId, email: 'kept@example.com', title: 'CTO', revision: 3, sortName: 'lovelace ada' });
      expect(rows[0]!.tags).to.deep.equal(['vip']);
      expect(rows[0]!.customFields).to.deep.equal({ score: 7 });
      expect(last.nextRevision).to.equal(3);
    } finally {
      await run.stop();
    }
  });

  it('resumes from its checkpoint after a restart without applying anything twice', async () => {
    const organizationId = await seedContacts(stores, 300);
    const first = runner(stores, organizationsProjection, 50);
    await first.start();
    const head = await stores.store.headPosition();
    await eventually(
      () => checkpointOf(stores.pool, 'organizations'),
      (p) => p === head,
    );
    await first.stop();

    for (let i = 0; i < 40; i++) {
      const created = facts.contactCreated(organizationId);
      await stores.store.append(contactStream(created.data.contactId), [created], 'no_stream');
    }
    const second = runner(stores, organizationsProjection, 50);
    await second.start();
    try {
      const head = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'organizations'),
        (p) => p === head,
      );
      const org = await stores.orm.em.fork().findOne(OrganizationViewSchema, { id: organizationId }, { filters: false });
      expect(org!.contactCount).to.equal(340);
    } finally {
      await second.stop();
    }
  });

  for (const [server, catchUp] of [
    [true, false],
    [false, false],
    [true, true],
  ] as const) {
    const how = `${server ? 'batches pipelined' : 'each batch reads its checkpoint first'}${catchUp ? ', larger batches (COPY) while behind' : ''}`;
    it(`two runners of the same projection (two processes) never apply an event twice (${how})`, async () => {
      const organizationId = await seedContacts(stores, 1_000);
      const other = await openStores(database.url);
      // Behind, each runner reads larger pages after two of its own size: batches of different bounds, some
      // large enough for COPY (COPY_FROM_ROWS), overlap between the two runners of each projection.
      const large = (size: number) => (catchUp ? size : undefined);
      const a = runner(stores, organizationsProjection, 37, server, large(300));
      const b = runner(other, organizationsProjection, 53, server, large(410));
      const c = runner(stores, contactsProjection, 64, server, large(280));
      const d = runner(other, contactsProjection, 41, server, large(333));
      await Promise.all([a.start(), b.start(), c.start(), d.start()]);
      try {
        const head = await stores.store.headPosition();
        await eventually(
          () => checkpointOf(stores.pool, 'organizations'),
          (p) => p === head,
        );
        await eventually(
          () => checkpointOf(stores.pool, 'contacts'),
          (p) => p === head,
        );
        expect(await contactCount(stores, organizationId)).to.deep.equal({ rows: 1_000, counter: 1_000 });
      } finally {
        await Promise.all([a.stop(), b.stop(), c.stop(), d.stop()]);
        await other.close();
      }
    });
  }

  it('a pipelined batch finds its checkpoint moved by another process meanwhile and applies nothing that process covered', async () => {
    const organizationId = await seedContacts(stores, 100);
    const run = runner(stores, organizationsProjection, 10);
    await run.start();
    try {
      const caughtUp = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'organizations'),
        (p) => p === caughtUp,
      );
      // Another process takes the checkpoint's row, applies the next 30 contacts and moves it past them, while
      // this runner, which stored it at `caughtUp`, sends its batch of them.
      const other = await stores.pool.connect();
      try {
        await other.query(`BEGIN; SELECT 1 FROM projection_checkpoints WHERE name = 'organizations' FOR UPDATE`);
        for (let i = 0; i < 30; i++) {
          const created = facts.contactCreated(organizationId);
          await stores.store.append(contactStream(created.data.contactId), [created], 'no_stream');
        }
        await other.query(`UPDATE organizations SET contact_count = contact_count + 30 WHERE id = $1`, [organizationId]);
        await other.query(`UPDATE projection_checkpoints SET position = $1 WHERE name = 'organizations'`, [await stores.store.headPosition()]);
        await other.query('COMMIT');
      } finally {
        other.release();
      }
      for (let i = 0; i < 20; i++) {
        const created = facts.contactCreated(organizationId);
        await stores.store.append(contactStream(created.data.contactId), [created], 'no_stream');
      }
      const head = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'organizations'),
        (p) => p === head,
      );
      expect(await contactCount(stores, organizationId)).to.deep.equal({ rows: 0, counter: 150 });
      const { rows } = await stores.pool.query('SELECT count(*)::int AS n FROM parked_events');
      expect(rows[0].n).to.equal(0);
    } finally {
      await run.stop();
    }
  });

  for (const server of [true, false]) {
    it(`a checkpoint reached by skipping and stored late never goes back behind a batch committed since (${server ? 'batches pipelined' : 'each batch reads its checkpoint first'})`, async () => {
      const run = runner(stores, contactsProjection, 100, server);
      await run.start();
      try {
        // An event the contacts projection does not handle: it skips to it (in memory; stored within a second).
        const org = facts.organizationCreated();
        const skipped = (await stores.store.append(organizationStream(org.data.organizationId), [org], 'no_stream')).position;
        await eventually(
          () => run.status().position,
          (position) => position === skipped,
        );
        // Then one it handles: committed, with the checkpoint, past the skip.
        const created = facts.contactCreated(org.data.organizationId);
        const committed = (await stores.store.append(contactStream(created.data.contactId), [created], 'no_stream')).position;
        await eventually(
          () => checkpointOf(stores.pool, 'contacts'),
          (position) => position === committed,
        );
      } finally {
        // Stopping stores the skip that was not stored yet: it is behind the commit, so nothing moves.
        await run.stop();
      }
      expect(await checkpointOf(stores.pool, 'contacts')).to.equal(await stores.store.headPosition());
    });
  }

  it('two runners of the same reactor (two processes) handle every event, and the checkpoint only moves forward to the head', async () => {
    await seedContacts(stores, 600);
    const other = await openStores(database.url);
    const seen = new Map<string, number>();
    let highest: string | null = null;
    let wentBack = false;
    const reactor: Projection = {
      name: 'counting-reactor',
      eventTypes: new Set(['ContactCreated']),
      reactor: true,
      async apply(events) {
        for (const event of events) seen.set(event.id, (seen.get(event.id) ?? 0) + 1);
        // The stored checkpoint never goes back, whatever the two runners do.
        const stored = await checkpointOf(stores.pool, 'counting-reactor');
        if (stores.store.comparePositions(stored, highest) < 0) wentBack = true;
        else highest = stored;
      },
    };
    const a = runner(stores, reactor, 29);
    const b = runner(other, reactor, 47);
    await Promise.all([a.start(), b.start()]);
    try {
      const head = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'counting-reactor'),
        (p) => p === head,
      );
      // At least once each (effects are idempotent; two runners may both handle a batch), none missed.
      expect(seen.size).to.equal(600);
      expect(wentBack, 'the checkpoint went back').to.equal(false);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await other.close();
    }
  });

  it('parks an event it cannot apply, with the error, and goes on with the rest', async () => {
    const organizationId = randomUUID();
    const before = facts.contactCreated(organizationId);
    const missingId = randomUUID();
    const poison = facts.contactEvent(organizationId, { type: 'ContactTagged', data: { contactId: missingId, tag: 'x' } });
    const after = facts.contactCreated(organizationId);
    await stores.store.append(contactStream(before.data.contactId), [before], 'no_stream');
    const poisoned = await stores.store.append(contactStream(missingId), [poison], 'no_stream');
    await stores.store.append(contactStream(after.data.contactId), [after], 'no_stream');
    const run = runner(stores);
    await run.start();
    try {
      const head = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'contacts'),
        (p) => p === head,
      );
      const { rows } = await stores.pool.query('SELECT projection, position, event_id, event_type, error, resolved_at FROM parked_events');
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({
        projection: 'contacts',
        position: poisoned.position,
        event_id: poison.id,
        event_type: 'ContactTagged',
        resolved_at: null,
      });
      expect(rows[0].error).to.match(new RegExp(`contact ${missingId} is not in the read model`));
      const ids = (await stores.orm.em.fork().find(ContactViewSchema, {}, { filters: false })).map((c) => c.id).sort();
      expect(ids).to.deep.equal([before.data.contactId, after.data.contactId].sort());
      expect(run.status()).to.include({ parked: 1 });
    } finally {
      await run.stop();
    }
  });

  it('parks at once an event the read model cannot store (a NUL sealed into the log) and projects the next one', async () => {
    // How the poison got in before the edge refused it: personal data is sealed (ciphertext in the log), so the
    // store took a NUL in a title that only the read model, opening it, could not store (PostgreSQL 22021/22P05).
    const keys = new PersonalDataKeys(stores.pool, new DataProtection('test-data-key-0123456789abcdef0123456789'), stores.notifications, true);
    const sealed = new EventStoreLayer(stores.store, personalDataSealing(keys));
    const organizationId = randomUUID();
    const poisoned = facts.contactCreated(organizationId);
    poisoned.data = { ...poisoned.data, title: 'x\u0000' } as typeof poisoned.data;
    const next = facts.contactCreated(organizationId);
    const stored = await sealed.append(contactStream(poisoned.data.contactId), [poisoned], 'no_stream');
    await sealed.append(contactStream(next.data.contactId), [next], 'no_stream');
    const run = new ProjectionRunner(contactsProjection, sealed, stores.orm, silentLogger, { batchSize: 100, maxAttempts: 1_000 });
    await run.start();
    try {
      const head = await stores.store.headPosition();
      await eventually(
        () => checkpointOf(stores.pool, 'contacts'),
        (p) => p === head,
      );
      const { rows } = await stores.pool.query('SELECT position, event_type, error, attempts FROM parked_events');
      // Parked on the first failure although 1,000 attempts were allowed: the data decides a data error.
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({ position: stored.position, event_type: 'ContactCreated', attempts: 1 });
      const ids = (await stores.orm.em.fork().find(ContactViewSchema, {}, { filters: false })).map((c) => c.id);
      expect(ids).to.deep.equal([next.data.contactId]);
      const status = run.status();
      expect(status.parked).to.equal(1);
      expect(status.recentlyParked[0]).to.include({ position: stored.position, eventType: 'ContactCreated' });
      // What operators see names the class of error, never the statement or the tenant's values.
      expect(status.recentlyParked[0]!.error).to.match(/SQLSTATE 22/);
      expect(`${status.lastError} ${status.recentlyParked[0]!.error}`).not.to.match(/insert|values|Ada|Lovelace|\\u0000/i);
    } finally {
      await run.stop();
      keys.close();
    }
  });

  it('backs off while the database drops its connections, then finishes without loss or duplicates', async () => {
    const organizationId = await seedContacts(stores, 2_000);
    const head = await stores.store.headPosition();
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const run = runner(stores, organizationsProjection, 25);
    await run.start();
    try {
      for (let i = 0; i < 5; i++) {
        // Each kill once the runner has made progress since the previous one (it reconnected and goes on),
        // so the kills land through the catch-up; a kill after it finished finds it idle, which is fine too.
        const before = run.status().position;
        await eventually(
          () => run.status().position,
          (position) => position !== before || position === head,
          60_000,
        );
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      }
      // The test's own pool lost its connections too: a probe that meets a dead one just tries again.
      const probe = () => checkpointOf(stores.pool, 'organizations').catch(() => null);
      await eventually(probe, (p) => p === head, 60_000);
      const org = await stores.orm.em.fork().findOne(OrganizationViewSchema, { id: organizationId }, { filters: false });
      expect(org!.contactCount).to.equal(2_000);
      const { rows } = await stores.pool.query('SELECT count(*)::int AS n FROM parked_events');
      expect(rows[0].n, 'an unreachable database is waited out, never parked').to.equal(0);
    } finally {
      await run.stop();
      await admin.end();
    }
  });

  it('a projector process killed with SIGKILL mid catch-up resumes after restart with exact counts', async () => {
    const organizationId = await seedContacts(stores, 20_000);
    const head = await stores.store.headPosition();
    const env = {
      ...process.env,
      DATABASE_URL: database.url,
      JWT_SECRET: 'x'.repeat(32),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      PORT: '0',
      LOG_LEVEL: 'warn',
      PROJECTION_BATCH_SIZE: '200',
    };
    // A process refuses a database whose schema is not its own: migrated as an operator does.
    await migrateDatabase(env);
    const start = (): ChildProcess => spawn(process.execPath, ['--import', 'tsx', 'projectors/main.ts'], { env, stdio: 'ignore' });

    const first = start();
    const exited = new Promise((resolve) => first.once('exit', resolve));
    // Kill it while it is part-way through: some batches committed, more to come.
    await eventually(
      () => checkpointOf(stores.pool, 'contacts'),
      (p) => p !== null && BigInt(p) > 2_000n,
      60_000,
    );
    first.kill('SIGKILL');
    await exited;
    const atKill = await checkpointOf(stores.pool, 'contacts');
    expect(BigInt(atKill!) < BigInt(head!), 'the kill landed before catch-up finished').to.equal(true);

    const second = start();
    try {
      await eventually(
        () => checkpointOf(stores.pool, 'contacts'),
        (p) => p === head,
        90_000,
      );
      await eventually(
        () => checkpointOf(stores.pool, 'organizations'),
        (p) => p === head,
        90_000,
      );
      expect(await contactCount(stores, organizationId)).to.deep.equal({ rows: 20_000, counter: 20_000 });
    } finally {
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
    }
  });
});
