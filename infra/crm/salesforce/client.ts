import { createHash } from 'node:crypto';
import type { Connection, SaveResult } from 'jsforce';
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
  type CrmFieldType,
  type CrmPage,
  type CrmValue,
  type DealWrite,
  type DeletedContactsQuery,
} from '../../../projectors/integrations/ports.ts';
import { openConnection, type SalesforceTransports } from './connection.ts';
import { isoFromSalesforce, isSalesforceId, soqlDateTime, soqlField, soqlId, soqlString } from './soql.ts';

/** SOQL answers at most 2,000 records a batch; sObject Collections retrieve 2,000 ids and write 200 records a call. */
const MAX_PAGE = 2_000;
const MAX_WRITE = 200;
/**
 * A query's request target is kept under this many characters; a longer field list (hundreds of custom
 * fields) reads ids and stamps by SOQL and the fields by a POST retrieve, whose field list is in the body.
 */
const MAX_QUERY_URL = 6_000;
/** A new Opportunity needs a close date; the rep moves it. */
const DEFAULT_CLOSE_IN_DAYS = 30;

type Row = Record<string, unknown> & { Id: string; SystemModstamp?: string };

/**
 * The data API over jsforce: REST query for changes (keyset paging on (SystemModstamp, Id)), queryAll for
 * deletions (IsDeleted rows stay queryable while in the recycle bin, ~15 days), sObject Collections for writes.
 */
export class SalesforceClient implements CrmClient {
  readonly limits = { maxPageSize: MAX_PAGE, maxWriteBatch: MAX_WRITE };

  constructor(private readonly transports: SalesforceTransports) {}

  async describeContactFields(connection: CrmConnection): Promise<CrmFieldDescription[]> {
    const describe = await this.open(connection).sobject('Contact').describe();
    return describe.fields.map((field) => ({
      name: field.name,
      label: field.label,
      type: fieldType(field.type),
      custom: field.custom,
      updatable: field.updateable,
      ...(field.type === 'picklist' || field.type === 'multipicklist'
        ? { picklistValues: (field.picklistValues ?? []).filter((value) => value.active).map((value) => value.value) }
        : {}),
    }));
  }

  async listChangedContacts(connection: CrmConnection, query: ChangedContactsQuery): Promise<CrmPage<CrmContact>> {
    const conn = this.open(connection);
    const pageSize = pageSizeOf(query.pageSize);
    const after = query.pageToken ? decodeToken(query.pageToken) : null;
    const window = after
      ? `(SystemModstamp > ${soqlDateTime(after.stamp)} OR (SystemModstamp = ${soqlDateTime(after.stamp)} AND Id > ${soqlId(after.id)}))`
      : query.since
        ? `SystemModstamp >= ${soqlDateTime(query.since)}`
        : null;
    const fields = fieldList(query.fields);
    const rows = await this.keysetPage(conn, fields, window, pageSize);
    const items = rows.slice(0, pageSize).map((row) => toContact(row, query.fields));
    const last = rows.length > pageSize ? items[items.length - 1]! : null;
    return { items, nextPageToken: last ? encodeToken({ stamp: last.modifiedAt, id: last.externalId }) : null };
  }

  async listDeletedContacts(connection: CrmConnection, query: DeletedContactsQuery): Promise<CrmPage<CrmDeletion>> {
    const conn = this.open(connection);
    const pageSize = pageSizeOf(query.pageSize);
    const after = query.pageToken ? decodeToken(query.pageToken) : null;
    const window = after
      ? `(SystemModstamp > ${soqlDateTime(after.stamp)} OR (SystemModstamp = ${soqlDateTime(after.stamp)} AND Id > ${soqlId(after.id)}))`
      : query.since
        ? `SystemModstamp >= ${soqlDateTime(query.since)}`
        : null;
    // A deleted row's SystemModstamp is its deletion time.
    const where = ['IsDeleted = true', ...(window ? [window] : [])].join(' AND ');
    const soql = `SELECT Id, SystemModstamp FROM Contact WHERE ${where} ORDER BY SystemModstamp, Id LIMIT ${pageSize + 1}`;
    const rows = await this.query(conn, soql, 'queryAll', pageSize + 1);
    const items = rows.slice(0, pageSize).map((row) => ({ externalId: row.Id, deletedAt: isoFromSalesforce(row.SystemModstamp) }));
    const last = rows.length > pageSize ? items[items.length - 1]! : null;
    return { items, nextPageToken: last ? encodeToken({ stamp: last.deletedAt, id: last.externalId }) : null };
  }

