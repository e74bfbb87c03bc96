import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import { eventually, testMetadata } from '../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { DataProtection } from '../auth/data-protection.ts';
import { PgNotifications } from '../notifications/pg-notifications.ts';
import { migrateReadModels, openReadModels } from '../readmodels/orm.ts';
import { readModelEntities } from '../../projectors/read-models.ts';
import { PersonalDataKeys, personalDataSealing } from './personal-data-sealing.ts';

const logger = pino({ level: 'silent' });

describe('Personal data sealing with a key per person (real PostgreSQL)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let pool: pg.Pool;
  let notifications: PgNotifications;
  let keys: PersonalDataKeys;
  const box = new DataProtection('test-data-key-0123456789abcdef0123456789');

  before(async () => {
    database = await createTestDatabase('nf_sealing');
    const orm = await openReadModels({ url: database.url, entities: readModelEntities, poolSize: 2, logger });
    await migrateReadModels(orm);
    await orm.close();
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    notifications = new PgNotifications(database.url, pool, logger);
    await notifications.ready();
    keys = new PersonalDataKeys(pool, box, notifications, true);
  });

  after(async () => {
    keys?.close();
    await notifications?.close();
    await pool?.end();
    await database?.drop();
  });

  const created = (contactId: string): NewEvent =>
    ({
      id: randomUUID(),
      type: 'ContactCreated',
      version: 1,
      data: {
        contactId,
        organizationId: 'org',
        email: 'ada@example.com',
        firstName: 'Ada',
        lastName: null,
        phone: null,
        company: null,
        title: null,
        timezone: 'UTC',
        tags: ['x'],
        customFields: { score: 3 },
      },
      metadata: testMetadata(),
    }) as NewEvent;
  const recorded = (event: NewEvent, revision = 0): RecordedEvent =>
    ({
      ...event,
      streamId: `contact-${(event.data as { contactId: string }).contactId}`,
      revision,
      position: '1',
      recordedAt: new Date().toISOString(),
    }) as RecordedEvent;

  it('seals only the personal fields that hold a value, opens them again, and makes one key per person even when asked at once', async () => {
    const sealing = personalDataSealing(keys);
    const id = randomUUID();
    const event = created(id);
    const [sealed] = await sealing.onAppend!('s', [event]);
    const data = sealed!.data as Record<string, unknown>;
    expect(data).to.include({ contactId: id, organizationId: 'org', timezone: 'UTC', lastName: null });
    expect(data).not.to.have.any.keys('email', 'firstName', 'customFields');
    expect((data.$personal as { fields: string[] }).fields).to.have.members(['email', 'firstName', 'customFields']);
    expect(JSON.stringify(data)).not.to.include('ada@example.com');
    const [opened] = await sealing.onRead!([recorded(sealed!)]);
    expect(opened!.data).to.deep.equal(event.data);

    const many = Array.from({ length: 50 }, () => randomUUID());
    const fresh = new PersonalDataKeys(pool, box, notifications, true);
    try {
      await Promise.all([...many, ...many].map((subject) => fresh.keyFor(subject)));
      const { rows } = await pool.query<{ count: string }>('SELECT count(*) FROM personal_data_keys WHERE subject_id = ANY($1)', [many]);
      expect(Number(rows[0]!.count)).to.equal(50);
      // Another process finds the same keys.
      const [first] = many;
      expect(((await keys.load([first!])).get(first!) as Buffer).equals((await fresh.keyFor(first!)) as Buffer)).to.equal(true);
    } finally {
      fresh.close();
    }
  });

  it('reads an erased person as [erased] in every process, refuses new data of theirs, and leaves others alone', async () => {
    const other = new PersonalDataKeys(pool, box, notifications, true);
    try {
      const sealingHere = personalDataSealing(keys);
      const sealingThere = personalDataSealing(other);
      const erased = randomUUID();
      const kept = randomUUID();
      const stored = await sealingHere.onAppend!('s', [created(erased), created(kept)]);
      // The other process has the key cached before the erasure.
      expect(((await sealingThere.onRead!([recorded(stored[0]!)]))[0]!.data as { email: string }).email).to.equal('ada@example.com');
      await keys.erase(erased);
      const after = async () => (await sealingThere.onRead!([recorded(stored[0]!)]))[0]!.data as Record<string, unknown>;
      // The other process hears of the erasure (a notification) and forgets the key it had cached.
      await eventually(after, (data) => data.email === '[erased]');
      expect(await after()).to.include({ email: '[erased]', firstName: '[erased]', lastName: null });
      expect((await after()).customFields).to.deep.equal({});
      expect(((await sealingThere.onRead!([recorded(stored[1]!)]))[0]!.data as { email: string }).email).to.equal('ada@example.com');
      let refused: unknown;
      await sealingHere.onAppend!('s', [created(erased)]).catch((err: unknown) => (refused = err));
      expect(String(refused)).to.include('was erased');
      const row = await pool.query('SELECT sealed_key FROM personal_data_keys WHERE subject_id = $1', [erased]);
      expect(row.rows[0].sealed_key).to.equal(null);
    } finally {
      other.close();
    }
  });
});
