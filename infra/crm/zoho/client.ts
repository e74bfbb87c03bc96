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
import { zohoDateTime, type ZohoApi } from './api.ts';
import { ACCOUNT_FIELD, describe, readValue, type ZohoField } from './fields.ts';

type ZohoRecord = Record<string, unknown> & { id: string; Modified_Time?: string };

interface RecordResult {
  code?: string;
  status?: string;
  message?: string;
  details?: { id?: string; Modified_Time?: string; api_name?: string } & Record<string, unknown>;
}

/** A keyset position in (Modified_Time, id) order, the stamp kept as Zoho wrote it. */
interface ChangesToken extends Record<string, unknown> {
  t: string;
  id: string;
  since: string | null;
}

/** Zoho reads at most 50 fields per request, and writes and deletes at most 100 records. */
const MAX_FIELDS = 50;
const MAX_IDS = 100;

/** The marker that makes logActivity and createDeal idempotent, at the end of the task's / deal's Description. */
export function idempotencyMarker(key: string): string {
  return `[nexusflow:${key}]`;
}

/**
 * The CRM port over Zoho CRM's REST API v6 (module Contacts).
 *
 * - Changes: COQL (`POST /crm/v6/coql`), because it orders by `Modified_Time, id` and takes a keyset: the page
 *   token is the last (stamp, id) read, so a page never expires (Zoho's `page_token` does after a day), a
 *   record edited between pages moves behind the keyset instead of shifting the pages, and ties on Zoho's
 *   whole-second stamps are ordered by id. COQL selects only `id, Modified_Time`; the fields are then read by id
 *   with `GET /crm/v6/Contacts?ids=…&fields=…` in chunks of 50 fields and 100 ids (Zoho requires a field list and
 *   caps it at 50), so hundreds of custom fields never make one long URL.
 * - Deletions: `GET /crm/v6/Contacts/deleted?type=all` with If-Modified-Since, paged by page number.
 * - Writes: insert (POST) and update (PUT) of up to 100 records each, with Zoho's per-record results; a record
 *   Zoho refuses is reported, the others are written.
 * - Idempotency of `crm_action`: a task or deal carries `[nexusflow:<key>]` at the end of its Description; before
 *   creating, the contact's related Tasks / Deals are searched for it.
 */
export class ZohoClient implements CrmClient {
  readonly limits = { maxPageSize: 200, maxWriteBatch: 100 };

  constructor(private readonly api: ZohoApi) {}

  async describeContactFields(connection: CrmConnection): Promise<CrmFieldDescription[]> {
    return describe(await this.fields(connection, 'Contacts'));
  }

  async listChangedContacts(connection: CrmConnection, query: ChangedContactsQuery): Promise<CrmPage<CrmContact>> {
    const keyset = query.pageToken
      ? decodePageToken<ChangesToken>(query.pageToken, (v) => typeof v.t === 'string' && typeof v.id === 'string' && /^\d+$/.test(v.id))
      : null;
    const since = keyset ? keyset.since : query.since;
    const sinceMs = since ? Date.parse(since) : -Infinity;
    const conditions: string[] = [];
    // COQL compares whole-second literals: the since instant is rounded down, and the page filtered exactly below.
    if (since) conditions.push(`Modified_Time >= '${zohoDateTime(floorToSecond(since))}'`);
    if (keyset) conditions.push(`(Modified_Time > '${literal(keyset.t)}' or (Modified_Time = '${literal(keyset.t)}' and id > ${keyset.id}))`);
    if (conditions.length === 0) conditions.push('Modified_Time is not null');
    const limit = Math.max(1, Math.min(query.pageSize, this.limits.maxPageSize));
    const answer = await this.api.call<{ data?: ZohoRecord[]; info?: { more_records?: boolean } }>(connection, 'POST', '/crm/v6/coql', {
      json: {
        select_query: `select id, Modified_Time from Contacts where ${conditions.join(' and ')} order by Modified_Time asc, id asc limit ${limit}`,
      },
    });
    const rows = answer.body?.data ?? [];
    const last = rows[rows.length - 1];
    const nextPageToken =
      answer.body?.info?.more_records && last?.Modified_Time
        ? encodePageToken({ t: last.Modified_Time, id: String(last.id), since } satisfies ChangesToken)
        : null;
    const wanted = rows.filter((row) => (Date.parse(row.Modified_Time ?? '') || 0) >= sinceMs).map((row) => String(row.id));
    const records = await this.read(connection, wanted, query.fields);
    // In COQL's order; a record deleted between the two calls is left out.
    const items = wanted.flatMap((id) => {
      const record = records.get(id);
      return record ? [toContact(record, query.fields)] : [];
    });
    return { items, nextPageToken };
  }

