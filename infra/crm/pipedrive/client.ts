import { LRUCache } from 'lru-cache';
import type {
  ActivityWrite,
  ChangedContactsQuery,
  ContactWrite,
  ContactWriteResult,
  CrmClient,
  CrmConnection,
  CrmContact,
  CrmDeletion,
  CrmFieldDescription,
  CrmPage,
  CrmValue,
  DealWrite,
  DeletedContactsQuery,
} from '../../../projectors/integrations/ports.ts';
import { CrmError, CrmRequestRejected } from '../../../projectors/integrations/ports.ts';
import { chunk, decodePageToken, encodePageToken, floorToSecond, isoOrNull } from '../rest/rest.ts';
import type { PipedriveApi } from './api.ts';
import { describe, isStandard, loadPersonFields, readCustom, writeCustom, type PipedriveField } from './fields.ts';

/** A person as API v2 answers it (the parts we read). */
export interface PipedrivePerson {
  id: number;
  name?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  emails?: { value: string; primary?: boolean; label?: string }[] | null;
  phones?: { value: string; primary?: boolean; label?: string }[] | null;
  org_id?: number | null;
  update_time?: string | null;
  custom_fields?: Record<string, unknown> | null;
}

type Entry = { value: string; primary?: boolean; label?: string };

/** The marker that makes logActivity and createDeal idempotent: searched for among the contact's activities and deals. */
export function idempotencyMarker(key: string): string {
  return `nexusflow:${key}`;
}

/**
 * The CRM port over Pipedrive's REST API v2 (v1 where v2 has no equivalent: users/me, personFields, recents).
 *
 * - Changes: `GET /api/v2/persons?updated_since=…&sort_by=update_time&sort_direction=asc` with Pipedrive's
 *   cursor (`next_cursor`); custom fields come with every person (no field list in the URL, so no 414).
 *   Persons stamped before `since` are dropped here too, so "at or after" holds at any precision.
 * - Deletions: Pipedrive keeps a deleted person 30 days with `active_flag: false` and lists it among the changes
 *   of `GET /api/v1/recents?items=person` (stamped with its deletion); persons deleted longer ago are gone.
 * - Writes: one request per person (Pipedrive has no batch write), in order; a retryable failure (429, 401,
 *   5xx) after some writes went through stops the batch and reports the rest as not attempted, so a created
 *   person's id is never lost to a retry that would create it twice.
 * - Idempotency of `crm_action`: an activity carries `[nexusflow:<key>]` at the end of its note, a deal carries
 *   `nexusflow:<key>` in its `origin_id` (Pipedrive's field for the integration that made a deal); before
 *   creating, the contact's activities / deals are searched for the marker.
 */
export class PipedriveClient implements CrmClient {
  readonly limits = { maxPageSize: 500, maxWriteBatch: 100 };
  /** Person fields per company: option ids ↔ labels and which keys are custom (refreshed by a describe). */
  private readonly fieldCache = new LRUCache<string, PipedriveField[]>({ max: 1000, ttl: 5 * 60_000 });

  constructor(private readonly api: PipedriveApi) {}

  async describeContactFields(connection: CrmConnection): Promise<CrmFieldDescription[]> {
    const fields = await loadPersonFields(this.api, connection);
    this.fieldCache.set(connection.instanceUrl ?? '', fields);
    return describe(fields);
  }

  async listChangedContacts(connection: CrmConnection, query: ChangedContactsQuery): Promise<CrmPage<CrmContact>> {
    const state = query.pageToken
      ? decodePageToken<{ cursor: string; since: string | null }>(query.pageToken, (v) => typeof v.cursor === 'string')
      : { cursor: undefined, since: query.since };
    const sinceMs = state.since ? Date.parse(state.since) : -Infinity;
    const page = await this.api.call<PipedrivePerson[] | null>(connection, 'GET', '/api/v2/persons', {
      query: {
        updated_since: state.since ? new Date(sinceMs).toISOString() : undefined,
        sort_by: 'update_time',
        sort_direction: 'asc',
        limit: Math.max(1, Math.min(query.pageSize, this.limits.maxPageSize)),
        cursor: state.cursor,
      },
    });
    // "At or after" exactly, whatever precision Pipedrive applies to the filter.
    const persons = (page.data ?? []).filter((person) => (Date.parse(pipedriveTime(person.update_time) ?? '') || 0) >= sinceMs);
    const items = await this.toContacts(connection, persons, query.fields);
    const next = page.additional.next_cursor;
    return { items, nextPageToken: typeof next === 'string' && next ? encodePageToken({ cursor: next, since: state.since }) : null };
  }

