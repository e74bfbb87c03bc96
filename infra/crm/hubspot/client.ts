import {
  CrmRequestRejected,
  type ActivityWrite,
  type ChangedContactsQuery,
  type ContactWrite,
  type ContactWriteResult,
  type CrmClient,
  type CrmConnection,
  type CrmContact,
  type CrmDeletion,
  type CrmFieldDescription,
  type CrmPage,
  type CrmValue,
  type DealWrite,
  type DeletedContactsQuery,
} from '../../../projectors/integrations/ports.ts';
import { chunk, decodePageToken, encodePageToken } from '../rest/rest.ts';
import { listChangedContacts, stampOf, STAMP, toContact } from './changed-contacts.ts';
import { createDealOnce, logActivityOnce } from './engagements.ts';
import { describeProperty } from './fields.ts';
import type { HubSpotApi, HubSpotApis } from './hubspot-api.ts';

/** HubSpot's batch endpoints take at most 100 inputs; its list and search pages hold at most 100 records. */
const BATCH_MAX = 100;

/**
 * Statuses of a whole batch refused for what one of its records holds (a bad value, a duplicate email, an id
 * gone): the batch is split until the culprit stands alone, so one bad record never fails the rest. Others
 * (401, 403 missing scopes, 429, 5xx) concern every record alike and fail the call.
 */
const RECORD_STATUSES = new Set([400, 404, 409, 422]);

type BatchEntry = { index: number; write: ContactWrite };

/**
 * HubSpot's CRM v3 behind the port, through @hubspot/api-client. Every call that names properties sends them in
 * a JSON body (search, batch read, batch writes): a portal's hundreds of custom properties in a query string
 * are refused with 414.
 */
export class HubSpotClient implements CrmClient {
  readonly limits = { maxPageSize: 100, maxWriteBatch: BATCH_MAX };

  constructor(private readonly api: HubSpotApi) {}

  async describeContactFields(connection: CrmConnection): Promise<CrmFieldDescription[]> {
    const { properties } = this.api.apis(connection.accessToken);
    const answer = await this.api.call('contact properties', () => properties.getAll('contacts', false));
    return answer.results.map(describeProperty);
  }

  listChangedContacts(connection: CrmConnection, query: ChangedContactsQuery): Promise<CrmPage<CrmContact>> {
    return listChangedContacts(this.api, this.api.apis(connection.accessToken), query);
  }

  /**
   * Archived contacts, from the list endpoint with `archived=true` (id order, HubSpot's own `after` cursor): HubSpot
   * cannot filter them by `archivedAt`, so the whole list is paged and the window applied here. Pages may hold
   * fewer than `pageSize` deletions (or none) before the last. HubSpot keeps archived records 90 days, and a
   * merged-away contact is not listed as archived: both are the sync's periodic reconciliation's to catch.
   */
  async listDeletedContacts(connection: CrmConnection, query: DeletedContactsQuery): Promise<CrmPage<CrmDeletion>> {
    const { contacts } = this.api.apis(connection.accessToken);
    const limit = Math.min(Math.max(Math.trunc(query.pageSize) || 1, 1), BATCH_MAX);
    const after = query.pageToken ? decodePageToken<{ after: string }>(query.pageToken, (value) => typeof value.after === 'string').after : undefined;
    const since = query.since === null ? -Infinity : Date.parse(query.since);
    const answer = await this.api.call('archived contacts', () => contacts.basicApi.getPage(limit, after, [STAMP], undefined, undefined, true));
    const items: CrmDeletion[] = [];
    for (const record of answer.results) {
      const at = record.archivedAt ?? record.updatedAt;
      if (at instanceof Date && at.getTime() >= since) items.push({ externalId: String(record.id), deletedAt: at.toISOString() });
    }
    const next = answer.paging?.next?.after;
    return { items, nextPageToken: next ? encodePageToken({ after: next }) : null };
  }

  async getContacts(connection: CrmConnection, externalIds: string[], fields: string[]): Promise<CrmContact[]> {
    const { contacts } = this.api.apis(connection.accessToken);
    const properties = [...new Set([...fields, STAMP])];
    const found: CrmContact[] = [];
    for (const ids of chunk([...new Set(externalIds)], BATCH_MAX)) {
      // Ids that are gone come back as a 207 with an OBJECT_NOT_FOUND error naming them: left out, as the port says.
      const answer = await this.api.call('contact batch read', () =>
        contacts.batchApi.read({ inputs: ids.map((id) => ({ id })), properties, propertiesWithHistory: [] }, false),
      );
      for (const result of answer.results) found.push(toContact(result, fields));
    }
    return found;
  }

