import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytesPooled } from '../crypto/random-pool.ts';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import {
  PersonalDataKeyExistsError,
  type AppendResult,
  type ExpectedRevision,
  type NewPersonalDataKey,
  type StreamAppend,
} from '../../command-api/ports.ts';
import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import { erasedValue, personalData } from '../../domain/privacy/personal-data.ts';
import type { EventStore } from '../eventstore/event-store.ts';
import { EventStoreLayer, type EventTransforms } from '../eventstore/event-store-layer.ts';
import type { Metrics } from '../observability/metrics.ts';
import { AppendBatcher, type PendingAppend } from '../eventstore/postgres/append-batcher.ts';
import type { Notifications } from '../notifications/notifications.ts';

/**
 * An event's personal data as the log stores it, under `$personal`: which fields were taken out (their
 * names are no personal data) and their values, encrypted together with the person's key (one cipher per
 * event, not per field).
 */
interface SealedFields {
  fields: string[];
  sealed: string;
}

const PERSONAL = '$personal';

export const CHANNEL_PERSONAL_DATA_ERASED = 'nf_personal_data_erased';
/** How long a process trusts its copy of a key (an erasure is also announced to every process at once). */
const KEY_CACHE_MS = 60_000;

export interface KeySealer {
  encrypt(plaintext: string, purpose: string): string;
  decrypt(sealed: string, purpose: string): string;
}

type CachedKey = Buffer | 'erased';

/** A key made for an append: the key itself, and the row that travels with the append. */
export interface MadeKey {
  key: Buffer;
  stored: NewPersonalDataKey;
}

/**
 * One AES-256 key per person (crypto-shredding). Keys live in `personal_data_keys`, themselves sealed with
 * the data-protection key; erasing a person deletes their key for good and announces it, so that no process
 * keeps a copy. A person who never had data sealed has no key.
 */
export class PersonalDataKeys {
  private readonly cache = new LRUCache<string, CachedKey>({ max: 100_000, ttl: KEY_CACHE_MS });
  private readonly unlisten: () => void;

  constructor(
    private readonly pool: pg.Pool,
    private readonly sealer: KeySealer | null,
    private readonly notifications: Notifications,
    /**
     * The events are stored in this same PostgreSQL database: a new key may then commit without waiting for
     * its own WAL flush, because the append that uses it commits after it and flushes the WAL up to itself,
     * the key included. (With EventStoreDB holding the events, every key commits durably first.)
     */
    private readonly eventsInSameDatabase = false,
    /** Key statements count as the event store's database round trips (kinds personal_data_key_*). */
    private readonly metrics?: Metrics,
  ) {
    this.unlisten = notifications.listen(CHANNEL_PERSONAL_DATA_ERASED, (subject) => {
      if (subject) this.cache.delete(subject);
      else this.cache.clear();
    });
  }