  async listDeletedContacts(connection: CrmConnection, query: DeletedContactsQuery): Promise<CrmPage<CrmDeletion>> {
    const state = query.pageToken
      ? decodePageToken<{ page: number; since: string | null }>(query.pageToken, (v) => typeof v.page === 'number' && v.page >= 1)
      : { page: 1, since: query.since };
    const answer = await this.api.call<{ data?: { id: string; deleted_time?: string }[]; info?: { more_records?: boolean } }>(
      connection,
      'GET',
      '/crm/v6/Contacts/deleted',
      {
        query: { type: 'all', page: state.page, per_page: Math.max(1, Math.min(query.pageSize, 200)) },
        headers: state.since ? { 'if-modified-since': zohoDateTime(floorToSecond(state.since)) } : {},
      },
    );
    const sinceMs = state.since ? Date.parse(state.since) : -Infinity;
    const items: CrmDeletion[] = [];
    for (const entry of answer.body?.data ?? []) {
      const deletedAt = isoOrNull(entry.deleted_time);
      if (deletedAt !== null && Date.parse(deletedAt) >= sinceMs) items.push({ externalId: String(entry.id), deletedAt });
    }
    return { items, nextPageToken: answer.body?.info?.more_records ? encodePageToken({ page: state.page + 1, since: state.since }) : null };
  }

  async getContacts(connection: CrmConnection, externalIds: string[], fields: string[]): Promise<CrmContact[]> {
    const ids = [...new Set(externalIds)].filter((id) => /^\d+$/.test(id));
    const records = await this.read(connection, ids, fields);
    return ids.flatMap((id) => {
      const record = records.get(id);
      return record ? [toContact(record, fields)] : [];
    });
  }

  async writeContacts(connection: CrmConnection, writes: ContactWrite[]): Promise<ContactWriteResult[]> {
    if (writes.length > this.limits.maxWriteBatch) throw new CrmRequestRejected(`at most ${this.limits.maxWriteBatch} writes at once`, 400);
    const results: (ContactWriteResult | undefined)[] = new Array(writes.length);
    const accounts = new Map<string, string>();
    const bodies: (Record<string, unknown> | null)[] = [];
    for (const [index, write] of writes.entries()) {
      const body: Record<string, unknown> = write.externalId === null ? {} : { id: write.externalId };
      try {
        for (const [key, value] of Object.entries(write.fields)) {
          if (key === ACCOUNT_FIELD)
            body[key] = value === null || value === '' ? null : { id: await this.accountId(connection, String(value), accounts) };
          else body[key] = value;
        }
        bodies.push(body);
      } catch (err) {
        // An account Zoho refuses to find or create rejects this record only; a retryable failure fails the batch (nothing written yet).
        if (!(err instanceof CrmError) || err.retryable) throw err;
        results[index] = { ok: false, externalId: write.externalId, reason: err.message };
        bodies.push(null);
      }
    }
    const inserts = writes
      .map((write, index) => ({ write, index }))
      .filter(({ write, index }) => write.externalId === null && bodies[index] !== null);
    const updates = writes
      .map((write, index) => ({ write, index }))
      .filter(({ write, index }) => write.externalId !== null && bodies[index] !== null);
    let done = 0;
    for (const [method, group] of [
      ['POST', inserts],
      ['PUT', updates],
    ] as const) {
      if (group.length === 0) continue;
      let answer;
      try {
        answer = await this.api.call<{ data?: RecordResult[] }>(connection, method, '/crm/v6/Contacts', {
          json: { data: group.map(({ index }) => bodies[index]) },
          perRecord: true,
        });
      } catch (err) {
        // Nothing written yet: the caller retries the whole batch. Otherwise the inserts' ids must not be lost.
        if (!(err instanceof CrmError) || !err.retryable || done === 0) throw err;
        for (const { write, index } of group) results[index] = { ok: false, externalId: write.externalId, reason: `not attempted: ${err.message}` };
        continue;
      }
      done += group.length;
      const data = answer.body?.data ?? [];
      for (const [position, { write, index }] of group.entries()) results[index] = toWriteResult(write, data[position], method === 'POST');
    }
    return results.map(
      (result, index) => result ?? { ok: false, externalId: writes[index]!.externalId, reason: 'Zoho gave no result for this record' },
    );
  }