  async getContacts(connection: CrmConnection, externalIds: string[], fields: string[]): Promise<CrmContact[]> {
    // Ids that cannot be Salesforce ids cannot exist there (and never reach a request).
    const ids = [...new Set(externalIds.filter(isSalesforceId))];
    if (ids.length === 0) return [];
    const conn = this.open(connection);
    const found: CrmContact[] = [];
    for (const chunk of chunks(ids, MAX_PAGE)) {
      const rows = await this.retrieve(conn, chunk, fieldList(fields));
      found.push(...rows.map((row) => toContact(row, fields)));
    }
    return found;
  }

  async writeContacts(connection: CrmConnection, writes: ContactWrite[]): Promise<ContactWriteResult[]> {
    if (writes.length > MAX_WRITE) throw new CrmRequestRejected(`at most ${MAX_WRITE} contacts a write (got ${writes.length})`, 400);
    const conn = this.open(connection);
    for (const write of writes) for (const name of Object.keys(write.fields)) soqlField(name);
    const results: ContactWriteResult[] = new Array(writes.length);
    const creates = writes.flatMap((write, index) => (write.externalId === null ? [{ index, write }] : []));
    const updates = writes.flatMap((write, index) => (write.externalId !== null ? [{ index, write }] : []));
    const saved: { index: number; id: string; created: boolean }[] = [];
    const take = (batch: { index: number; write: ContactWrite }[], answers: SaveResult[], created: boolean) =>
      batch.forEach(({ index, write }, n) => {
        const answer = answers[n];
        if (answer?.success && answer.id) saved.push({ index, id: answer.id, created });
        else results[index] = { ok: false, externalId: write.externalId, reason: reasonOf(answer) };
      });
    if (creates.length > 0) {
      const answers = await conn.sobject('Contact').create(
        creates.map(({ write }) => ({ ...write.fields })),
        { allOrNone: false },
      );
      take(creates, answers, true);
    }
    const malformed = updates.filter(({ write }) => !isSalesforceId(write.externalId!));
    for (const { index, write } of malformed)
      results[index] = { ok: false, externalId: write.externalId, reason: 'MALFORMED_ID: not a Salesforce record id' };
    const valid = updates.filter(({ write }) => isSalesforceId(write.externalId!));
    if (valid.length > 0) {
      const answers = await conn.sobject('Contact').update(
        valid.map(({ write }) => ({ ...write.fields, Id: write.externalId! })),
        { allOrNone: false },
      );
      take(valid, answers, false);
    }
    if (saved.length > 0) {
      // sObject Collections answer no stamp: read the SystemModstamp our write got (echo detection compares it).
      // An edit landing between the write and this read would lend us its stamp; per-field value hashes
      // still tell that edit apart from our echo.
      const rows = await this.retrieve(
        conn,
        saved.map((s) => s.id),
        ['Id', 'SystemModstamp'],
      );
      const stamps = new Map(rows.map((row) => [row.Id, isoFromSalesforce(row.SystemModstamp)]));
      for (const { index, id, created } of saved) {
        const modifiedAt = stamps.get(id);
        results[index] = modifiedAt
          ? { ok: true, externalId: id, created, modifiedAt }
          : { ok: false, externalId: id, reason: 'the record was deleted right after it was written' };
      }
    }
    return results;
  }

  async deleteContacts(connection: CrmConnection, externalIds: string[]): Promise<void> {
    const ids = [...new Set(externalIds.filter(isSalesforceId))];
    if (ids.length === 0) return;
    const conn = this.open(connection);
    for (const chunk of chunks(ids, MAX_WRITE)) {
      const answers = await conn.sobject('Contact').destroy(chunk, { allOrNone: false });
      const failed = answers.filter((answer) => !answer.success && !answer.errors.some((e) => GONE.has(errorCode(e))));
      if (failed.length > 0) throw new CrmRequestRejected(`Salesforce refused to delete ${failed.length} contact(s): ${reasonOf(failed[0])}`, 400);
    }
  }

