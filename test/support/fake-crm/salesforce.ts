import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CrmValue } from '../../../projectors/integrations/ports.ts';
import { FakeCrmData, type FakeCrmRecord, type FakeCrmServer } from './fake-crm.ts';

/**
 * A loopback Salesforce: the OAuth 2 web-server flow (PKCE S256), the identity URL and the REST API
 * (`/services/data/vXX.X/…`) as jsforce calls them, over one {@link FakeCrmData}. Login host and instance are
 * this one server (the token answer's `instance_url` is its own URL).
 *
 * What it speaks (Salesforce REST API Developer Guide):
 * - `POST /services/oauth2/token` (authorization_code with code_verifier checked against the S256 challenge,
 *   refresh_token): access_token, instance_url, id (identity URL), issued_at, signature, scope, token_type;
 *   errors as `{ error, error_description }` with 400 (invalid_grant, invalid_client). No `expires_in`:
 *   Salesforce does not send one; `POST /services/oauth2/introspect` answers the token's `exp`.
 * - `POST /services/oauth2/revoke`, `GET /id/<orgId>/<userId>`.
 * - `GET /sobjects/Contact/describe`, `GET /query` and `/queryAll` with a small SOQL dialect (SELECT fields FROM
 *   object [WHERE …] [ORDER BY …] [LIMIT n]; AND, OR, parentheses, = != < <= > >=, IN, datetime and quoted
 *   literals with backslash escapes) and `nextRecordsUrl` paging (batches of 2,000, or `Sforce-Query-Options:
 *   batchSize=n`), `GET /sobjects/Contact/deleted/?start=&end=`.
 * - sObject Collections: `POST /composite/sobjects` (create), `PATCH` (update), `DELETE ?ids=` (delete), each
 *   with per-record results under allOrNone=false; `POST /composite/sobjects/Contact` (retrieve by ids, the
 *   fields in the body); `POST /sobjects/Task` and `/sobjects/Opportunity`.
 * - Limits: every API answer carries `Sforce-Limit-Info: api-usage=n/15000`; a spent daily quota answers 403
 *   `REQUEST_LIMIT_EXCEEDED` ("TotalRequests Limit exceeded."); `rateLimitNext` answers 429 with Retry-After;
 *   an unknown, expired or revoked token answers 401 `INVALID_SESSION_ID`; a request target over 16,384 bytes
 *   answers 414.
 *
 * Stamps are kept at the millisecond (real Salesforce stores whole seconds; the adapter must work with both).
 *
 * Salesforce has no signed webhooks of its own: ours is a Flow or Apex HTTP callout that posts a JSON list of
 * Contact ids and signs it (`X-NexusFlow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`),
 * which {@link FakeCrmServer.webhook} produces.
 */

const API_DAILY_LIMIT = 15_000;
const MAX_REQUEST_TARGET = 16_384;
const ORG_ID = '00D5g000004FakeEAA';
const USER_ID = '0055g000001FakeAAA';
const ORG_NAME = 'Fake Salesforce Org';
const ACCESS_TOKEN_LIFETIME_MS = 2 * 60 * 60_000;

interface Consent {
  redirectUri: string;
  codeChallenge: string | null;
  used: boolean;
}

export interface TaskRow {
  Id: string;
  WhoId: string;
  Subject: string;
  Description: string | null;
  Status: string;
}
export interface OpportunityRow {
  Id: string;
  ContactId: string | null;
  Name: string;
  Amount: number | null;
  StageName: string;
  CloseDate: string;
  Description: string | null;
}

const STAGES = ['Prospecting', 'Qualification', 'Needs Analysis', 'Proposal/Price Quote', 'Closed Won', 'Closed Lost'];

/** Standard Contact fields the fake describes: [name, label, SOAP type, updateable]. */
const STANDARD_CONTACT_FIELDS: [string, string, string, boolean][] = [
  ['Id', 'Contact ID', 'id', false],
  ['IsDeleted', 'Deleted', 'boolean', false],
  ['FirstName', 'First Name', 'string', true],
  ['LastName', 'Last Name', 'string', true],
  ['Email', 'Email', 'email', true],
  ['Phone', 'Business Phone', 'phone', true],
  ['Title', 'Title', 'string', true],
  ['Department', 'Department', 'string', true],
  ['Birthdate', 'Birthdate', 'date', true],
  ['CreatedDate', 'Created Date', 'datetime', false],
  ['LastModifiedDate', 'Last Modified Date', 'datetime', false],
  ['SystemModstamp', 'System Modstamp', 'datetime', false],
];

export class SalesforceError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

/** The fake's Salesforce-only knobs and tables, for Salesforce-specific tests. */
export interface FakeSalesforceServer extends FakeCrmServer {
  /** What the token answer names as `instance_url` (null: this server), e.g. a private address the policy refuses. */
  answerInstanceUrl: string | null;
  readonly tasks: readonly TaskRow[];
  readonly opportunities: readonly OpportunityRow[];
}