  async listDeletedContacts(connection: CrmConnection, query: DeletedContactsQuery): Promise<CrmPage<CrmDeletion>> {
    const state = query.pageToken
      ? decodePageToken<{ start: number; since: string | null }>(query.pageToken, (v) => typeof v.start === 'number')
      : { start: 0, since: query.since };
    // recents takes "YYYY-MM-DD HH:MM:SS" UTC and lists changes AFTER it: one second earlier keeps "at or after".
    const from = state.since ? new Date(floorToSecond(state.since).getTime() - 1000) : new Date(0);
    const page = await this.api.call<
      { item: string; id: number; data: { id?: number; active_flag?: boolean; update_time?: string } | null }[] | null
    >(connection, 'GET', '/api/v1/recents', {
      query: {
        since_timestamp: from.toISOString().slice(0, 19).replace('T', ' '),
        items: 'person',
        start: state.start,
        limit: Math.max(1, Math.min(query.pageSize, 500)),
      },
    });
    const sinceMs = state.since ? Date.parse(state.since) : -Infinity;
    const items: CrmDeletion[] = [];
    for (const entry of page.data ?? []) {
      if (entry.item !== 'person' || !entry.data || entry.data.active_flag !== false) continue;
      const deletedAt = pipedriveTime(entry.data.update_time);
      if (deletedAt === null || Date.parse(deletedAt) < sinceMs) continue;
      items.push({ externalId: String(entry.data.id ?? entry.id), deletedAt });
    }
    const pagination = page.additional.pagination as { more_items_in_collection?: boolean; next_start?: number } | undefined;
    const more = pagination?.more_items_in_collection && typeof pagination.next_start === 'number' && pagination.next_start > state.start;
    return { items, nextPageToken: more ? encodePageToken({ start: pagination!.next_start!, since: state.since }) : null };
  }

  async getContacts(connection: CrmConnection, externalIds: string[], fields: string[]): Promise<CrmContact[]> {
    const persons = await this.fetchPersons(connection, externalIds);
    return this.toContacts(connection, [...persons.values()], fields);
  }

  async writeContacts(connection: CrmConnection, writes: ContactWrite[]): Promise<ContactWriteResult[]> {
    if (writes.length > this.limits.maxWriteBatch) throw new CrmRequestRejected(`at most ${this.limits.maxWriteBatch} writes at once`, 400);
    const customKeys = writes.flatMap((write) => Object.keys(write.fields).filter((key) => !isStandard(key)));
    const fields = customKeys.length > 0 ? await this.personFields(connection, customKeys) : new Map<string, PipedriveField>();
    // Updates touching derived fields (a primary email among several, half of a name) need the person as it is.
    const needCurrent = writes
      .filter((write) => write.externalId !== null && ['email', 'phone', 'first_name', 'last_name'].some((key) => key in write.fields))
      .map((write) => write.externalId!);
    const current = needCurrent.length > 0 ? await this.fetchPersons(connection, needCurrent) : new Map<string, PipedrivePerson>();
    const organizations = new Map<string, number>();
    const results: ContactWriteResult[] = [];
    for (const [index, write] of writes.entries()) {
      try {
        results.push(await this.writeOne(connection, write, fields, current, organizations));
      } catch (err) {
        if (!(err instanceof CrmError) || !err.retryable) {
          results.push({ ok: false, externalId: write.externalId, reason: err instanceof Error ? err.message : String(err) });
          continue;
        }
        if (index === 0) throw err;
        for (const rest of writes.slice(index)) results.push({ ok: false, externalId: rest.externalId, reason: `not attempted: ${err.message}` });
        return results;
      }
    }
    return results;
  }