  /**
   * Salesforce has no idempotency key: the step's key (hashed) is written into the Task's Description as a
   * `[nexusflow-ref:…]` footer and looked up before creating. Description cannot be filtered in SOQL, so the
   * lookup narrows by contact and subject (both filterable) and checks the footer of what comes back. A
   * retried step finds its Task; two runs of one step at the same instant are the workflow runner's to prevent.
   */
  async logActivity(connection: CrmConnection, activity: ActivityWrite): Promise<{ reference: string }> {
    const conn = this.open(connection);
    const footer = referenceFooter(activity.idempotencyKey);
    const subject = activity.subject.slice(0, 255);
    const existing = await this.query(
      conn,
      `SELECT Id, Description FROM Task WHERE WhoId = ${soqlId(activity.contactExternalId)} AND Subject = ${soqlString(subject)} ORDER BY Id LIMIT 200`,
      'query',
      200,
    );
    const found = existing.find((row) => String(row.Description ?? '').includes(footer));
    if (found) return { reference: found.Id };
    const answer = await conn.sobject('Task').create({
      WhoId: activity.contactExternalId,
      Subject: subject,
      Description: `${activity.body}\n\n${footer}`,
      Status: 'Completed',
    });
    return { reference: savedId(answer, 'Task') };
  }

  /** As {@link logActivity}: the key's footer in the Opportunity's Description, looked up by contact and name. */
  async createDeal(connection: CrmConnection, deal: DealWrite): Promise<{ reference: string }> {
    const conn = this.open(connection);
    const footer = referenceFooter(deal.idempotencyKey);
    const name = deal.name.slice(0, 120);
    const existing = await this.query(
      conn,
      `SELECT Id, Description FROM Opportunity WHERE ContactId = ${soqlId(deal.contactExternalId)} AND Name = ${soqlString(name)} ORDER BY Id LIMIT 200`,
      'query',
      200,
    );
    const found = existing.find((row) => String(row.Description ?? '').includes(footer));
    if (found) return { reference: found.Id };
    const stage = deal.stage ?? (await this.firstOpenStage(conn));
    const closeDate = new Date(Date.now() + DEFAULT_CLOSE_IN_DAYS * 86_400_000).toISOString().slice(0, 10);
    const answer = await conn.sobject('Opportunity').create({
      Name: name,
      ...(deal.amount !== null ? { Amount: deal.amount } : {}),
      StageName: stage,
      CloseDate: closeDate,
      ContactId: deal.contactExternalId,
      Description: footer,
    });
    return { reference: savedId(answer, 'Opportunity') };
  }

  private open(connection: CrmConnection): Connection {
    return openConnection(connection, this.transports);
  }

  private async firstOpenStage(conn: Connection): Promise<string> {
    const rows = await this.query(
      conn,
      'SELECT ApiName FROM OpportunityStage WHERE IsActive = true AND IsClosed = false ORDER BY SortOrder LIMIT 1',
      'query',
      1,
    );
    const stage = rows[0]?.ApiName;
    if (typeof stage !== 'string') throw new CrmRequestRejected('this Salesforce org has no open opportunity stage', 400);
    return stage;
  }

  /**
   * One keyset page of contacts (up to `limit + 1` rows, the extra one telling whether a page follows): one
   * SOQL query when its URL stays short, else ids and stamps by SOQL and the fields by a POST retrieve.
   */
  private async keysetPage(conn: Connection, fields: string[], window: string | null, pageSize: number): Promise<Row[]> {
    const tail = `FROM Contact${window ? ` WHERE ${window}` : ''} ORDER BY SystemModstamp, Id LIMIT ${pageSize + 1}`;
    const soql = `SELECT ${fields.join(', ')} ${tail}`;
    if (encodeURIComponent(soql).length <= MAX_QUERY_URL) return this.query(conn, soql, 'query', pageSize + 1);
    const keys = await this.query(conn, `SELECT Id, SystemModstamp ${tail}`, 'query', pageSize + 1);
    if (keys.length === 0) return [];
    const rows = new Map<string, Row>();
    const ids = keys.map((key) => key.Id);
    // LIMIT is one over the page size: up to 2,001 ids, while a retrieve takes 2,000.
    for (const chunk of chunks(ids, MAX_PAGE)) for (const row of await this.retrieve(conn, chunk, fields)) rows.set(row.Id, row);
    // Page order and stamps are the query's: a record edited in between is read again at its new stamp later.
    return keys.flatMap((key) => {
      const row = rows.get(key.Id);
      return row ? [{ ...row, SystemModstamp: key.SystemModstamp }] : [];
    });
  }

