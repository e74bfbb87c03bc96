import {
  CrmRequestRejected,
  type ChangedContactsQuery,
  type CrmContact,
  type CrmPage,
  type CrmValue,
} from '../../../projectors/integrations/ports.ts';
import { decodePageToken, encodePageToken } from '../rest/rest.ts';
import type { HubSpotApi, HubSpotApis } from './hubspot-api.ts';

/** The search API's page size limit, and the most results one search query answers whatever its paging. */
export const SEARCH_PAGE_MAX = 100;
export const SEARCH_RESULT_CAP = 10_000;

/** The contact property HubSpot's search filters and sorts on, and the stamp we report. */
export const STAMP = 'lastmodifieddate';

/**
 * Where the next page starts. `stamp`: records modified at or after `s` (ms; null: all), skipping the first `n`
 * (those at exactly `s` already answered). `tie`: records modified exactly at `s` with an id above `id`, in id
 * order: only when more than 10,000 records share one millisecond, which `n` cannot skip past.
 */
type Cursor = { m: 'stamp'; s: number | null; n: number } | { m: 'tie'; s: number; id: string | null };

interface SearchAnswer {
  results: { id: string; properties: Record<string, string | null>; updatedAt: Date }[];
  paging?: { next?: { after?: string } };
}

/**
 * Contacts changed since an instant, through the search API (POST: the 500 property names of a rich portal go
 * in the body, never the URL), sorted by `lastmodifieddate`.
 *
 * HubSpot's search answers at most 10,000 results per query (paging past them is refused) and `after` is an
 * offset, which shifts when a record not yet read is edited mid-run (it moves to the end and the next page
 * skips a neighbour). So we never page by offset across stamps: each page is a new query "modified ≥ the last
 * stamp answered", skipping by offset only the records at exactly that stamp already answered (`n`). Nothing
 * is skipped or answered twice unless a record is edited away from exactly that millisecond mid-run (then the
 * caller's overlap window reads it again). The one assumption: records with the same stamp come in a stable
 * order (HubSpot's order for ties is undocumented; in practice ascending id, as our fake does); pages are
 * re-sorted by (stamp, id) all the same. More than 10,000 records in one millisecond (a bulk import can do it)
 * switch to reading that millisecond alone in id order, which answers its first `n` again: duplicates with the
 * same (id, stamp), dropped by the caller's dedupe.
 */
export async function listChangedContacts(api: HubSpotApi, apis: HubSpotApis, query: ChangedContactsQuery): Promise<CrmPage<CrmContact>> {
  const limit = Math.min(Math.max(Math.trunc(query.pageSize) || 1, 1), SEARCH_PAGE_MAX);
  let cursor: Cursor = query.pageToken ? decodeCursor(query.pageToken) : { m: 'stamp', s: query.since === null ? null : instant(query.since), n: 0 };
  if (cursor.m === 'stamp' && cursor.s !== null && cursor.n + limit > SEARCH_RESULT_CAP) cursor = { m: 'tie', s: cursor.s, id: null };
  const properties = [...new Set([...query.fields, STAMP])];

  if (cursor.m === 'tie') {
    const filters = [
      { propertyName: STAMP, operator: 'EQ', value: String(cursor.s) },
      ...(cursor.id !== null ? [{ propertyName: 'hs_object_id', operator: 'GT', value: cursor.id }] : []),
    ];
    const answer = await search(api, apis, {
      filterGroups: [{ filters }],
      sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
      properties,
      limit,
    });
    const items = answer.results.map((result) => toContact(result, query.fields));
    const last = items.at(-1);
    const next: Cursor = answer.paging?.next && last ? { m: 'tie', s: cursor.s, id: last.externalId } : { m: 'stamp', s: cursor.s + 1, n: 0 };
    return { items, nextPageToken: encodePageToken(next) };
  }

  const answer = await search(api, apis, {
    filterGroups: cursor.s === null ? [] : [{ filters: [{ propertyName: STAMP, operator: 'GTE', value: String(cursor.s) }] }],
    sorts: [{ propertyName: STAMP, direction: 'ASCENDING' }],
    properties,
    limit,
    ...(cursor.n > 0 ? { after: String(cursor.n) } : {}),
  });
  const items = answer.results.map((result) => toContact(result, query.fields)).sort(byStampThenId);
  const last = items.at(-1);
  if (!answer.paging?.next || !last) return { items, nextPageToken: null };
  const lastStamp = Date.parse(last.modifiedAt);
  const atLast = items.filter((item) => Date.parse(item.modifiedAt) === lastStamp).length;
  const next: Cursor = { m: 'stamp', s: lastStamp, n: lastStamp === cursor.s ? cursor.n + atLast : atLast };
  return { items, nextPageToken: encodePageToken(next) };
}

interface SearchRequest {
  filterGroups: { filters: { propertyName: string; operator: string; value: string }[] }[];
  sorts: { propertyName: string; direction: 'ASCENDING' | 'DESCENDING' }[];
  properties: string[];
  limit: number;
  after?: string;
}

async function search(api: HubSpotApi, apis: HubSpotApis, request: SearchRequest): Promise<SearchAnswer> {
  // The library types `sorts` as strings; HubSpot's documented form is {propertyName, direction}, which its
  // serializer passes through untouched.
  const body = request as unknown as Parameters<HubSpotApis['contacts']['searchApi']['doSearch']>[0];
  return (await api.call('contact search', () => apis.contacts.searchApi.doSearch(body))) as unknown as SearchAnswer;
}

/** A contact as the library hands it over: every property a string (or null), the stamp as our STAMP property. */
export function toContact(
  result: { id: string; properties: Record<string, string | null>; updatedAt?: Date },
  fields: readonly string[],
): CrmContact {
  const values: Record<string, CrmValue> = {};
  for (const name of fields) {
    const value = result.properties[name];
    // HubSpot answers an empty property as null (or, once cleared, an empty string): both are "no value".
    if (value !== null && value !== undefined && value !== '') values[name] = value;
  }
  return { externalId: String(result.id), modifiedAt: stampOf(result), fields: values };
}

export function stampOf(result: { properties: Record<string, string | null>; updatedAt?: Date }): string {
  const raw = result.properties[STAMP];
  const ms = raw ? Date.parse(raw) : Number.NaN;
  if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  if (result.updatedAt instanceof Date && !Number.isNaN(result.updatedAt.getTime())) return result.updatedAt.toISOString();
  throw new CrmRequestRejected('HubSpot answered a contact without lastmodifieddate', 502);
}

function instant(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new CrmRequestRejected(`not an instant: ${iso}`, 400);
  return ms;
}

function byStampThenId(a: CrmContact, b: CrmContact): number {
  return Date.parse(a.modifiedAt) - Date.parse(b.modifiedAt) || (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0);
}

function decodeCursor(token: string): Cursor {
  return decodePageToken<Cursor & Record<string, unknown>>(token, (value) =>
    value.m === 'stamp'
      ? (value.s === null || Number.isSafeInteger(value.s)) && Number.isSafeInteger(value.n) && (value.n as number) >= 0
      : value.m === 'tie' && Number.isSafeInteger(value.s) && (value.id === null || (typeof value.id === 'string' && /^\d+$/.test(value.id))),
  );
}