  /**
   * The person's key, made on first use; 'erased' once they were erased. Keys asked for at the same time are
   * made in one statement (under load, many new contacts at once), like appends are grouped.
   */
  async keyFor(subject: string): Promise<CachedKey> {
    const cached = this.cache.get(subject);
    if (cached) return cached;
    return new Promise<CachedKey>((resolve, reject) => {
      const waiting = this.pending.get(subject);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(subject, [{ resolve, reject }]);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.createPending());
      }
    });
  }

  /** Whether this process holds the person's key, or knows they were erased. */
  isCached(subject: string): boolean {
    return this.cache.has(subject);
  }

  /**
   * A new key for a person who has none yet (as far as this process knows), to be stored by the append whose
   * events it seals (StreamAppend.keys); cached only once that append is stored (`remember`).
   */
  make(subject: string): MadeKey {
    const key = randomBytesPooled(32);
    return { key, stored: { subject, sealedKey: this.requireSealer().encrypt(key.toString('base64'), 'personal-data-key') } };
  }

  /** Keys stored with an append: from now on this process uses them as any other. */
  remember(made: Iterable<MadeKey>): void {
    for (const { key, stored } of made) this.cache.set(stored.subject, key);
  }

  private readonly pending = new Map<string, { resolve(key: CachedKey): void; reject(err: unknown): void }[]>();
  private flushing = false;

  private async createPending(): Promise<void> {
    const batch = new Map(this.pending);
    this.pending.clear();
    this.flushing = false;
    try {
      const sealer = this.requireSealer();
      const subjects = [...batch.keys()];
      const fresh = subjects.map((subject) => this.make(subject));
      this.metrics?.databaseRoundTrips.inc({ kind: 'personal_data_key_create' });
      const { rows } = await this.pool.query<{ subject_id: string; inserted: boolean; existing: string | null; erased: boolean | null }>(
        `WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS t(subject_id, sealed_key)),
              inserted AS (
                INSERT INTO personal_data_keys (subject_id, sealed_key) SELECT subject_id, sealed_key FROM input
                ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id
              ),
              commit_mode AS (SELECT set_config('synchronous_commit', $3, true) AS mode)
         SELECT i.subject_id, ins.subject_id IS NOT NULL AS inserted, k.sealed_key AS existing, k.erased_at IS NOT NULL AS erased
         FROM input i
         LEFT JOIN inserted ins ON ins.subject_id = i.subject_id
         LEFT JOIN personal_data_keys k ON k.subject_id = i.subject_id
         CROSS JOIN commit_mode`,
        [subjects, fresh.map((made) => made.stored.sealedKey), this.eventsInSameDatabase ? 'off' : 'on'],
      );
      // By subject, not indexOf: an import asks for tens of thousands of keys in one batch.
      const freshOf = new Map(subjects.map((subject, i) => [subject, fresh[i]!.key]));
      for (const row of rows) {
        const key: CachedKey = row.inserted
          ? freshOf.get(row.subject_id)!
          : row.erased || row.existing === null
            ? 'erased'
            : Buffer.from(sealer.decrypt(row.existing, 'personal-data-key'), 'base64');
        this.cache.set(row.subject_id, key);
        for (const waiter of batch.get(row.subject_id) ?? []) waiter.resolve(key);
      }
    } catch (err) {
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(err);
    }
  }

  /**
   * The keys of these people; absent for people who never had a key. Keys not cached are read in groups: those
   * asked for while a read is under way (a runner loading the contacts of a whole claim) go in the next one.
   */
  async load(subjects: readonly string[]): Promise<Map<string, CachedKey>> {
    const found = new Map<string, CachedKey>();
    const missing = subjects.filter((subject) => {
      const cached = this.cache.get(subject);
      if (cached) found.set(subject, cached);
      return !cached;
    });
    if (missing.length === 0) return found;
    const read = await this.keyReads.submit(missing, missing.length);
    for (const subject of missing) {
      const key = read.get(subject);
      if (key) found.set(subject, key);
    }
    return found;
  }

  /** Reads of keys not cached, grouped like appends (the event store's batcher). */
  private readonly keyReads = new AppendBatcher<string[], Map<string, CachedKey>>((batch) => this.readKeys(batch), 10_000, 2);

  private async readKeys(batch: PendingAppend<string[], Map<string, CachedKey>>[]): Promise<void> {
    try {
      const subjects = [...new Set(batch.flatMap((read) => read.request))];
      this.metrics?.databaseRoundTrips.inc({ kind: 'personal_data_key_read' });
      const { rows } = await this.pool.query<{ subject_id: string; sealed_key: string | null }>(
        'SELECT subject_id, sealed_key FROM personal_data_keys WHERE subject_id = ANY($1)',
        [subjects],
      );
      const keys = new Map<string, CachedKey>();
      for (const row of rows) {
        const key: CachedKey =
          row.sealed_key === null ? 'erased' : Buffer.from(this.requireSealer().decrypt(row.sealed_key, 'personal-data-key'), 'base64');
        this.cache.set(row.subject_id, key);
        keys.set(row.subject_id, key);
      }
      for (const read of batch) read.resolve(keys);
    } catch (err) {
      for (const read of batch) read.reject(err);
    }
  }

  /** Destroys the person's key (recording that they were erased, so later reads say so); idempotent. */
  async erase(subject: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO personal_data_keys (subject_id, sealed_key, erased_at) VALUES ($1, NULL, now())
       ON CONFLICT (subject_id) DO UPDATE SET sealed_key = NULL, erased_at = COALESCE(personal_data_keys.erased_at, now())`,
      [subject],
    );
    this.cache.set(subject, 'erased');
    await this.notifications.notify(CHANNEL_PERSONAL_DATA_ERASED, subject);
  }

  close(): void {
    this.unlisten();
  }

  private requireSealer(): KeySealer {
    if (!this.sealer) throw new Error('personal data is sealed: set DATA_ENCRYPTION_KEY (or JWT_SECRET) to read or write it');
    return this.sealer;
  }
}

function encrypt(key: Buffer, value: unknown): string {
  const iv = randomBytesPooled(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

function decrypt(key: Buffer, sealed: string): unknown {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
}

/** The value at a dot-separated path, or undefined. */
function valueAt(data: Record<string, unknown>, path: string): unknown {
  if (!path.includes('.')) return data[path];
  let current: unknown = data;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** A copy of `data` with the value at `path` replaced (or removed, for undefined); parents are copied. */
function withValueAt(data: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.');
  if (rest.length === 0) {
    const { [head!]: _old, ...others } = data;
    return value === undefined ? others : { ...others, [head!]: value };
  }
  const child = data[head!];
  if (typeof child !== 'object' || child === null) return data;
  return { ...data, [head!]: withValueAt(child as Record<string, unknown>, rest.join('.'), value) };
}

/** The key to seal a person's data with: known, made now, or the one stored (made on first use). */
type KeyOf = (subject: string) => CachedKey | Promise<CachedKey>;

/** The events with their personal fields sealed under their person's key, under `$personal`. */
function sealEvents(events: NewEvent[], keyOf: KeyOf): Promise<NewEvent[]> {
  return Promise.all(events.map((event) => sealEvent(event, keyOf)));
}

/** Locations whose personal fields are all top-level (a new contact's): sealed without copying data per field. */
const flatLocations = new Set(Object.values(personalData).filter((location) => location.fields.every((field) => !field.includes('.'))));

async function sealEvent(event: NewEvent, keyOf: KeyOf): Promise<NewEvent> {
  const location = personalData[event.type];
  if (!location) return event;
  const source = event.data as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  let data: Record<string, unknown>;
  if (flatLocations.has(location)) {
    // The data is built once, without the sealed fields (deleting them from a copy made every sealed event's
    // data a slow dictionary object, and spreading it again cost as much).
    let sealedAny = false;
    for (const field of location.fields) {
      const value = source[field];
      if (value === undefined || value === null) continue;
      values[field] = value;
      sealedAny = true;
    }
    if (!sealedAny) return event;
    data = {};
    for (const name of Object.keys(source)) if (!Object.hasOwn(values, name)) data[name] = source[name];
  } else {
    // One copy of the data for the top-level fields; nested paths copy their parents.
    data = { ...source };
    for (const field of location.fields) {
      const value = valueAt(data, field);
      if (value === undefined || value === null) continue;
      values[field] = value;
      if (field.includes('.')) data = withValueAt(data, field, undefined);
      else delete data[field];
    }
  }
  const fields = Object.keys(values);
  if (fields.length === 0) return event;
  const key = await keyOf(location.subject(data));
  if (key === 'erased') throw new Error(`the person ${location.subject(data)} was erased: no personal data of theirs can be recorded`);
  data[PERSONAL] = { fields, sealed: encrypt(key, values) } satisfies SealedFields;
  return { ...event, data } as NewEvent;
}

/**
 * The event-store layer that seals personal data on append and opens it on read (an erased person's fields
 * read as "[erased]"). What the hash chain covers is the sealed form, so erasure leaves every chain valid.
 * Events recorded before sealing existed keep their data in clear; they are read as they are.
 * Keys are made on first use, each in its own statement before the append (see PersonalDataSealingStore for
 * the appends that carry theirs).
 */
export function personalDataSealing(keys: PersonalDataKeys): EventTransforms {
  return {
    onAppend(_streamId: string, events: NewEvent[]): Promise<NewEvent[]> {
      return sealEvents(events, (subject) => keys.keyFor(subject));
    },

    async onRead(events: RecordedEvent[]): Promise<RecordedEvent[]> {
      const subjects = new Set<string>();
      for (const event of events) {
        const location = personalData[event.type];
        if (location && PERSONAL in (event.data as object)) subjects.add(location.subject(event.data as Record<string, unknown>));
      }
      if (subjects.size === 0) return events;
      const found = await keys.load([...subjects]);
      return events.map((event) => {
        const location = personalData[event.type];
        const sealed = event.data as Record<string, unknown> & { [PERSONAL]?: SealedFields };
        const personal = sealed[PERSONAL];
        if (!location || !personal) return event;
        // One copy of the data (without the sealed part) takes the top-level fields back (most of them);
        // nested paths copy their parents. (A copy per field was most of what opening an event cost, and the
        // projectors open every event they read.)
        let opened: Record<string, unknown> = {};
        for (const name in sealed) if (name !== PERSONAL) opened[name] = sealed[name];
        const key = found.get(location.subject(opened));
        if (key === undefined) throw new Error(`no key for the sealed personal data of event ${event.id}`);
        const values = key === 'erased' ? null : (decrypt(key, personal.sealed) as Record<string, unknown>);
        for (const field of personal.fields) {
          const value = values ? values[field] : erasedValue(field);
          if (field.includes('.')) opened = withValueAt(opened, field, value);
          else if (value !== undefined) opened[field] = value;
          else delete opened[field];
        }
        return { ...event, data: opened } as RecordedEvent;
      });
    },
  };
}

/**
 * The sealing layer of the event store the application appends through. An append that creates its stream
 * (expects 'no_stream') and holds data of a person this process has no key of (a new contact) makes the key
 * here and sends it with the append, to a store that takes keys with events (PostgreSQL): the key is stored
 * in the append's transaction instead of a statement of its own before it (measured: one database round trip
 * less per group-commit batch, and the append no longer waits for it). If the person had a key after all
 * (made by another process, or they were erased), the store refuses the append and it is sealed again with
 * the stored key. Other appends, and bulk appends, use keys made beforehand (PersonalDataKeys.keyFor).
 */
export class PersonalDataSealingStore extends EventStoreLayer {
  constructor(
    below: EventStore,
    private readonly keys: PersonalDataKeys,
    readable: (events: RecordedEvent[]) => Promise<RecordedEvent[]>,
    private readonly metrics?: Metrics,
  ) {
    super(below, { onAppend: personalDataSealing(keys).onAppend!, onRead: readable });
  }

  override async append(
    streamId: string,
    events: NewEvent[],
    expectedRevision: ExpectedRevision,
    keys?: readonly NewPersonalDataKey[],
  ): Promise<AppendResult> {
    const made = new Map<string, MadeKey>();
    const sealed = await this.timed(() => sealEvents(events, this.keyOf(expectedRevision, made)));
    if (made.size === 0) return this.below.append(streamId, sealed, expectedRevision, keys);
    try {
      const result = await this.below.append(streamId, sealed, expectedRevision, [...(keys ?? []), ...storedOf(made)]);
      this.keys.remember(made.values());
      return result;
    } catch (err) {
      if (!(err instanceof PersonalDataKeyExistsError)) throw err;
    }
    return this.below.append(streamId, await this.timed(() => sealEvents(events, this.keyOf(null, new Map()))), expectedRevision, keys);
  }

  protected override atomicAppend(): EventStore['appendAtomically'] {
    if (!this.below.appendAtomically) return undefined;
    const below = (appends: StreamAppend[]) => this.below.appendAtomically!(appends);
    const sealAll = (appends: StreamAppend[], made: Map<string, MadeKey>) =>
      this.timed(() =>
        Promise.all(
          appends.map(async (append) => ({ ...append, events: await sealEvents(append.events, this.keyOf(append.expectedRevision, made)) })),
        ),
      );
    return async (appends) => {
      const made = new Map<string, MadeKey>();
      const sealed = await sealAll(appends, made);
      if (made.size === 0) return below(sealed);
      try {
        // All or nothing: the keys go with the first append, and stand or fall with the group.
        const [first, ...rest] = sealed;
        const results = await below([{ ...first!, keys: [...(first!.keys ?? []), ...storedOf(made)] }, ...rest]);
        this.keys.remember(made.values());
        return results;
      } catch (err) {
        if (!(err instanceof PersonalDataKeyExistsError)) throw err;
      }
      return below(await sealAll(appends, new Map()));
    };
  }

  /**
   * Where a person's key comes from for one append: one made for this append already; else, for an append that
   * creates its stream, to a store that keeps keys with events, a new one for a person this process has no
   * key of; else the stored one (made on first use). `expectedRevision` null: stored keys only (the retry after
   * a refused key, with an empty `made`).
   */
  private keyOf(expectedRevision: ExpectedRevision | null, made: Map<string, MadeKey>): KeyOf {
    const fresh = expectedRevision === 'no_stream' && this.below.keysWithEvents === true;
    return (subject) => {
      const mine = made.get(subject);
      if (mine) return mine.key;
      if (fresh && !this.keys.isCached(subject)) {
        const key = this.keys.make(subject);
        made.set(subject, key);
        return key.key;
      }
      return this.keys.keyFor(subject);
    };
  }

  private async timed<T>(work: () => Promise<T>): Promise<T> {
    const done = this.metrics?.layer('sealing');
    try {
      return await work();
    } finally {
      done?.();
    }
  }
}

function storedOf(made: Map<string, MadeKey>): NewPersonalDataKey[] {
  return [...made.values()].map((key) => key.stored);
}