  async deleteContacts(connection: CrmConnection, externalIds: string[]): Promise<void> {
    for (const ids of chunk([...new Set(externalIds)], MAX_IDS)) {
      const answer = await this.api.call<{ data?: RecordResult[] }>(connection, 'DELETE', '/crm/v6/Contacts', {
        query: { ids: ids.join(',') },
        perRecord: true,
      });
      for (const result of answer.body?.data ?? []) {
        // INVALID_DATA on the id: already deleted (or never there), which is what we wanted.
        if (result.status === 'success' || result.code === 'INVALID_DATA' || result.code === 'RECORD_NOT_FOUND') continue;
        throw new CrmRequestRejected(`Zoho did not delete ${result.details?.id ?? 'a contact'}: ${result.code} ${result.message ?? ''}`.trim(), 400);
      }
    }
  }

  async logActivity(connection: CrmConnection, activity: ActivityWrite): Promise<{ reference: string }> {
    const marker = idempotencyMarker(activity.idempotencyKey);
    const existing = await this.findRelated(connection, activity.contactExternalId, 'Tasks', marker);
    if (existing) return { reference: existing };
    const id = await this.insertOne(connection, 'Tasks', {
      Subject: activity.subject,
      Description: `${activity.body}\n\n${marker}`,
      Who_Id: { id: activity.contactExternalId },
      Status: 'Completed',
    });
    return { reference: id };
  }

  async createDeal(connection: CrmConnection, deal: DealWrite): Promise<{ reference: string }> {
    const marker = idempotencyMarker(deal.idempotencyKey);
    const existing = await this.findRelated(connection, deal.contactExternalId, 'Deals', marker);
    if (existing) return { reference: existing };
    const stage = deal.stage ?? (await this.firstStage(connection));
    // Zoho requires a closing date on a deal; the port has none, so a placeholder a month out (the owner adjusts it).
    const closing = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    const id = await this.insertOne(connection, 'Deals', {
      Deal_Name: deal.name,
      ...(deal.amount !== null ? { Amount: deal.amount } : {}),
      Stage: stage,
      Closing_Date: closing,
      Contact_Name: { id: deal.contactExternalId },
      Description: marker,
    });
    return { reference: id };
  }

  /** Records by id with the asked fields: 100 ids and 50 fields per request, merged by id. */
  private async read(connection: CrmConnection, ids: string[], fields: string[]): Promise<Map<string, ZohoRecord>> {
    const records = new Map<string, ZohoRecord>();
    if (ids.length === 0) return records;
    const extra = [...new Set(fields)].filter((field) => field !== 'id' && field !== 'Modified_Time');
    const fieldChunks = extra.length === 0 ? [[]] : chunk(extra, MAX_FIELDS - 1);
    for (const idChunk of chunk(ids, MAX_IDS)) {
      for (const [n, fieldChunk] of fieldChunks.entries()) {
        const answer = await this.api.call<{ data?: ZohoRecord[] }>(connection, 'GET', '/crm/v6/Contacts', {
          query: { ids: idChunk.join(','), fields: ['Modified_Time', ...fieldChunk].join(',') },
        });
        for (const record of answer.body?.data ?? []) {
          const id = String(record.id);
          // A record missing from the first chunk's answer is gone; later chunks only add fields to known ones.
          if (n === 0) records.set(id, { ...record, id });
          else if (records.has(id)) Object.assign(records.get(id)!, record);
        }
      }
    }
    return records;
  }