  async deleteContacts(connection: CrmConnection, externalIds: string[]): Promise<void> {
    for (const id of externalIds) {
      // 404 / 410: already deleted (or deleted longer ago than Pipedrive keeps it), which is what we wanted.
      try {
        await this.api.call(connection, 'DELETE', `/api/v2/persons/${encodeURIComponent(id)}`, { allow404: true });
      } catch (err) {
        if (err instanceof CrmRequestRejected && err.status === 410) continue;
        throw err;
      }
    }
  }

  async logActivity(connection: CrmConnection, activity: ActivityWrite): Promise<{ reference: string }> {
    const marker = `[${idempotencyMarker(activity.idempotencyKey)}]`;
    const existing = await this.findAll<{ id: number; note?: string | null }>(
      connection,
      '/api/v2/activities',
      { person_id: activity.contactExternalId },
      (item) => (item.note ?? '').includes(marker),
    );
    if (existing) return { reference: String(existing.id) };
    const created = await this.api.call<{ id: number }>(connection, 'POST', '/api/v2/activities', {
      json: {
        subject: activity.subject,
        type: 'task',
        participants: [{ person_id: Number(activity.contactExternalId), primary: true }],
        note: `${escapeHtml(activity.body)}<br><br>${marker}`,
      },
    });
    return { reference: String(created.data.id) };
  }

  async createDeal(connection: CrmConnection, deal: DealWrite): Promise<{ reference: string }> {
    const marker = idempotencyMarker(deal.idempotencyKey);
    if (marker.length > 255) throw new CrmRequestRejected('idempotency key too long for Pipedrive origin_id (255)', 400);
    const existing = await this.findAll<{ id: number; origin_id?: string | null }>(
      connection,
      '/api/v2/deals',
      { person_id: deal.contactExternalId },
      (item) => item.origin_id === marker,
    );
    if (existing) return { reference: String(existing.id) };
    const body: Record<string, unknown> = { title: deal.name, person_id: Number(deal.contactExternalId), origin_id: marker };
    if (deal.amount !== null) body.value = deal.amount;
    if (deal.stage !== null) body.stage_id = await this.stageId(connection, deal.stage);
    const created = await this.api.call<{ id: number }>(connection, 'POST', '/api/v2/deals', { json: body });
    return { reference: String(created.data.id) };
  }

