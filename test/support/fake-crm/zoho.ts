import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CrmValue } from '../../../projectors/integrations/ports.ts';
import { FakeCrmData, type FakeCrmRecord, type FakeCrmServer } from './fake-crm.ts';

/**
 * A loopback Zoho CRM: the accounts server's OAuth (`/oauth/v2/auth`, `/oauth/v2/token` answering errors with
 * status 200 and `{"error":"invalid_code"}`, `/oauth/v2/token/revoke`) and the API v6 the adapter uses: org,
 * field metadata, COQL, records by ids with a field list (at most 50 fields, 100 ids), insert / update / delete
 * with per-record results, deleted records with If-Modified-Since, account search, related Tasks and Deals.
 * Limits: 429 `TOO_MANY_REQUESTS` with Retry-After, the API-credit error `LIMIT_REACHED`, 401 `INVALID_TOKEN`;
 * a request target over 8 KiB answers 414.
 *
 * COQL: the fake understands the query shapes the adapter sends (`select … from Contacts where` a
 * `Modified_Time >=` bound, a (Modified_Time, id) keyset, or `Modified_Time is not null`, `order by
 * Modified_Time asc, id asc limit n`); anything else is a SYNTAX_ERROR.
 *
 * Stamps carry the shared clock's milliseconds (`2026-01-01T00:00:00.001+00:00`): real Zoho stamps whole seconds,
 * but the contract's clock ticks in milliseconds and the adapter reads both. Notifications echo the channel's
 * `token` (the integration's webhook secret) in the body.
 */
export async function startFakeZoho(): Promise<FakeCrmServer> {
  const fake = new FakeZoho();
  await fake.listen();
  return fake;
}

const MAX_TARGET = 8_192;
const STANDARD = ['First_Name', 'Last_Name', 'Email', 'Phone', 'Mobile', 'Title', 'Account_Name'];
const DEAL_STAGES = ['Qualification', 'Needs Analysis', 'Value Proposition', 'Closed Won', 'Closed Lost'];

interface Custom {
  name: string;
  label: string;
  type: 'string' | 'number' | 'picklist' | 'date';
  picklistValues?: string[];
}

interface Related {
  id: string;
  contactId: string;
  module: 'Tasks' | 'Deals';
  record: Record<string, unknown>;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

class FakeZoho implements FakeCrmServer {
  readonly provider = 'zoho' as const;
  readonly clientId = '1000.FAKEZOHOCLIENT';
  readonly clientSecret = randomBytes(16).toString('hex');
  readonly standardFields = { email: 'Email', firstName: 'First_Name', lastName: 'Last_Name', company: 'Account_Name', phone: 'Phone' };
  readonly data = new FakeCrmData('5725767');
  readonly requests: { method: string; path: string }[] = [];
  readonly orgId = '5725767000000000000';
  baseUrl = '';