export async function startFakeSalesforce(): Promise<FakeSalesforceServer> {
  const fake = new FakeSalesforce();
  await fake.listen();
  return fake;
}

class FakeSalesforce implements FakeSalesforceServer {
  readonly provider = 'salesforce' as const;
  readonly clientId = `3MVG9${randomBytes(12).toString('hex')}`;
  readonly clientSecret = randomBytes(16).toString('hex').toUpperCase();
  readonly standardFields = { email: 'Email', firstName: 'FirstName', lastName: 'LastName', company: 'Department', phone: 'Phone' };
  readonly data = new FakeCrmData('003');
  readonly requests: { method: string; path: string }[] = [];
  readonly env: Record<string, string> = {};
  readonly tasks: TaskRow[] = [];
  readonly opportunities: OpportunityRow[] = [];
  baseUrl = '';
  answerInstanceUrl: string | null = null;

  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly consents = new Map<string, Consent>();
  /** access token → its refresh token (null: none) and expiry. */
  private readonly accessTokens = new Map<string, { refreshToken: string | null; expiresAt: number }>();
  private readonly refreshTokens = new Set<string>();
  private readonly queryLocators = new Map<string, Record<string, unknown>[]>();
  private rateLimited = { times: 0, retryAfterSeconds: 0 };
  private quotaExhausted = false;
  private apiUsage = 0;
  private otherSequence = 0;

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  authorize(authorizationUrl: string): Promise<{ code: string; state: string; redirectUri: string }> {
    const url = new URL(authorizationUrl);
    const params = url.searchParams;
    if (url.origin !== this.baseUrl || url.pathname !== '/services/oauth2/authorize')
      throw new Error(`not this server's authorize URL: ${authorizationUrl}`);
    if (params.get('response_type') !== 'code') throw new Error('response_type must be code');
    if (params.get('client_id') !== this.clientId) throw new Error('unknown client_id');
    const redirectUri = params.get('redirect_uri');
    if (!redirectUri) throw new Error('redirect_uri missing');
    const method = params.get('code_challenge_method');
    if (method !== null && method !== 'S256') throw new Error('only S256 challenges');
    const code = `aPrx${randomBytes(24).toString('base64url')}`;
    this.consents.set(code, { redirectUri, codeChallenge: params.get('code_challenge'), used: false });
    return Promise.resolve({ code, state: params.get('state') ?? '', redirectUri });
  }

  rateLimitNext(times: number, retryAfterSeconds: number): void {
    this.rateLimited = { times, retryAfterSeconds };
  }

  exhaustQuota(exhausted: boolean): void {
    this.quotaExhausted = exhausted;
  }

  expireAccessTokens(): void {
    for (const token of this.accessTokens.values()) token.expiresAt = 0;
  }

  revokeGrant(): void {
    this.refreshTokens.clear();
    this.accessTokens.clear();
  }

  webhook(externalIds: string[], secrets: { integrationSecret: string }) {
    const body = JSON.stringify(externalIds);
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', secrets.integrationSecret).update(`${t}.${body}`).digest('hex');
    return {
      method: 'POST',
      path: '/integrations/salesforce/webhook',
      headers: { 'Content-Type': 'application/json', 'X-NexusFlow-Signature': `t=${t},v1=${v1}` },
      body,
    };
  }

  // HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const target = req.url ?? '/';
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: target });
    try {
      if (target.length > MAX_REQUEST_TARGET) return send(res, 414, 'URI Too Long', 'text/html');
      const url = new URL(target, this.baseUrl);
      if (url.pathname.startsWith('/services/oauth2/')) return this.oauth(method, url, raw, res);
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const session = token ? this.accessTokens.get(token) : undefined;
      if (!session || session.expiresAt <= Date.now())
        return sendJson(res, 401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
      if (url.pathname === `/id/${ORG_ID}/${USER_ID}`) return sendJson(res, 200, this.identity());
      const api = /^\/services\/data\/v\d+\.\d+(\/.*)$/.exec(url.pathname);
      if (!api) return sendJson(res, 404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
      if (this.quotaExhausted)
        return sendJson(res, 403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }], this.limitHeaders());
      if (this.rateLimited.times > 0) {
        this.rateLimited.times -= 1;
        return sendJson(res, 429, [{ message: 'Too many requests', errorCode: 'REQUEST_LIMIT_EXCEEDED' }], {
          'Retry-After': String(this.rateLimited.retryAfterSeconds),
          ...this.limitHeaders(),
        });
      }
      this.apiUsage += 1;
      const answer = this.api(method, api[1]!, url, raw, req);
      return sendJson(res, answer.status, answer.body, { ...this.limitHeaders(), ...answer.headers });
    } catch (err) {
      if (err instanceof SalesforceError) return sendJson(res, err.status, [{ message: err.message, errorCode: err.errorCode }], this.limitHeaders());
      return sendJson(res, 500, [{ message: String(err), errorCode: 'UNKNOWN_EXCEPTION' }]);
    }
  }

  private limitHeaders(): Record<string, string> {
    return { 'Sforce-Limit-Info': `api-usage=${this.apiUsage}/${API_DAILY_LIMIT}` };
  }

  private oauth(method: string, url: URL, raw: string, res: ServerResponse): void {
    const form = new URLSearchParams(raw);
    const oauthError = (error: string, description: string) => sendJson(res, 400, { error, error_description: description });
    if (method !== 'POST') return oauthError('invalid_request', 'must use HTTP POST');
    switch (url.pathname) {
      case '/services/oauth2/token': {
        if (form.get('client_id') !== this.clientId || form.get('client_secret') !== this.clientSecret)
          return oauthError('invalid_client', 'invalid client credentials');
        if (form.get('grant_type') === 'authorization_code') {
          const consent = this.consents.get(form.get('code') ?? '');
          if (!consent || consent.used) return oauthError('invalid_grant', 'invalid authorization code');
          if (consent.redirectUri !== form.get('redirect_uri')) return oauthError('invalid_grant', 'redirect_uri mismatch');
          if (consent.codeChallenge !== null) {
            const verifier = form.get('code_verifier') ?? '';
            if (!safeEqual(createHash('sha256').update(verifier).digest('base64url'), consent.codeChallenge))
              return oauthError('invalid_grant', 'invalid code verifier');
          }
          consent.used = true;
          const refreshToken = `5Aep${randomBytes(32).toString('base64url')}`;
          this.refreshTokens.add(refreshToken);
          return sendJson(res, 200, { ...this.issue(refreshToken), refresh_token: refreshToken });
        }
        if (form.get('grant_type') === 'refresh_token') {
          const refreshToken = form.get('refresh_token') ?? '';
          if (!this.refreshTokens.has(refreshToken)) return oauthError('invalid_grant', 'expired access/refresh token');
          return sendJson(res, 200, this.issue(refreshToken));
        }
        return oauthError('unsupported_grant_type', 'grant type not supported');
      }
      case '/services/oauth2/revoke': {
        const token = form.get('token') ?? '';
        if (this.refreshTokens.delete(token)) {
          for (const [access, session] of this.accessTokens) if (session.refreshToken === token) this.accessTokens.delete(access);
          return send(res, 200, '', 'text/plain');
        }
        if (this.accessTokens.delete(token)) return send(res, 200, '', 'text/plain');
        return oauthError('unsupported_token_type', 'this token type is not supported');
      }
      case '/services/oauth2/introspect': {
        if (form.get('client_id') !== this.clientId || form.get('client_secret') !== this.clientSecret)
          return oauthError('invalid_client', 'invalid client credentials');
        const session = this.accessTokens.get(form.get('token') ?? '');
        if (!session || session.expiresAt <= Date.now()) return sendJson(res, 200, { active: false });
        return sendJson(res, 200, {
          active: true,
          scope: 'api refresh_token',
          client_id: this.clientId,
          username: 'admin@fake-org.example',
          sub: `${this.baseUrl}/id/${ORG_ID}/${USER_ID}`,
          token_type: 'access_token',
          exp: Math.floor(session.expiresAt / 1000),
          iat: Math.floor((session.expiresAt - ACCESS_TOKEN_LIFETIME_MS) / 1000),
        });
      }
      default:
        return sendJson(res, 404, { error: 'not_found', error_description: url.pathname });
    }
  }

  private issue(refreshToken: string) {
    const accessToken = `${ORG_ID}!${randomBytes(40).toString('base64url')}`;
    this.accessTokens.set(accessToken, { refreshToken, expiresAt: Date.now() + ACCESS_TOKEN_LIFETIME_MS });
    const id = `${this.baseUrl}/id/${ORG_ID}/${USER_ID}`;
    const issuedAt = String(Date.now());
    return {
      access_token: accessToken,
      signature: createHmac('sha256', this.clientSecret)
        .update(id + issuedAt)
        .digest('base64'),
      scope: 'refresh_token api',
      instance_url: this.answerInstanceUrl ?? this.baseUrl,
      id,
      token_type: 'Bearer',
      issued_at: issuedAt,
    };
  }

  private identity() {
    return {
      id: `${this.baseUrl}/id/${ORG_ID}/${USER_ID}`,
      asserted_user: true,
      user_id: USER_ID,
      organization_id: ORG_ID,
      username: 'admin@fake-org.example',
      nick_name: 'admin',
      display_name: 'Fake Admin',
      email: 'admin@fake-org.example',
      urls: { rest: `${this.baseUrl}/services/data/v{version}/`, query: `${this.baseUrl}/services/data/v{version}/query/` },
      active: true,
      user_type: 'STANDARD',
      language: 'en_US',
      locale: 'en_US',
      utcOffset: 0,
    };
  }

  private api(method: string, path: string, url: URL, raw: string, req: IncomingMessage): Answer {
    const body = () => parseJson(raw);
    const route = `${method} ${path.replace(/\/$/, '')}`;
    if (route === 'GET /sobjects/Contact/describe') return ok(this.describeContact());
    if (route === 'GET /query' || route === 'GET /queryAll') {
      const batch = /batchSize=(\d+)/.exec(String(req.headers['sforce-query-options'] ?? ''))?.[1];
      return ok(this.query(url.searchParams.get('q') ?? '', route === 'GET /queryAll', batch ? Math.max(200, Math.min(2000, Number(batch))) : 2000));
    }
    const more = /^GET \/query\/([\w-]+)$/.exec(route);
    if (more) return ok(this.queryMore(more[1]!));
    if (route === 'GET /sobjects/Contact/deleted') return ok(this.getDeleted(url.searchParams));
    if (route === 'POST /composite/sobjects') return ok(this.collection(body(), 'create'));
    if (route === 'PATCH /composite/sobjects') return ok(this.collection(body(), 'update'));
    if (route === 'DELETE /composite/sobjects') return ok(this.deleteMany((url.searchParams.get('ids') ?? '').split(',').filter(Boolean)));
    if (route === 'POST /composite/sobjects/Contact') return ok(this.retrieveMany(body()));
    if (route === 'POST /sobjects/Task') return created(this.createTask(body()));
    if (route === 'POST /sobjects/Opportunity') return created(this.createOpportunity(body()));
    if (route === 'POST /sobjects/Contact') {
      const [result] = this.collection({ allOrNone: true, records: [{ attributes: { type: 'Contact' }, ...(body() as object) }] }, 'create');
      if (!result!.success) throw new SalesforceError(400, result!.errors[0]!.statusCode, result!.errors[0]!.message);
      return created(result);
    }
    throw new SalesforceError(404, 'NOT_FOUND', `The requested resource does not exist: ${route}`);
  }

  // Contacts as rows

  private contactFieldTypes(): Map<string, { label: string; type: string; updateable: boolean; custom: boolean; picklist?: string[] }> {
    const types = new Map<string, { label: string; type: string; updateable: boolean; custom: boolean; picklist?: string[] }>();
    for (const [name, label, type, updateable] of STANDARD_CONTACT_FIELDS) types.set(name, { label, type, updateable, custom: false });
    for (const custom of this.data.customFields) {
      const type = custom.type === 'number' ? 'double' : custom.type;
      types.set(custom.name, {
        label: custom.label,
        type,
        updateable: true,
        custom: true,
        ...(custom.picklistValues ? { picklist: custom.picklistValues } : {}),
      });
    }
    return types;
  }

  private describeContact() {
    const fields = [...this.contactFieldTypes()].map(([name, field]) => ({
      name,
      label: field.label,
      type: field.type,
      custom: field.custom,
      updateable: field.updateable,
      createable: field.updateable,
      nillable: name !== 'LastName' && field.updateable,
      filterable: true,
      length: field.type === 'string' ? 255 : 0,
      picklistValues: (field.picklist ?? []).map((value) => ({ active: true, defaultValue: false, label: value, validFor: null, value })),
    }));
    return { name: 'Contact', label: 'Contact', custom: false, keyPrefix: '003', queryable: true, updateable: true, fields };
  }

  /** Rows as last made, per record and stamp: a query over tens of thousands of records must not remake them all. */
  private readonly rowCache = new WeakMap<FakeCrmRecord, { key: string; row: Record<string, unknown> }>();

  private contactRow(record: FakeCrmRecord): Record<string, unknown> {
    const key = `${record.version ?? 0}/${record.modifiedAt}/${record.deletedAt}`;
    const cached = this.rowCache.get(record);
    if (cached && cached.key === key) return cached.row;
    const row = this.makeContactRow(record);
    this.rowCache.set(record, { key, row });
    return row;
  }

  private makeContactRow(record: FakeCrmRecord): Record<string, unknown> {
    const stamp = Math.max(record.modifiedAt, record.deletedAt ?? 0);
    return {
      ...record.fields,
      Id: record.externalId,
      IsDeleted: record.deletedAt !== null,
      SystemModstamp: sfDateTime(stamp),
      LastModifiedDate: sfDateTime(stamp),
      CreatedDate: sfDateTime(record.modifiedAt),
    };
  }

  private rows(
    object: string,
    includeDeleted: boolean,
  ): { rows: Record<string, unknown>[]; fields: Set<string>; filterable: (field: string) => boolean } {
    switch (object) {
      case 'Contact': {
        const records = [...this.data.records.values()].filter((r) => includeDeleted || r.deletedAt === null);
        return { rows: records.map((r) => this.contactRow(r)), fields: new Set(this.contactFieldTypes().keys()), filterable: () => true };
      }
      case 'Task':
        return {
          rows: this.tasks.map((t) => ({ ...t })),
          fields: new Set(['Id', 'WhoId', 'Subject', 'Description', 'Status']),
          filterable: (field) => field !== 'Description',
        };
      case 'Opportunity':
        return {
          rows: this.opportunities.map((o) => ({ ...o })),
          fields: new Set(['Id', 'ContactId', 'Name', 'Amount', 'StageName', 'CloseDate', 'Description']),
          filterable: (field) => field !== 'Description',
        };
      case 'OpportunityStage':
        return {
          rows: STAGES.map((stage, i) => ({
            Id: `01J5g00000000${i}`,
            MasterLabel: stage,
            ApiName: stage,
            IsActive: true,
            IsClosed: i >= 4,
            SortOrder: i + 1,
          })),
          fields: new Set(['Id', 'MasterLabel', 'ApiName', 'IsActive', 'IsClosed', 'SortOrder']),
          filterable: () => true,
        };
      case 'Organization':
        return { rows: [{ Id: ORG_ID, Name: ORG_NAME }], fields: new Set(['Id', 'Name']), filterable: () => true };
      default:
        throw new SalesforceError(400, 'INVALID_TYPE', `sObject type '${object}' is not supported.`);
    }
  }

  private query(soql: string, all: boolean, batchSize: number) {
    const parsed = parseSoql(soql);
    const table = this.rows(parsed.from, all);
    const unknown = [...parsed.select, ...parsed.orderBy.map((o) => o.field), ...fieldsOf(parsed.where)].find((field) => !table.fields.has(field));
    if (unknown) throw new SalesforceError(400, 'INVALID_FIELD', `No such column '${unknown}' on entity '${parsed.from}'.`);
    const unfilterable = fieldsOf(parsed.where).find((field) => !table.filterable(field));
    if (unfilterable) throw new SalesforceError(400, 'INVALID_FIELD', `field '${unfilterable}' can not be filtered in a query call`);
    let rows = table.rows.filter((row) => (parsed.where ? evaluate(parsed.where, row) : true));
    rows.sort((a, b) => {
      for (const { field, descending } of parsed.orderBy) {
        const order = compareValues(a[field], b[field]);
        if (order !== 0) return descending ? -order : order;
      }
      return 0;
    });
    if (parsed.limit !== null) rows = rows.slice(0, parsed.limit);
    const shaped = rows.map((row) => ({
      attributes: { type: parsed.from, url: `/services/data/v62.0/sobjects/${parsed.from}/${String(row.Id)}` },
      ...Object.fromEntries(parsed.select.map((field) => [field, row[field] ?? null])),
    }));
    return this.batch(shaped, batchSize, shaped.length);
  }

  private batch(records: Record<string, unknown>[], batchSize: number, totalSize: number) {
    if (records.length <= batchSize) return { totalSize, done: true, records };
    const locator = `01g5g0000${randomBytes(6).toString('hex')}`;
    this.queryLocators.set(locator, records.slice(batchSize));
    return { totalSize, done: false, nextRecordsUrl: `/services/data/v62.0/query/${locator}-${batchSize}`, records: records.slice(0, batchSize) };
  }

  private queryMore(locatorAndOffset: string) {
    const [locator, size] = locatorAndOffset.split('-');
    const rest = this.queryLocators.get(locator ?? '');
    if (!rest) throw new SalesforceError(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator');
    this.queryLocators.delete(locator!);
    const batchSize = Number(size) || 2000;
    return this.batch(rest, batchSize, rest.length);
  }

  private getDeleted(params: URLSearchParams) {
    const start = parseDateTime(params.get('start') ?? '');
    const end = parseDateTime(params.get('end') ?? '');
    if (start === null || end === null) throw new SalesforceError(400, 'INVALID_REPLICATION_DATE', 'start and end must be valid dateTimes');
    const deletedRecords = [...this.data.records.values()]
      .filter((r) => r.deletedAt !== null && r.deletedAt >= start && r.deletedAt <= end)
      .map((r) => ({ id: r.externalId, deletedDate: sfDateTime(r.deletedAt!) }));
    return {
      deletedRecords,
      earliestDateAvailable: sfDateTime(this.data.now - 15 * 86_400_000),
      latestDateCovered: sfDateTime(Math.min(end, this.data.now)),
    };
  }

  private collection(body: unknown, operation: 'create' | 'update'): SaveResult[] {
    const { records, allOrNone } = (body ?? {}) as { records?: Record<string, unknown>[]; allOrNone?: boolean };
    if (!Array.isArray(records)) throw new SalesforceError(400, 'JSON_PARSER_ERROR', 'records is required');
    if (records.length > 200)
      throw new SalesforceError(400, 'EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 200 records into this call');
    const types = this.contactFieldTypes();
    const results = records.map((input): SaveResult => {
      const { attributes, id, Id, ...fields } = input as { attributes?: { type?: string }; id?: string; Id?: string } & Record<string, CrmValue>;
      if (attributes?.type !== 'Contact') return failed(null, 'INVALID_TYPE', `sObject type '${String(attributes?.type)}' is not supported here`);
      const recordId = (id ?? Id ?? null) as string | null;
      for (const name of Object.keys(fields)) {
        const type = types.get(name);
        if (!type) return failed(recordId, 'INVALID_FIELD', `No such column '${name}' on sobject of type Contact`, [name]);
        if (!type.updateable) return failed(recordId, 'INVALID_FIELD_FOR_INSERT_UPDATE', `Unable to create/update fields: ${name}.`, [name]);
      }
      const email = fields.Email;
      if (typeof email === 'string' && email !== '' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
        return failed(recordId, 'INVALID_EMAIL_ADDRESS', `Email: invalid email address: ${email}`, ['Email']);
      if (operation === 'create') {
        if (recordId !== null) return failed(null, 'INVALID_FIELD', 'cannot specify Id in an insert call', ['Id']);
        if (typeof fields.LastName !== 'string' || fields.LastName === '')
          return failed(null, 'REQUIRED_FIELD_MISSING', 'Required fields are missing: [LastName]', ['LastName']);
        return { id: this.data.create(fields).externalId, success: true, errors: [] };
      }
      const record = recordId ? this.data.records.get(recordId) : undefined;
      if (!record)
        return failed(
          recordId,
          recordId && /^[a-zA-Z0-9]{15,18}$/.test(recordId) ? 'INVALID_CROSS_REFERENCE_KEY' : 'MALFORMED_ID',
          `invalid cross reference id`,
        );
      if (record.deletedAt !== null) return failed(recordId, 'ENTITY_IS_DELETED', 'entity is deleted');
      if (fields.LastName === '' || fields.LastName === null)
        return failed(recordId, 'REQUIRED_FIELD_MISSING', 'Required fields are missing: [LastName]', ['LastName']);
      this.data.edit(record.externalId, fields);
      return { id: record.externalId, success: true, errors: [] };
    });
    if (allOrNone && results.some((r) => !r.success))
      throw new SalesforceError(400, 'ALL_OR_NONE_OPERATION_ROLLED_BACK', 'not emulated: send allOrNone=false');
    return results;
  }

  private deleteMany(ids: string[]): SaveResult[] {
    if (ids.length > 200)
      throw new SalesforceError(400, 'EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 200 records into this call');
    return ids.map((id) => {
      const record = this.data.records.get(id);
      if (!record) return failed(id, 'INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id');
      if (record.deletedAt !== null) return failed(id, 'ENTITY_IS_DELETED', 'entity is deleted');
      this.data.remove(id);
      return { id, success: true, errors: [] };
    });
  }

  private retrieveMany(body: unknown) {
    const { ids, fields } = (body ?? {}) as { ids?: string[]; fields?: string[] };
    if (!Array.isArray(ids) || !Array.isArray(fields)) throw new SalesforceError(400, 'JSON_PARSER_ERROR', 'ids and fields are required');
    if (ids.length > 2000) throw new SalesforceError(400, 'EXCEEDED_ID_LIMIT', 'too many ids');
    const types = this.contactFieldTypes();
    const unknown = fields.find((field) => !types.has(field));
    if (unknown) throw new SalesforceError(400, 'INVALID_FIELD', `No such column '${unknown}' on entity 'Contact'.`);
    return ids.map((id) => {
      const record = this.data.records.get(id);
      if (!record || record.deletedAt !== null) return null;
      const row = this.contactRow(record);
      return {
        attributes: { type: 'Contact', url: `/services/data/v62.0/sobjects/Contact/${id}` },
        ...Object.fromEntries(fields.map((f) => [f, row[f] ?? null])),
      };
    });
  }

  private createTask(body: unknown): SaveResult {
    const input = (body ?? {}) as Partial<TaskRow>;
    const contact = input.WhoId ? this.data.records.get(input.WhoId) : undefined;
    if (!contact || contact.deletedAt !== null) throw new SalesforceError(400, 'INVALID_CROSS_REFERENCE_KEY', 'Name ID: id value of incorrect type');
    const task: TaskRow = {
      Id: this.otherId('00T5g'),
      WhoId: contact.externalId,
      Subject: input.Subject ?? '',
      Description: input.Description ?? null,
      Status: input.Status ?? 'Not Started',
    };
    this.tasks.push(task);
    this.data.activities.push({
      externalId: task.Id,
      contactExternalId: task.WhoId,
      subject: task.Subject,
      body: task.Description ?? '',
      marker: markerOf(task.Description),
    });
    return { id: task.Id, success: true, errors: [] };
  }

  private createOpportunity(body: unknown): SaveResult {
    const input = (body ?? {}) as Partial<OpportunityRow>;
    const missing = (['Name', 'StageName', 'CloseDate'] as const).filter((field) => !input[field]);
    if (missing.length > 0) throw new SalesforceError(400, 'REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.join(', ')}]`);
    if (!STAGES.includes(input.StageName!))
      throw new SalesforceError(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `Stage: bad value for restricted picklist field: ${input.StageName}`);
    const contact = input.ContactId ? this.data.records.get(input.ContactId) : undefined;
    if (input.ContactId && (!contact || contact.deletedAt !== null))
      throw new SalesforceError(400, 'INVALID_CROSS_REFERENCE_KEY', 'Contact ID: id value of incorrect type');
    const opportunity: OpportunityRow = {
      Id: this.otherId('0065g'),
      ContactId: input.ContactId ?? null,
      Name: input.Name!,
      Amount: typeof input.Amount === 'number' ? input.Amount : null,
      StageName: input.StageName!,
      CloseDate: input.CloseDate!,
      Description: input.Description ?? null,
    };
    this.opportunities.push(opportunity);
    this.data.deals.push({
      externalId: opportunity.Id,
      contactExternalId: opportunity.ContactId ?? '',
      name: opportunity.Name,
      amount: opportunity.Amount,
      stage: opportunity.StageName,
      marker: markerOf(opportunity.Description),
    });
    return { id: opportunity.Id, success: true, errors: [] };
  }

  private otherId(prefix: string): string {
    this.otherSequence += 1;
    return `${prefix}${String(this.otherSequence).padStart(10, '0')}`;
  }
}

// Answers

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}
interface SaveResult {
  id: string | null;
  success: boolean;
  errors: { statusCode: string; message: string; fields: string[] }[];
}

const ok = (body: unknown): Answer => ({ status: 200, body });
const created = (body: unknown): Answer => ({ status: 201, body });
const failed = (id: string | null, statusCode: string, message: string, fields: string[] = []): SaveResult => ({
  id,
  success: false,
  errors: [{ statusCode, message, fields }],
});

/** The idempotency marker our adapter writes into a Task's or Opportunity's Description (the fake reports it). */
function markerOf(description: string | null | undefined): string {
  return /\[nexusflow-ref:([\w-]+)\]/.exec(description ?? '')?.[1] ?? '';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new SalesforceError(400, 'JSON_PARSER_ERROR', 'The request body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body: string, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': contentType, ...headers });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), 'application/json;charset=UTF-8', headers);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Salesforce's dateTime format: 2026-01-01T00:00:00.000+0000. */
function sfDateTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

const parsedDateTimes = new Map<string, number | null>();

function parseDateTime(text: string): number | null {
  const known = parsedDateTimes.get(text);
  if (known !== undefined) return known;
  if (parsedDateTimes.size > 500_000) parsedDateTimes.clear();
  const ms = parseDateTimeOnce(text);
  parsedDateTimes.set(text, ms);
  return ms;
}

function parseDateTimeOnce(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.test(text)) return null;
  const ms = Date.parse(text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isFinite(ms) ? ms : null;
}

// SOQL: the part of the language our adapter sends, parsed strictly (a malformed query is a 400, as Salesforce answers).

type Literal =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'datetime'; value: number };
type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'compare'; field: string; op: '=' | '!=' | '<' | '<=' | '>' | '>='; value: Literal }
  | { kind: 'in'; field: string; negated: boolean; values: Literal[] };

interface SoqlQuery {
  select: string[];
  from: string;
  where: Condition | null;
  orderBy: { field: string; descending: boolean }[];
  limit: number | null;
}

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'symbol'; text: string }
  | { kind: 'datetime'; text: string }
  | { kind: 'number'; text: string };

function malformed(message: string): SalesforceError {
  return new SalesforceError(400, 'MALFORMED_QUERY', message);
}

function tokenize(soql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < soql.length) {
    const c = soql[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let text = '';
      i++;
      for (;;) {
        if (i >= soql.length) throw malformed('unterminated string literal');
        const d = soql[i]!;
        if (d === '\\') {
          const e = soql[i + 1];
          const escapes: Record<string, string> = {
            n: '\n',
            r: '\r',
            t: '\t',
            b: '\b',
            f: '\f',
            '"': '"',
            "'": "'",
            '\\': '\\',
            _: '\\_',
            '%': '\\%',
          };
          if (e === undefined || !(e in escapes)) throw malformed(`invalid escape sequence \\${e ?? ''}`);
          text += escapes[e];
          i += 2;
          continue;
        }
        if (d === "'") {
          i++;
          break;
        }
        text += d;
        i++;
      }
      tokens.push({ kind: 'string', text });
      continue;
    }
    const datetime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/.exec(soql.slice(i));
    if (datetime) {
      tokens.push({ kind: 'datetime', text: datetime[0] });
      i += datetime[0].length;
      continue;
    }
    const number = /^-?\d+(\.\d+)?/.exec(soql.slice(i));
    if (number) {
      tokens.push({ kind: 'number', text: number[0] });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_][\w.]*/.exec(soql.slice(i));
    if (word) {
      tokens.push({ kind: 'word', text: word[0] });
      i += word[0].length;
      continue;
    }
    const symbol = /^(!=|<=|>=|<>|[=<>(),])/.exec(soql.slice(i));
    if (symbol) {
      tokens.push({ kind: 'symbol', text: symbol[0] });
      i += symbol[0].length;
      continue;
    }
    throw malformed(`unexpected character '${c}' at ${i}`);
  }
  return tokens;
}