  async writeContacts(connection: CrmConnection, writes: ContactWrite[]): Promise<ContactWriteResult[]> {
    const apis = this.api.apis(connection.accessToken);
    const results: ContactWriteResult[] = new Array(writes.length);
    const entries = writes.map((write, index) => ({ index, write }));
    for (const batch of chunk(entries, BATCH_MAX)) {
      const creates = batch.filter((entry) => entry.write.externalId === null);
      const updates = batch.filter((entry) => entry.write.externalId !== null);
      if (creates.length > 0) await this.writeBatch(apis, 'create', creates, results);
      if (updates.length > 0) await this.writeBatch(apis, 'update', updates, results);
    }
    return results;
  }

  /**
   * One batch create or update. HubSpot answers 201/200, or 207 with the records it refused in `errors`; each
   * input carries `objectWriteTraceId` (its index) because HubSpot does not promise results in input order, and
   * the errors name it in their context (updates also by id). Some refusals fail the whole batch instead
   * (a 400 naming one record): then the batch is halved until the bad records stand alone.
   */
  private async writeBatch(apis: HubSpotApis, mode: 'create' | 'update', entries: BatchEntry[], results: ContactWriteResult[]): Promise<void> {
    let answer: Awaited<ReturnType<HubSpotApis['contacts']['batchApi']['create']>>;
    try {
      answer =
        mode === 'create'
          ? await this.api.call('contact batch create', () =>
              apis.contacts.batchApi.create({
                inputs: entries.map(({ index, write }) => ({
                  properties: wireProperties(write.fields),
                  objectWriteTraceId: String(index),
                  associations: [],
                })),
              }),
            )
          : await this.api.call('contact batch update', () =>
              apis.contacts.batchApi.update({
                inputs: entries.map(({ index, write }) => ({
                  id: write.externalId!,
                  properties: wireProperties(write.fields),
                  objectWriteTraceId: String(index),
                })),
              }),
            );
    } catch (err) {
      if (!(err instanceof CrmRequestRejected) || !RECORD_STATUSES.has(err.status)) throw err;
      if (entries.length === 1) {
        const { index, write } = entries[0]!;
        results[index] = { ok: false, externalId: write.externalId, reason: err.message };
        return;
      }
      const half = Math.ceil(entries.length / 2);
      await this.writeBatch(apis, mode, entries.slice(0, half), results);
      await this.writeBatch(apis, mode, entries.slice(half), results);
      return;
    }
    const byTrace = new Map(entries.map((entry) => [String(entry.index), entry]));
    const byId = new Map(entries.filter((entry) => entry.write.externalId !== null).map((entry) => [entry.write.externalId!, entry]));
    const unanswered = new Set(entries);
    const errors = 'errors' in answer ? (answer.errors ?? []) : [];
    for (const result of answer.results) {
      const entry =
        (result.objectWriteTraceId !== undefined ? byTrace.get(result.objectWriteTraceId) : undefined) ??
        byId.get(String(result.id)) ??
        // A create answered without its trace id can be placed by position only when every record succeeded.
        (mode === 'create' && errors.length === 0 ? entries.find((candidate) => unanswered.has(candidate)) : undefined);
      if (!entry || !unanswered.has(entry)) continue;
      unanswered.delete(entry);
      results[entry.index] = { ok: true, externalId: String(result.id), created: mode === 'create', modifiedAt: stampOf(result) };
    }
    for (const error of errors) {
      const context = (error.context ?? {}) as Record<string, string[] | undefined>;
      const named = [...(context.objectWriteTraceId ?? []).map((trace) => byTrace.get(trace)), ...(context.ids ?? []).map((id) => byId.get(id))];
      for (const entry of named) {
        if (!entry || !unanswered.has(entry)) continue;
        unanswered.delete(entry);
        results[entry.index] = { ok: false, externalId: entry.write.externalId, reason: `${error.category}: ${error.message}` };
      }
    }
    for (const entry of unanswered)
      results[entry.index] = { ok: false, externalId: entry.write.externalId, reason: 'HubSpot answered the batch without a result for this record' };
  }

  /** Archives (HubSpot's delete: restorable for 90 days); ids already archived or unknown are ignored by HubSpot. */
  async deleteContacts(connection: CrmConnection, externalIds: string[]): Promise<void> {
    const { contacts } = this.api.apis(connection.accessToken);
    for (const ids of chunk([...new Set(externalIds)], BATCH_MAX)) {
      try {
        await this.api.call('contact batch archive', () => contacts.batchApi.archive({ inputs: ids.map((id) => ({ id })) }));
      } catch (err) {
        if (!(err instanceof CrmRequestRejected && err.status === 404)) throw err;
      }
    }
  }

  logActivity(connection: CrmConnection, activity: ActivityWrite): Promise<{ reference: string }> {
    return logActivityOnce(this.api, this.api.apis(connection.accessToken), activity);
  }

  createDeal(connection: CrmConnection, deal: DealWrite): Promise<{ reference: string }> {
    return createDealOnce(this.api, this.api.apis(connection.accessToken), deal);
  }
}

/** HubSpot takes every property value as a string: "" clears one, booleans are "true"/"false". */
export function wireProperties(fields: Record<string, CrmValue>): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) properties[name] = value === null ? '' : String(value);
  return properties;
}