  private async query(conn: Connection, soql: string, endpoint: 'query' | 'queryAll', maxFetch: number): Promise<Row[]> {
    // autoFetch follows nextRecordsUrl: Salesforce may cut a batch short of LIMIT when records are wide.
    const result = await conn.query<Row>(soql, { autoFetch: true, maxFetch, scanAll: endpoint === 'queryAll' });
    return result.records;
  }

  /** sObject Collections retrieve: ids and fields in a POST body (no URL limit); ids gone are answered null. */
  private async retrieve(conn: Connection, ids: string[], fields: string[]): Promise<Row[]> {
    const rows = (await conn.sobject('Contact').retrieve(ids, { fields })) as (Row | null)[];
    return rows.filter((row): row is Row => row !== null && typeof row === 'object' && typeof row.Id === 'string');
  }
}

const GONE = new Set(['ENTITY_IS_DELETED', 'INVALID_CROSS_REFERENCE_KEY', 'NOT_FOUND']);

function fieldList(fields: string[]): string[] {
  return [...new Set(['Id', 'SystemModstamp', ...fields.map(soqlField)])];
}

function pageSizeOf(requested: number): number {
  if (!Number.isInteger(requested) || requested < 1)
    throw new CrmRequestRejected(`a page size must be a positive whole number (got ${requested})`, 400);
  return Math.min(requested, MAX_PAGE);
}

function toContact(row: Row, fields: string[]): CrmContact {
  const values: Record<string, CrmValue> = {};
  for (const field of fields) if (field in row) values[field] = toValue(row[field]);
  return { externalId: row.Id, modifiedAt: isoFromSalesforce(row.SystemModstamp), fields: values };
}

function toValue(value: unknown): CrmValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  // compound fields (MailingAddress) are not mapped one to one
  return JSON.stringify(value);
}

function fieldType(type: string): CrmFieldType {
  switch (type) {
    case 'string':
    case 'textarea':
    case 'url':
      return 'string';
    case 'email':
      return 'email';
    case 'phone':
      return 'phone';
    case 'double':
    case 'int':
    case 'long':
    case 'currency':
    case 'percent':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'picklist':
    case 'multipicklist':
      return 'picklist';
    default:
      return 'other';
  }
}

/** Opaque to callers: the (stamp, id) the next page starts after. */
function encodeToken(after: { stamp: string; id: string }): string {
  return Buffer.from(JSON.stringify({ v: 1, s: after.stamp, i: after.id })).toString('base64url');
}

function decodeToken(token: string): { stamp: string; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown; s?: unknown; i?: unknown };
    if (
      parsed.v === 1 &&
      typeof parsed.s === 'string' &&
      typeof parsed.i === 'string' &&
      Number.isFinite(Date.parse(parsed.s)) &&
      isSalesforceId(parsed.i)
    )
      return { stamp: parsed.s, id: parsed.i };
  } catch {
    // fall through
  }
  throw new CrmRequestRejected('not a page token of this Salesforce adapter', 400);
}

function referenceFooter(idempotencyKey: string): string {
  return `[nexusflow-ref:nf1-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}]`;
}

function errorCode(error: unknown): string {
  const e = error as { statusCode?: unknown; errorCode?: unknown };
  return String(e.statusCode ?? e.errorCode ?? '');
}

function reasonOf(answer: SaveResult | undefined): string {
  const error =
    answer && !answer.success
      ? (answer.errors[0] as unknown as { statusCode?: string; errorCode?: string; message?: string; fields?: string[] })
      : undefined;
  if (!error) return 'Salesforce gave no answer for this record';
  const fields = error.fields?.length ? ` (${error.fields.join(', ')})` : '';
  return `${error.statusCode ?? error.errorCode ?? 'ERROR'}: ${error.message ?? 'refused'}${fields}`;
}

function savedId(answer: SaveResult, type: string): string {
  if (answer.success && answer.id) return answer.id;
  throw new CrmRequestRejected(`Salesforce refused the ${type}: ${reasonOf(answer)}`, 400);
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