  private readonly server = createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    this.handle(req).then(
      (answer) => send(res, answer),
      (err: unknown) => send(res, { status: 500, body: { code: 'INTERNAL_ERROR', message: String(err), status: 'error' } }),
    );
  });
  private readonly codes = new Map<string, { redirectUri: string; used: boolean }>();
  private readonly refreshTokens = new Set<string>();
  private readonly accessTokens = new Map<string, { expired: boolean; refreshToken: string }>();
  private revoked = false;
  private rateLimited = { times: 0, retryAfter: 0 };
  private quotaExhausted = false;
  private readonly accounts = new Map<string, string>();
  private readonly related: Related[] = [];

  get env(): Record<string, string> {
    return { ZOHO_API_URL: this.baseUrl, ZOHO_ACCOUNTS_URL: this.baseUrl };
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async authorize(authorizationUrl: string): Promise<{ code: string; state: string; redirectUri: string }> {
    const url = new URL(authorizationUrl);
    if (url.origin !== this.baseUrl || url.pathname !== '/oauth/v2/auth') throw new Error(`not this Zoho's authorize URL: ${authorizationUrl}`);
    if (url.searchParams.get('client_id') !== this.clientId) throw new Error('unknown client_id');
    if (url.searchParams.get('response_type') !== 'code') throw new Error('response_type must be code');
    if (url.searchParams.get('access_type') !== 'offline') throw new Error('without access_type=offline Zoho gives no refresh token');
    const redirectUri = url.searchParams.get('redirect_uri');
    const state = url.searchParams.get('state');
    if (!redirectUri || !state || !url.searchParams.get('scope')) throw new Error('authorize needs scope, redirect_uri and state');
    const code = `1000.${randomBytes(12).toString('hex')}`;
    this.codes.set(code, { redirectUri, used: false });
    return { code, state, redirectUri };
  }

  rateLimitNext(times: number, retryAfterSeconds: number): void {
    this.rateLimited = { times, retryAfter: retryAfterSeconds };
  }

  exhaustQuota(exhausted: boolean): void {
    this.quotaExhausted = exhausted;
  }

  expireAccessTokens(): void {
    for (const token of this.accessTokens.values()) token.expired = true;
  }

  revokeGrant(): void {
    this.revoked = true;
  }

  webhook(externalIds: string[], secrets: { integrationSecret: string }) {
    const body = JSON.stringify({
      server_time: this.data.now,
      query_params: {},
      module: 'Contacts',
      resource_uri: `${this.baseUrl}/crm/v6/Contacts`,
      ids: externalIds,
      affected_fields: [],
      operation: 'update',
      channel_id: '1000000068001',
      token: secrets.integrationSecret,
    });
    return { method: 'POST', path: '/webhooks/zoho', headers: { 'content-type': 'application/json' }, body };
  }

  private async handle(req: IncomingMessage): Promise<Answer> {
    const target = req.url ?? '/';
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: target });
    if (target.length > MAX_TARGET) return { status: 414, body: { code: 'URI_TOO_LONG', status: 'error' } };
    const url = new URL(target, this.baseUrl);
    const raw = await readBody(req);
    if (url.pathname.startsWith('/oauth/v2/')) return this.oauth(method, url, raw);

    const token = /^Zoho-oauthtoken (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const known = token ? this.accessTokens.get(token) : undefined;
    if (!known || known.expired || this.revoked || !this.refreshTokens.has(known.refreshToken))
      return error(401, 'INVALID_TOKEN', 'invalid oauth token');
    if (this.quotaExhausted) return error(429, 'LIMIT_REACHED', 'API credits for the 24-hour window have been used up');
    if (this.rateLimited.times > 0) {
      this.rateLimited.times -= 1;
      return { ...error(429, 'TOO_MANY_REQUESTS', 'too many requests'), headers: { 'retry-after': String(this.rateLimited.retryAfter) } };
    }
    let body: Record<string, unknown> = {};
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return error(400, 'INVALID_DATA', 'body is not JSON');
      }
    }
    return this.api(method, url, body, req.headers['if-modified-since']);
  }

  private oauth(method: string, url: URL, raw: string): Answer {
    // Zoho takes these as query parameters or as a form body.
    const params = new URLSearchParams(raw);
    for (const [name, value] of url.searchParams) if (!params.has(name)) params.set(name, value);
    if (method === 'POST' && url.pathname === '/oauth/v2/token/revoke') {
      const token = params.get('token') ?? '';
      this.refreshTokens.delete(token);
      return { status: 200, body: { status: 'success' } };
    }
    if (method !== 'POST' || url.pathname !== '/oauth/v2/token') return { status: 404, body: { error: 'not found' } };
    if (params.get('client_id') !== this.clientId || params.get('client_secret') !== this.clientSecret)
      return { status: 200, body: { error: 'invalid_client' } };
    let refreshToken: string;
    const answer: Record<string, unknown> = {};
    if (params.get('grant_type') === 'authorization_code') {
      const code = this.codes.get(params.get('code') ?? '');
      if (!code || code.used) return { status: 200, body: { error: 'invalid_code' } };
      if (code.redirectUri !== params.get('redirect_uri')) return { status: 200, body: { error: 'invalid_redirect_uri' } };
      code.used = true;
      this.revoked = false;
      refreshToken = `1000.${randomBytes(16).toString('hex')}`;
      this.refreshTokens.add(refreshToken);
      answer.refresh_token = refreshToken; // only the code exchange names one
    } else if (params.get('grant_type') === 'refresh_token') {
      refreshToken = params.get('refresh_token') ?? '';
      // Zoho's way of refusing a refresh token: status 200, an error body.
      if (this.revoked || !this.refreshTokens.has(refreshToken)) return { status: 200, body: { error: 'invalid_code' } };
    } else return { status: 200, body: { error: 'unsupported_grant_type' } };
    const accessToken = `1000.${randomBytes(16).toString('hex')}`;
    this.accessTokens.set(accessToken, { expired: false, refreshToken });
    return {
      status: 200,
      body: {
        access_token: accessToken,
        ...answer,
        scope: 'ZohoCRM.modules.ALL ZohoCRM.settings.fields.READ ZohoCRM.org.READ ZohoCRM.coql.READ',
        api_domain: this.baseUrl,
        token_type: 'Bearer',
        expires_in: 3600,
      },
    };
  }

  private api(method: string, url: URL, body: Record<string, unknown>, ifModifiedSince: string | undefined): Answer {
    const path = url.pathname;
    const q = url.searchParams;
    let match: RegExpExecArray | null;
    if (method === 'GET' && path === '/crm/v6/org')
      return ok({ org: [{ id: this.orgId, company_name: 'Fake Zoho Org', domain_name: 'org5725767', zgid: '5725767' }] });
    if (method === 'GET' && path === '/crm/v6/settings/fields') return this.fields(q.get('module'));
    if (method === 'POST' && path === '/crm/v6/coql') return this.coql(body);
    if (path === '/crm/v6/Contacts') {
      if (method === 'GET') return this.getByIds(q);
      if (method === 'POST') return this.write(body, false);
      if (method === 'PUT') return this.write(body, true);
      if (method === 'DELETE') return this.remove(q);
    }
    if (method === 'GET' && path === '/crm/v6/Contacts/deleted') return this.deleted(q, ifModifiedSince);
    if ((match = /^\/crm\/v6\/Contacts\/(\d+)\/(Tasks|Deals)$/.exec(path))) return this.relatedList(match[1]!, match[2] as 'Tasks' | 'Deals', q);
    if (method === 'GET' && path === '/crm/v6/Accounts/search') {
      const criteria = /^\(Account_Name:equals:(.*)\)$/.exec(q.get('criteria') ?? '');
      if (!criteria) return error(400, 'INVALID_QUERY', 'invalid criteria');
      const name = criteria[1]!.replace(/\\(.)/g, '$1').toLowerCase();
      const found = [...this.accounts].filter(([, known]) => known.toLowerCase() === name).map(([id, known]) => ({ id, Account_Name: known }));
      return found.length === 0 ? { status: 204 } : ok({ data: found, info: { count: found.length, more_records: false } });
    }
    if (method === 'POST' && (path === '/crm/v6/Accounts' || path === '/crm/v6/Tasks' || path === '/crm/v6/Deals'))
      return this.insertOther(path.slice('/crm/v6/'.length) as 'Accounts' | 'Tasks' | 'Deals', body);
    return error(404, 'INVALID_URL_PATTERN', `no route ${method} ${path}`);
  }

  private fields(module: string | null): Answer {
    if (module === 'Deals')
      return ok({
        fields: [
          { api_name: 'Deal_Name', field_label: 'Deal Name', data_type: 'text', custom_field: false, read_only: false },
          { api_name: 'Amount', field_label: 'Amount', data_type: 'currency', custom_field: false, read_only: false },
          {
            api_name: 'Stage',
            field_label: 'Stage',
            data_type: 'picklist',
            custom_field: false,
            read_only: false,
            pick_list_values: DEAL_STAGES.map((stage) => ({ display_value: stage, actual_value: stage })),
          },
        ],
      });
    if (module !== 'Contacts') return error(400, 'INVALID_MODULE', 'the module name given seems to be invalid');
    const standard = [
      { api_name: 'First_Name', field_label: 'First Name', data_type: 'text' },
      { api_name: 'Last_Name', field_label: 'Last Name', data_type: 'text' },
      { api_name: 'Email', field_label: 'Email', data_type: 'email' },
      { api_name: 'Phone', field_label: 'Phone', data_type: 'phone' },
      { api_name: 'Mobile', field_label: 'Mobile', data_type: 'phone' },
      { api_name: 'Title', field_label: 'Title', data_type: 'text' },
      { api_name: 'Account_Name', field_label: 'Account Name', data_type: 'lookup' },
      { api_name: 'Owner', field_label: 'Contact Owner', data_type: 'ownerlookup' },
      { api_name: 'Modified_Time', field_label: 'Modified Time', data_type: 'datetime', read_only: true },
    ].map((field) => ({ custom_field: false, read_only: false, field_read_only: false, ...field }));
    const custom = (this.data.customFields as Custom[]).map((field) => ({
      api_name: field.name,
      field_label: field.label,
      display_label: field.label,
      data_type: { string: 'text', number: 'double', picklist: 'picklist', date: 'date' }[field.type],
      custom_field: true,
      read_only: false,
      field_read_only: false,
      ...(field.type === 'picklist'
        ? {
            pick_list_values: [
              { display_value: '-None-', actual_value: '-None-' },
              ...(field.picklistValues ?? []).map((value) => ({ display_value: value, actual_value: value })),
            ],
          }
        : {}),
    }));
    return ok({ fields: [...standard, ...custom] });
  }

  private coql(body: Record<string, unknown>): Answer {
    const query = typeof body.select_query === 'string' ? body.select_query : '';
    const shape = /^select (.+) from Contacts where (.+) order by Modified_Time asc, id asc limit (\d+)(?:\s*,\s*(\d+))?$/i.exec(query.trim());
    if (!shape) return error(400, 'SYNTAX_ERROR', `error at or near the query: ${query.slice(0, 80)}`);
    const selected = shape[1]!.split(',').map((field) => field.trim());
    if (selected.length > 50) return error(400, 'LIMIT_EXCEEDED_FIELDS', 'at most 50 fields in a select');
    const offset = shape[4] === undefined ? 0 : Number(shape[3]);
    const limit = Number(shape[4] ?? shape[3]);
    if (limit > 2000) return error(400, 'LIMIT_EXCEEDED_RECORDS', 'limit is at most 2000');
    const filters: ((record: FakeCrmRecord) => boolean)[] = [];
    for (const condition of shape[2]!.split(/ and (?![^()]*\))/)) {
      const trimmed = condition.trim();
      let parts: RegExpExecArray | null;
      if (trimmed === 'Modified_Time is not null') continue;
      if ((parts = /^Modified_Time >= '([^']+)'$/.exec(trimmed))) {
        const from = Date.parse(parts[1]!);
        filters.push((record) => record.modifiedAt >= from);
      } else if ((parts = /^\(Modified_Time > '([^']+)' or \(Modified_Time = '([^']+)' and id > (\d+)\)\)$/.exec(trimmed))) {
        const at = Date.parse(parts[1]!);
        const id = parts[3]!;
        filters.push((record) => record.modifiedAt > at || (record.modifiedAt === at && record.externalId > id));
      } else return error(400, 'SYNTAX_ERROR', `unsupported condition: ${trimmed}`);
    }
    const rows = this.data
      .live()
      .filter((record) => filters.every((filter) => filter(record)))
      .sort((a, b) => a.modifiedAt - b.modifiedAt || (a.externalId < b.externalId ? -1 : 1));
    const page = rows.slice(offset, offset + limit);
    if (page.length === 0) return { status: 204 };
    return ok({
      data: page.map((record) => this.project(record, selected)),
      info: { count: page.length, more_records: rows.length > offset + limit },
    });
  }

  private getByIds(q: URLSearchParams): Answer {
    const fields = (q.get('fields') ?? '').split(',').filter(Boolean);
    if (fields.length === 0) return error(400, 'REQUIRED_PARAM_MISSING', 'One of the expected parameter is missing', { param: 'fields' });
    if (fields.length > 50) return error(400, 'INVALID_DATA', 'at most 50 fields can be requested', { param: 'fields' });
    const ids = (q.get('ids') ?? '').split(',').filter(Boolean);
    if (ids.length === 0 || ids.length > 100) return error(400, 'INVALID_DATA', 'ids: between 1 and 100', { param: 'ids' });
    const found = ids
      .map((id) => this.data.records.get(id))
      .filter((record): record is FakeCrmRecord => record !== undefined && record.deletedAt === null);
    if (found.length === 0) return { status: 204 };
    return ok({ data: found.map((record) => this.project(record, fields)), info: { count: found.length, more_records: false } });
  }

  private project(record: FakeCrmRecord, fields: string[]): Record<string, unknown> {
    const row: Record<string, unknown> = { id: record.externalId };
    for (const field of fields) {
      if (field === 'id') continue;
      if (field === 'Modified_Time') row.Modified_Time = zohoTime(record.modifiedAt);
      else if (field === 'Account_Name') {
        const name = record.fields.Account_Name;
        row.Account_Name = typeof name === 'string' && name ? { name, id: this.accountId(name) } : null;
      } else row[field] = record.fields[field] ?? null;
    }
    return row;
  }

  private write(body: Record<string, unknown>, update: boolean): Answer {
    const rows = body.data;
    if (!Array.isArray(rows) || rows.length === 0) return error(400, 'INVALID_DATA', 'data is required');
    if (rows.length > 100) return error(400, 'LIMIT_EXCEEDED_RECORDS', 'at most 100 records');
    const known = new Map((this.data.customFields as Custom[]).map((field) => [field.name, field]));
    const results = (rows as Record<string, unknown>[]).map((row) => {
      let record: FakeCrmRecord | undefined;
      if (update) {
        record = this.data.records.get(String(row.id));
        if (!record || record.deletedAt !== null) return failure('INVALID_DATA', 'the id given seems to be invalid', { id: String(row.id) });
      }
      const fields: Record<string, CrmValue> = {};
      for (const [key, value] of Object.entries(row)) {
        if (key === 'id') continue;
        if (key === 'Account_Name') {
          if (value === null) fields.Account_Name = null;
          else {
            const id = (value as { id?: unknown } | null)?.id;
            if (typeof id !== 'string' || !this.accounts.has(id)) return failure('INVALID_DATA', 'invalid data', { api_name: key });
            fields.Account_Name = this.accounts.get(id)!;
          }
          continue;
        }
        const custom = known.get(key);
        if (!custom && !STANDARD.includes(key)) return failure('INVALID_DATA', 'invalid data', { api_name: key });
        if (custom?.type === 'number' && value !== null && typeof value !== 'number')
          return failure('INVALID_DATA', 'invalid data', { api_name: key, expected_data_type: 'double' });
        if (custom?.type === 'picklist' && value !== null && !(custom.picklistValues ?? []).includes(String(value)))
          return failure('INVALID_DATA', 'invalid data', { api_name: key, expected_data_type: 'picklist' });
        fields[key] = value as CrmValue;
      }
      if (!update && (typeof fields.Last_Name !== 'string' || fields.Last_Name === ''))
        return failure('MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'Last_Name' });
      const written = record ? this.data.edit(record.externalId, fields) : this.data.create(fields);
      const stamp = zohoTime(written.modifiedAt);
      return {
        code: 'SUCCESS',
        details: {
          Modified_Time: stamp,
          Modified_By: { name: 'Fake Admin', id: '1' },
          Created_Time: stamp,
          id: written.externalId,
          Created_By: { name: 'Fake Admin', id: '1' },
        },
        message: update ? 'record updated' : 'record added',
        status: 'success',
      };
    });
    const anyOk = results.some((result) => result.status === 'success');
    return { status: anyOk ? (update ? 200 : 201) : 400, body: { data: results } };
  }

  private remove(q: URLSearchParams): Answer {
    const ids = (q.get('ids') ?? '').split(',').filter(Boolean);
    if (ids.length === 0 || ids.length > 100) return error(400, 'INVALID_DATA', 'ids: between 1 and 100');
    const results = ids.map((id) => {
      const record = this.data.records.get(id);
      if (!record || record.deletedAt !== null) return failure('INVALID_DATA', 'the id given seems to be invalid', { id });
      this.data.remove(id);
      return { code: 'SUCCESS', details: { id }, message: 'record deleted', status: 'success' };
    });
    return { status: results.some((result) => result.status === 'success') ? 200 : 400, body: { data: results } };
  }

  private deleted(q: URLSearchParams, ifModifiedSince: string | undefined): Answer {
    const since = ifModifiedSince ? Date.parse(ifModifiedSince) : -Infinity;
    if (Number.isNaN(since)) return error(400, 'INVALID_DATA', 'If-Modified-Since is not a datetime');
    const page = Number(q.get('page') ?? 1);
    const perPage = Math.min(Number(q.get('per_page') ?? 200), 200);
    // Zoho lists the most recent deletions first.
    const rows = [...this.data.records.values()]
      .filter((record) => record.deletedAt !== null && record.deletedAt >= since)
      .sort((a, b) => b.deletedAt! - a.deletedAt! || (a.externalId < b.externalId ? 1 : -1));
    const slice = rows.slice((page - 1) * perPage, page * perPage);
    if (slice.length === 0) return { status: 204 };
    return ok({
      data: slice.map((record) => ({
        deleted_by: { name: 'Fake Admin', id: '1' },
        id: record.externalId,
        display_name: [record.fields.First_Name, record.fields.Last_Name].filter(Boolean).join(' '),
        type: 'recycle',
        created_by: { name: 'Fake Admin', id: '1' },
        deleted_time: zohoTime(record.deletedAt!),
      })),
      info: { per_page: perPage, count: slice.length, page, more_records: rows.length > page * perPage },
    });
  }

  private relatedList(contactId: string, module: 'Tasks' | 'Deals', q: URLSearchParams): Answer {
    if (!q.get('fields')) return error(400, 'REQUIRED_PARAM_MISSING', 'One of the expected parameter is missing', { param: 'fields' });
    const page = Number(q.get('page') ?? 1);
    const perPage = Math.min(Number(q.get('per_page') ?? 200), 200);
    const rows = this.related.filter((row) => row.module === module && row.contactId === contactId);
    const slice = rows.slice((page - 1) * perPage, page * perPage);
    if (slice.length === 0) return { status: 204 };
    return ok({
      data: slice.map((row) => ({ id: row.id, ...row.record })),
      info: { page, per_page: perPage, count: slice.length, more_records: rows.length > page * perPage },
    });
  }

  private insertOther(module: 'Accounts' | 'Tasks' | 'Deals', body: Record<string, unknown>): Answer {
    const row = Array.isArray(body.data) ? (body.data[0] as Record<string, unknown> | undefined) : undefined;
    if (!row || (body.data as unknown[]).length !== 1) return error(400, 'INVALID_DATA', 'the fake takes one record at a time here');
    const id = this.data.nextId();
    const done = {
      status: 201,
      body: { data: [{ code: 'SUCCESS', details: { id, Modified_Time: zohoTime(this.data.tick()) }, message: 'record added', status: 'success' }] },
    };
    if (module === 'Accounts') {
      if (typeof row.Account_Name !== 'string' || !row.Account_Name)
        return { status: 400, body: { data: [failure('MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'Account_Name' })] } };
      this.accounts.set(id, row.Account_Name);
      return done;
    }
    const link = module === 'Tasks' ? row.Who_Id : row.Contact_Name;
    const contactId = String((link as { id?: unknown } | undefined)?.id ?? '');
    const contact = this.data.records.get(contactId);
    if (!contact || contact.deletedAt !== null)
      return { status: 400, body: { data: [failure('INVALID_DATA', 'invalid data', { api_name: module === 'Tasks' ? 'Who_Id' : 'Contact_Name' })] } };
    const description = typeof row.Description === 'string' ? row.Description : '';
    if (module === 'Tasks') {
      if (typeof row.Subject !== 'string' || !row.Subject)
        return { status: 400, body: { data: [failure('MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'Subject' })] } };
      this.related.push({ id, contactId, module, record: { Subject: row.Subject, Description: description } });
      this.data.activities.push({ externalId: id, contactExternalId: contactId, subject: row.Subject, body: description, marker: description });
      return done;
    }
    for (const required of ['Deal_Name', 'Stage', 'Closing_Date'])
      if (typeof row[required] !== 'string' || !row[required])
        return { status: 400, body: { data: [failure('MANDATORY_NOT_FOUND', 'required field not found', { api_name: required })] } };
    if (!DEAL_STAGES.includes(String(row.Stage)))
      return { status: 400, body: { data: [failure('INVALID_DATA', 'invalid data', { api_name: 'Stage' })] } };
    const amount = typeof row.Amount === 'number' ? row.Amount : null;
    this.related.push({ id, contactId, module, record: { Deal_Name: row.Deal_Name, Amount: amount, Stage: row.Stage, Description: description } });
    this.data.deals.push({
      externalId: id,
      contactExternalId: contactId,
      name: String(row.Deal_Name),
      amount,
      stage: String(row.Stage),
      marker: description,
    });
    return done;
  }

  private accountId(name: string): string {
    for (const [id, known] of this.accounts) if (known === name) return id;
    const id = this.data.nextId();
    this.accounts.set(id, name);
    return id;
  }
}

function zohoTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

function ok(body: unknown): Answer {
  return { status: 200, body };
}

function error(status: number, code: string, message: string, details: Record<string, unknown> = {}): Answer {
  return { status, body: { code, details, message, status: 'error' } };
}

function failure(code: string, message: string, details: Record<string, unknown>) {
  return { code, details, message, status: 'error' as const };
}

function send(res: ServerResponse, answer: Answer): void {
  if (answer.status === 204) {
    res.writeHead(204, answer.headers ?? {});
    res.end();
    return;
  }
  const text = JSON.stringify(answer.body ?? {});
  res.writeHead(answer.status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text), ...answer.headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