export function parseSoql(soql: string): SoqlQuery {
  const tokens = tokenize(soql);
  let at = 0;
  const peek = () => tokens[at];
  const isWord = (text: string) => peek()?.kind === 'word' && peek()!.text.toUpperCase() === text;
  const isSymbol = (text: string) => peek()?.kind === 'symbol' && peek()!.text === text;
  const expectWord = (text: string) => {
    if (!isWord(text)) throw malformed(`expected ${text} at token ${at}`);
    at++;
  };
  const expectSymbol = (text: string) => {
    if (!isSymbol(text)) throw malformed(`expected '${text}' at token ${at}`);
    at++;
  };
  const field = (): string => {
    const token = peek();
    if (token?.kind !== 'word') throw malformed(`expected a field at token ${at}`);
    at++;
    return token.text;
  };
  const literal = (): Literal => {
    const token = tokens[at++];
    if (!token) throw malformed('expected a value');
    if (token.kind === 'string') return { kind: 'string', value: token.text };
    if (token.kind === 'number') return { kind: 'number', value: Number(token.text) };
    if (token.kind === 'datetime') return { kind: 'datetime', value: Date.parse(token.text) };
    if (token.kind === 'word' && /^(true|false)$/i.test(token.text)) return { kind: 'boolean', value: token.text.toLowerCase() === 'true' };
    if (token.kind === 'word' && /^null$/i.test(token.text)) return { kind: 'null' };
    throw malformed(`unexpected token '${token.text}'`);
  };
  const primary = (): Condition => {
    if (isSymbol('(')) {
      at++;
      const inner = disjunction();
      expectSymbol(')');
      return inner;
    }
    const name = field();
    if (isWord('NOT') || isWord('IN')) {
      const negated = isWord('NOT');
      if (negated) at++;
      expectWord('IN');
      expectSymbol('(');
      const values = [literal()];
      while (isSymbol(',')) {
        at++;
        values.push(literal());
      }
      expectSymbol(')');
      return { kind: 'in', field: name, negated, values };
    }
    const op = tokens[at++];
    if (op?.kind !== 'symbol' || !['=', '!=', '<>', '<', '<=', '>', '>='].includes(op.text)) throw malformed(`expected an operator after ${name}`);
    return { kind: 'compare', field: name, op: (op.text === '<>' ? '!=' : op.text) as '=', value: literal() };
  };
  const conjunction = (): Condition => {
    let left = primary();
    while (isWord('AND')) {
      at++;
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const disjunction = (): Condition => {
    let left = conjunction();
    while (isWord('OR')) {
      at++;
      left = { kind: 'or', left, right: conjunction() };
    }
    return left;
  };

  expectWord('SELECT');
  const select = [field()];
  while (isSymbol(',')) {
    at++;
    select.push(field());
  }
  expectWord('FROM');
  const from = field();
  let where: Condition | null = null;
  if (isWord('WHERE')) {
    at++;
    where = disjunction();
  }
  const orderBy: { field: string; descending: boolean }[] = [];
  if (isWord('ORDER')) {
    at++;
    expectWord('BY');
    for (;;) {
      const name = field();
      let descending = false;
      if (isWord('ASC') || isWord('DESC')) descending = tokens[at++]!.text.toUpperCase() === 'DESC';
      orderBy.push({ field: name, descending });
      if (!isSymbol(',')) break;
      at++;
    }
  }
  let limit: number | null = null;
  if (isWord('LIMIT')) {
    at++;
    const token = tokens[at++];
    if (token?.kind !== 'number' || !/^\d+$/.test(token.text)) throw malformed('LIMIT takes a whole number');
    limit = Number(token.text);
  }
  if (at !== tokens.length) throw malformed(`unexpected token '${tokens[at]!.text}' at ${at}`);
  return { select, from, where, orderBy, limit };
}

function fieldsOf(condition: Condition | null): string[] {
  if (!condition) return [];
  return condition.kind === 'compare' || condition.kind === 'in' ? [condition.field] : [...fieldsOf(condition.left), ...fieldsOf(condition.right)];
}

function literalValue(literal: Literal): unknown {
  return literal.kind === 'null' ? null : literal.value;
}

function comparable(value: unknown): unknown {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) return parseDateTime(value) ?? value;
  return value;
}

function compareValues(a: unknown, b: unknown): number {
  const x = comparable(a);
  const y = comparable(b);
  if (x === y) return 0;
  if (x === null || x === undefined) return -1;
  if (y === null || y === undefined) return 1;
  return (x as number) < (y as number) ? -1 : 1;
}

function evaluate(condition: Condition, row: Record<string, unknown>): boolean {
  switch (condition.kind) {
    case 'and':
      return evaluate(condition.left, row) && evaluate(condition.right, row);
    case 'or':
      return evaluate(condition.left, row) || evaluate(condition.right, row);
    case 'in': {
      const found = condition.values.some((value) => compareValues(row[condition.field] ?? null, literalValue(value)) === 0);
      return condition.negated ? !found : found;
    }
    case 'compare': {
      const value = row[condition.field] ?? null;
      const wanted = literalValue(condition.value);
      if (condition.op === '=') return compareValues(value, wanted) === 0;
      if (condition.op === '!=') return compareValues(value, wanted) !== 0;
      if (value === null || wanted === null) return false;
      const order = compareValues(value, wanted);
      return condition.op === '<' ? order < 0 : condition.op === '<=' ? order <= 0 : condition.op === '>' ? order > 0 : order >= 0;
    }
  }
}
