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
import { PersonalDataKeyExistsError, WrongExpectedRevisionError } from '../../command-api/ports.ts';
import { HashChainedEventStore } from '../eventstore/hash-chain.ts';
import { PostgresEventStore } from '../eventstore/postgres/postgres-event-store.ts';
import { PersonalDataKeys, PersonalDataSealingStore, personalDataSealing } from './personal-data-sealing.ts';

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
    await PostgresEventStore.migrate(pool);
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
  describe("keys made by the append that needs them (the application's event store on PostgreSQL)", () => {
    let stored: PostgresEventStore;
    const stores: PersonalDataKeys[] = [];
    /** The application's stack in one process: sealing over the hash chain over the store, with its own key cache. */
    const inProcess = () => {
      const own = new PersonalDataKeys(pool, box, notifications, true);
      stores.push(own);
      return { keys: own, events: new PersonalDataSealingStore(new HashChainedEventStore(stored), own, personalDataSealing(own).onRead as never) };
    };
    const keyRows = async (subject: string) =>
      (await pool.query<{ sealed_key: string | null }>('SELECT sealed_key FROM personal_data_keys WHERE subject_id = $1', [subject])).rows;
    const email = async (events: PersonalDataSealingStore, streamId: string) =>
      ((await events.readStream(streamId))[0]!.data as { email: string }).email;

    before(() => {
      stored = new PostgresEventStore(pool, notifications, { namedStatements: false });
    });
    after(async () => {
      for (const own of stores) own.close();
      await stored?.close();
    });

    it("stores a new person's key in the transaction of the append that creates their stream, and every process opens it", async () => {
      const here = inProcess();
      const id = randomUUID();
      await here.events.append(`contact-${id}`, [created(id)], 'no_stream');
      const { rows } = await pool.query<{ same: boolean }>(
        `SELECT k.xmin = e.xmin AS same FROM personal_data_keys k, nf_events e WHERE k.subject_id = $1 AND e.stream_id = $2`,
        [id, `contact-${id}`],
      );
      expect(rows).to.deep.equal([{ same: true }]);
      expect(await email(here.events, `contact-${id}`)).to.equal('ada@example.com');
      expect(await email(inProcess().events, `contact-${id}`)).to.equal('ada@example.com');
      // The stored event holds no clear text.
      const raw = await pool.query('SELECT data::text FROM nf_events WHERE stream_id = $1', [`contact-${id}`]);
      expect(raw.rows[0].data).not.to.include('ada@example.com');
    });

    it('leaves no key behind when the append is refused', async () => {
      const here = inProcess();
      const id = randomUUID();
      await stored.append(`contact-${id}`, [{ ...created(randomUUID()), type: 'Unsealed' } as NewEvent], 'no_stream');
      let refused: unknown;
      await here.events.append(`contact-${id}`, [created(id)], 'no_stream').catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(WrongExpectedRevisionError);
      expect(await keyRows(id)).to.deep.equal([]);
    });

    it('seals with the stored key when another process made the person a key first', async () => {
      const [here, there] = [inProcess(), inProcess()];
      const id = randomUUID();
      const theirs = (await there.keys.keyFor(id)) as Buffer;
      await here.events.append(`contact-${id}`, [created(id)], 'no_stream');
      expect(await keyRows(id)).to.have.length(1);
      expect(((await here.keys.load([id])).get(id) as Buffer).equals(theirs)).to.equal(true);
      expect(await email(there.events, `contact-${id}`)).to.equal('ada@example.com');
    });

    it('refuses data of an erased person that this process had no key of, storing nothing', async () => {
      const [here, there] = [inProcess(), inProcess()];
      const id = randomUUID();
      await there.keys.erase(id);
      let refused: unknown;
      await here.events.append(`contact-${id}`, [created(id)], 'no_stream').catch((err: unknown) => (refused = err));
      expect(String(refused)).to.include('was erased');
      expect(await stored.readStream(`contact-${id}`)).to.deep.equal([]);
    });

    it('stores one key when appends for the same new person go in one batch, and both open with it', async () => {
      const here = inProcess();
      const id = randomUUID();
      const [a, b] = [`contact-${id}`, `contact-copy-${id}`];
      // An append in flight first: the two then wait together and go in the same batch (the group commit).
      await Promise.all([
        stored.append(`other-${id}`, [{ ...created(randomUUID()), type: 'Unsealed' } as NewEvent], 'no_stream'),
        here.events.append(a, [created(id)], 'no_stream'),
        here.events.append(b, [created(id)], 'no_stream'),
      ]);
      expect(await keyRows(id)).to.have.length(1);
      const elsewhere = inProcess().events;
      expect([await email(elsewhere, a), await email(elsewhere, b)]).to.deep.equal(['ada@example.com', 'ada@example.com']);
    });

    it('keeps all-or-nothing appends whole: a refused group stores no key, a stored one stores it with its events', async () => {
      const here = inProcess();
      const id = randomUUID();
      const claim = `claim-${randomUUID()}`;
      await stored.append(claim, [{ ...created(randomUUID()), type: 'Claimed' } as NewEvent], 'no_stream');
      const group = (claimExpected: 'no_stream' | 0) => [
        { streamId: `contact-${id}`, events: [created(id)], expectedRevision: 'no_stream' as const },
        { streamId: claim, events: [{ ...created(id), type: 'Claimed' } as NewEvent], expectedRevision: claimExpected },
      ];
      let refused: unknown;
      await here.events.appendAtomically!(group('no_stream')).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(WrongExpectedRevisionError);
      expect(await keyRows(id)).to.deep.equal([]);
      await here.events.appendAtomically!(group(0));
      const { rows } = await pool.query<{ same: boolean }>(
        `SELECT k.xmin = e.xmin AS same FROM personal_data_keys k, nf_events e WHERE k.subject_id = $1 AND e.stream_id = $2`,
        [id, `contact-${id}`],
      );
      expect(rows).to.deep.equal([{ same: true }]);
      expect(await email(inProcess().events, `contact-${id}`)).to.equal('ada@example.com');
    });

    it('refuses a key for a person who has one when the store is asked directly (PersonalDataKeyExistsError), storing nothing', async () => {
      const id = randomUUID();
      await keys.keyFor(id);
      let refused: unknown;
      await stored
        .append(`contact-${id}`, [created(id)], 'no_stream', [{ subject: id, sealedKey: 'not-a-key' }])
        .catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(PersonalDataKeyExistsError);
      expect(await stored.readStream(`contact-${id}`)).to.deep.equal([]);
      expect((await keyRows(id))[0]!.sealed_key).not.to.equal('not-a-key');
    });
  });
});