  private async fields(connection: CrmConnection, module: string): Promise<ZohoField[]> {
    const answer = await this.api.call<{ fields?: ZohoField[] }>(connection, 'GET', '/crm/v6/settings/fields', { query: { module } });
    return answer.body?.fields ?? [];
  }

  private async firstStage(connection: CrmConnection): Promise<string> {
    const stage = (await this.fields(connection, 'Deals')).find((field) => field.api_name === 'Stage');
    const first = (stage?.pick_list_values ?? []).map((option) => option.actual_value).find((value) => value !== '-None-');
    if (!first) throw new CrmRequestRejected('Zoho describes no deal stage', 400);
    return first;
  }

  /** The account with exactly this name, created when there is none. */
  private async accountId(connection: CrmConnection, name: string, known: Map<string, string>): Promise<string> {
    const cached = known.get(name.toLowerCase());
    if (cached) return cached;
    const criteria = `(Account_Name:equals:${name.replace(/[\\(),]/g, (char) => `\\${char}`)})`;
    const found = await this.api.call<{ data?: { id: string; Account_Name?: string }[] }>(connection, 'GET', '/crm/v6/Accounts/search', {
      query: { criteria, fields: 'Account_Name' },
    });
    const id =
      found.body?.data?.find((account) => (account.Account_Name ?? '').toLowerCase() === name.toLowerCase())?.id ??
      (await this.insertOne(connection, 'Accounts', { Account_Name: name }));
    known.set(name.toLowerCase(), String(id));
    return String(id);
  }

  private async insertOne(connection: CrmConnection, module: string, record: Record<string, unknown>): Promise<string> {
    const answer = await this.api.call<{ data?: RecordResult[] }>(connection, 'POST', `/crm/v6/${module}`, {
      json: { data: [record] },
      perRecord: true,
    });
    const result = answer.body?.data?.[0];
    if (result?.status !== 'success' || !result.details?.id)
      throw new CrmRequestRejected(`Zoho refused the ${module} record: ${result?.code ?? 'no result'} ${result?.message ?? ''}`.trim(), 400);
    return String(result.details.id);
  }

  /** The id of the contact's related record (Tasks, Deals) whose Description carries the marker. */
  private async findRelated(connection: CrmConnection, contactId: string, related: string, marker: string): Promise<string | null> {
    if (!/^\d+$/.test(contactId)) throw new CrmRequestRejected(`not a Zoho record id: ${contactId}`, 400);
    for (let page = 1; ; page++) {
      const answer = await this.api.call<{ data?: { id: string; Description?: string | null }[]; info?: { more_records?: boolean } }>(
        connection,
        'GET',
        `/crm/v6/Contacts/${contactId}/${related}`,
        { query: { fields: 'Description', page, per_page: 200 } },
      );
      const hit = (answer.body?.data ?? []).find((record) => (record.Description ?? '').includes(marker));
      if (hit) return String(hit.id);
      if (!answer.body?.info?.more_records) return null;
    }
  }
}

function toContact(record: ZohoRecord, fields: string[]): CrmContact {
  const values: Record<string, CrmValue> = {};
  for (const field of fields) {
    const value = readValue(record[field]);
    if (value !== undefined && value !== null) values[field] = value;
  }
  return { externalId: String(record.id), modifiedAt: isoOrNull(record.Modified_Time) ?? new Date(0).toISOString(), fields: values };
}

function toWriteResult(write: ContactWrite, result: RecordResult | undefined, created: boolean): ContactWriteResult {
  if (result?.status === 'success' && result.details?.id) {
    const modifiedAt = isoOrNull(result.details.Modified_Time) ?? new Date().toISOString();
    return { ok: true, externalId: String(result.details.id), created, modifiedAt };
  }
  const field = result?.details?.api_name ? ` (${result.details.api_name})` : '';
  return { ok: false, externalId: write.externalId, reason: `${result?.code ?? 'NO_RESULT'}: ${result?.message ?? 'Zoho gave no result'}${field}` };
}

/** A stamp or id echoed into COQL: only what Zoho itself wrote (digits, dashes, colons, T, dot, plus). */
function literal(value: string): string {
  if (!/^[0-9T:.+\-Z]+$/.test(value)) throw new CrmRequestRejected('the page token is not one this adapter issued', 400);
  return value;
}