  private async writeOne(
    connection: CrmConnection,
    write: ContactWrite,
    fields: Map<string, PipedriveField>,
    current: Map<string, PipedrivePerson>,
    organizations: Map<string, number>,
  ): Promise<ContactWriteResult> {
    const existing = write.externalId === null ? undefined : current.get(write.externalId);
    if (write.externalId !== null && needsCurrent(write) && !existing)
      return { ok: false, externalId: write.externalId, reason: `Pipedrive has no person ${write.externalId}` };
    const body: Record<string, unknown> = {};
    const custom: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(write.fields)) {
      if (key === 'email') body.emails = withPrimary(existing?.emails ?? [], value);
      else if (key === 'phone') body.phones = withPrimary(existing?.phones ?? [], value);
      else if (key === 'org_name')
        body.org_id = value === null || value === '' ? null : await this.organizationId(connection, String(value), organizations);
      else if (key === 'name') body.name = value === null ? '' : String(value);
      else if (key === 'first_name' || key === 'last_name') continue;
      else {
        const field = fields.get(key);
        if (!field) return { ok: false, externalId: write.externalId, reason: `Pipedrive has no person field ${key}` };
        const converted = writeCustom(field, value);
        if ('error' in converted) return { ok: false, externalId: write.externalId, reason: converted.error };
        custom[key] = converted.value;
      }
    }
    if (body.name === undefined && ('first_name' in write.fields || 'last_name' in write.fields)) {
      const first = 'first_name' in write.fields ? write.fields.first_name : (existing?.first_name ?? null);
      const last = 'last_name' in write.fields ? write.fields.last_name : (existing?.last_name ?? null);
      body.name = [first, last]
        .filter((part) => part !== null && part !== '')
        .map(String)
        .join(' ');
    }
    if (Object.keys(custom).length > 0) body.custom_fields = custom;
    if (write.externalId === null) {
      // Pipedrive requires a name: a contact known only by its email is named by it.
      if (!body.name) body.name = typeof write.fields.email === 'string' && write.fields.email ? write.fields.email : '(no name)';
      const created = await this.api.call<PipedrivePerson>(connection, 'POST', '/api/v2/persons', { json: body });
      return {
        ok: true,
        externalId: String(created.data.id),
        created: true,
        modifiedAt: pipedriveTime(created.data.update_time) ?? new Date().toISOString(),
      };
    }
    if (body.name === '') return { ok: false, externalId: write.externalId, reason: 'Pipedrive requires a name' };
    const updated = await this.api.call<PipedrivePerson | null>(connection, 'PATCH', `/api/v2/persons/${encodeURIComponent(write.externalId)}`, {
      json: body,
      allow404: true,
    });
    if (updated.status === 404 || !updated.data)
      return { ok: false, externalId: write.externalId, reason: `Pipedrive has no person ${write.externalId}` };
    return {
      ok: true,
      externalId: String(updated.data.id),
      created: false,
      modifiedAt: pipedriveTime(updated.data.update_time) ?? new Date().toISOString(),
    };
  }

  /** Persons by id (GET /api/v2/persons?ids=…, 100 at a time); deleted and unknown ones are left out. */
  private async fetchPersons(connection: CrmConnection, externalIds: string[]): Promise<Map<string, PipedrivePerson>> {
    const found = new Map<string, PipedrivePerson>();
    const ids = [...new Set(externalIds)].filter((id) => /^\d+$/.test(id));
    for (const batch of chunk(ids, 100)) {
      const page = await this.api.call<PipedrivePerson[] | null>(connection, 'GET', '/api/v2/persons', {
        query: { ids: batch.join(','), limit: 100 },
      });
      for (const person of page.data ?? []) found.set(String(person.id), person);
    }
    return found;
  }

  private async toContacts(connection: CrmConnection, persons: PipedrivePerson[], requested: string[]): Promise<CrmContact[]> {
    const customKeys = requested.filter((key) => !isStandard(key));
    const fields = customKeys.length > 0 ? await this.personFields(connection, customKeys) : new Map<string, PipedriveField>();
    const orgNames = requested.includes('org_name') ? await this.organizationNames(connection, persons) : new Map<number, string>();
    const contacts: CrmContact[] = [];
    for (const person of persons) {
      const values: Record<string, CrmValue> = {};
      for (const key of requested) {
        const value = readField(person, key, fields, orgNames);
        if (value !== undefined && value !== null) values[key] = value;
      }
      contacts.push({ externalId: String(person.id), modifiedAt: pipedriveTime(person.update_time) ?? new Date(0).toISOString(), fields: values });
    }
    return contacts;
  }

  /** The person fields by key, from the cache unless one of `needed` is missing from it. */
  private async personFields(connection: CrmConnection, needed: string[]): Promise<Map<string, PipedriveField>> {
    const key = connection.instanceUrl ?? '';
    let fields = this.fieldCache.get(key);
    if (!fields || needed.some((name) => !fields!.some((field) => field.key === name))) {
      fields = await loadPersonFields(this.api, connection);
      this.fieldCache.set(key, fields);
    }
    return new Map(fields.map((field) => [field.key, field]));
  }

  private async organizationNames(connection: CrmConnection, persons: PipedrivePerson[]): Promise<Map<number, string>> {
    const names = new Map<number, string>();
    const ids = [...new Set(persons.map((person) => person.org_id).filter((id): id is number => typeof id === 'number'))];
    for (const batch of chunk(ids, 100)) {
      const page = await this.api.call<{ id: number; name: string }[] | null>(connection, 'GET', '/api/v2/organizations', {
        query: { ids: batch.join(','), limit: 100 },
      });
      for (const organization of page.data ?? []) names.set(organization.id, organization.name);
    }
    return names;
  }

  /** The organization with exactly this name, created when there is none. */
  private async organizationId(connection: CrmConnection, name: string, known: Map<string, number>): Promise<number> {
    const cached = known.get(name.toLowerCase());
    if (cached !== undefined) return cached;
    const search = await this.api.call<{ items?: { item: { id: number; name: string } }[] } | null>(
      connection,
      'GET',
      '/api/v2/organizations/search',
      {
        query: { term: name, fields: 'name', exact_match: 'true', limit: 10 },
      },
    );
    let id = (search.data?.items ?? []).find((entry) => entry.item.name.toLowerCase() === name.toLowerCase())?.item.id;
    if (id === undefined) id = (await this.api.call<{ id: number }>(connection, 'POST', '/api/v2/organizations', { json: { name } })).data.id;
    known.set(name.toLowerCase(), id);
    return id;
  }

  private async stageId(connection: CrmConnection, stage: string): Promise<number> {
    if (/^\d+$/.test(stage)) return Number(stage);
    const found = await this.findAll<{ id: number; name: string }>(
      connection,
      '/api/v2/stages',
      {},
      (item) => item.name.toLowerCase() === stage.toLowerCase(),
    );
    if (!found) throw new CrmRequestRejected(`Pipedrive has no deal stage named "${stage}"`, 400);
    return found.id;
  }

  /** The first item of a cursor-paged v2 list that matches. */
  private async findAll<T>(
    connection: CrmConnection,
    path: string,
    filter: Record<string, string>,
    match: (item: T) => boolean,
  ): Promise<T | undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.api.call<T[] | null>(connection, 'GET', path, { query: { ...filter, limit: 500, cursor } });
      const hit = (page.data ?? []).find(match);
      if (hit) return hit;
      const next = page.additional.next_cursor;
      if (typeof next !== 'string' || !next) return undefined;
      cursor = next;
    }
  }
}

