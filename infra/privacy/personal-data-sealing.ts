import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import { erasedValue, personalData } from '../../domain/privacy/personal-data.ts';
import type { EventTransforms } from '../eventstore/event-store-layer.ts';
import type { Notifications } from '../notifications/notifications.ts';

/** A sealed field as the log stores it: the field's JSON, encrypted with its person's key. */
interface SealedField {
  $sealed: string;
}

const isSealed = (value: unknown): value is SealedField =>
  typeof value === 'object' && value !== null && typeof (value as SealedField).$sealed === 'string' && Object.keys(value).length === 1;

export const CHANNEL_PERSONAL_DATA_ERASED = 'nf_personal_data_erased';
/** How long a process trusts its copy of a key (an erasure is also announced to every process at once). */
const KEY_CACHE_MS = 60_000;

export interface KeySealer {
  encrypt(plaintext: string, purpose: string): string;
  decrypt(sealed: string, purpose: string): string;
}

type CachedKey = Buffer | 'erased';

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
  ) {
    this.unlisten = notifications.listen(CHANNEL_PERSONAL_DATA_ERASED, (subject) => {
      if (subject) this.cache.delete(subject);
      else this.cache.clear();
    });
  }

  /** The person's key, made on first use; 'erased' once they were erased. */
  async keyFor(subject: string): Promise<CachedKey> {
    const cached = this.cache.get(subject);
    if (cached) return cached;
    const sealer = this.requireSealer();
    await this.pool.query('INSERT INTO personal_data_keys (subject_id, sealed_key) VALUES ($1, $2) ON CONFLICT (subject_id) DO NOTHING', [
      subject,
      sealer.encrypt(randomBytes(32).toString('base64'), 'personal-data-key'),
    ]);
    return (await this.load([subject])).get(subject)!;
  }

  /** The keys of these people; absent for people who never had a key. */
  async load(subjects: readonly string[]): Promise<Map<string, CachedKey>> {
    const found = new Map<string, CachedKey>();
    const missing = subjects.filter((subject) => {
      const cached = this.cache.get(subject);
      if (cached) found.set(subject, cached);
      return !cached;
    });
    if (missing.length > 0) {
      const { rows } = await this.pool.query<{ subject_id: string; sealed_key: string | null }>(
        'SELECT subject_id, sealed_key FROM personal_data_keys WHERE subject_id = ANY($1)',
        [missing],
      );
      for (const row of rows) {
        const key: CachedKey = row.sealed_key === null ? 'erased' : Buffer.from(this.requireSealer().decrypt(row.sealed_key, 'personal-data-key'), 'base64');
        this.cache.set(row.subject_id, key);
        found.set(row.subject_id, key);
      }
    }
    return found;
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

function encryptField(key: Buffer, value: unknown): SealedField {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { $sealed: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64') };
}

function decryptField(key: Buffer, sealed: SealedField): unknown {
  const raw = Buffer.from(sealed.$sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
}

/** Applies `change` to the value at `path` (dot-separated) of a copy of `data`, when the path exists. */
function mapField(data: Record<string, unknown>, path: string, change: (value: unknown) => unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.');
  if (!(head! in data)) return data;
  const value = data[head!];
  if (rest.length === 0) return value === null || value === undefined ? data : { ...data, [head!]: change(value) };
  if (typeof value !== 'object' || value === null) return data;
  return { ...data, [head!]: mapField(value as Record<string, unknown>, rest.join('.'), change) };
}

/**
 * The event-store layer that seals personal data on append and opens it on read (an erased person's fields
 * read as "[erased]"). What the hash chain covers is the sealed form, so erasure leaves every chain valid.
 * Events recorded before sealing existed keep their data in clear; they are read as they are.
 */
export function personalDataSealing(keys: PersonalDataKeys): EventTransforms {
  return {
    async onAppend(_streamId: string, events: NewEvent[]): Promise<NewEvent[]> {
      const sealed: NewEvent[] = [];
      for (const event of events) {
        const location = personalData[event.type];
        if (!location) {
          sealed.push(event);
          continue;
        }
        let data = event.data as Record<string, unknown>;
        const key = await keys.keyFor(location.subject(data));
        if (key === 'erased') throw new Error(`the person ${location.subject(data)} was erased: no personal data of theirs can be recorded`);
        for (const field of location.fields) data = mapField(data, field, (value) => encryptField(key, value));
        sealed.push({ ...event, data } as NewEvent);
      }
      return sealed;
    },

    async onRead(events: RecordedEvent[]): Promise<RecordedEvent[]> {
      const subjects = new Set<string>();
      for (const event of events) {
        const location = personalData[event.type];
        if (location) subjects.add(location.subject(event.data as Record<string, unknown>));
      }
      if (subjects.size === 0) return events;
      const found = await keys.load([...subjects]);
      return events.map((event) => {
        const location = personalData[event.type];
        if (!location) return event;
        const key = found.get(location.subject(event.data as Record<string, unknown>));
        let data = event.data as Record<string, unknown>;
        for (const field of location.fields) {
          data = mapField(data, field, (value) => {
            if (!isSealed(value)) return value;
            if (key === undefined) throw new Error(`no key for the sealed personal data of event ${event.id}`);
            return key === 'erased' ? erasedValue(field) : decryptField(key, value);
          });
        }
        return data === event.data ? event : ({ ...event, data } as RecordedEvent);
      });
    },
  };
}