function needsCurrent(write: ContactWrite): boolean {
  return ['email', 'phone', 'first_name', 'last_name'].some((key) => key in write.fields);
}

function readField(person: PipedrivePerson, key: string, fields: Map<string, PipedriveField>, orgNames: Map<number, string>): CrmValue | undefined {
  switch (key) {
    case 'name':
    case 'first_name':
    case 'last_name':
      return person[key] ?? undefined;
    case 'email':
      return primary(person.emails);
    case 'phone':
      return primary(person.phones);
    case 'org_name':
      return typeof person.org_id === 'number' ? orgNames.get(person.org_id) : undefined;
    default:
      return readCustom(fields.get(key), person.custom_fields?.[key]);
  }
}

/** Pipedrive keeps several emails (and phones); the port's value is the primary one. */
function primary(entries: Entry[] | null | undefined): string | undefined {
  if (!entries || entries.length === 0) return undefined;
  const value = (entries.find((entry) => entry.primary) ?? entries[0])!.value;
  return value ? value : undefined;
}

/** The list with its primary entry replaced by `value` (the others kept); null or '' removes the primary. */
function withPrimary(entries: Entry[], value: CrmValue): Entry[] {
  const primaryIndex = entries.findIndex((entry) => entry.primary);
  const others = entries.filter((_, index) => index !== (primaryIndex === -1 ? 0 : primaryIndex)).map((entry) => ({ ...entry, primary: false }));
  if (value === null || value === '') return others.map((entry, index) => ({ ...entry, primary: index === 0 }));
  const kept = entries[primaryIndex === -1 ? 0 : primaryIndex];
  return [{ value: String(value), primary: true, label: kept?.label ?? 'work' }, ...others];
}

/** Pipedrive stamps: RFC 3339 in v2, "YYYY-MM-DD HH:MM:SS" (UTC) in v1. */
export function pipedriveTime(value: string | null | undefined): string | null {
  if (!value) return null;
  return isoOrNull(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(value) ? `${value.replace(' ', 'T')}Z` : value);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, '<br>');
}
