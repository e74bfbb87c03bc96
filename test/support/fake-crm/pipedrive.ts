import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CrmValue } from '../../../projectors/integrations/ports.ts';
import { FakeCrmData, type FakeCrmRecord, type FakeCrmServer } from './fake-crm.ts';

/**
 * A loopback Pipedrive: OAuth (authorize, token with client credentials in HTTP Basic, revoke) and the parts of
 * the REST API the adapter uses, in Pipedrive's documented shapes (`{ success, data, additional_data }`):
 * API v2 persons (cursor paging, `updated_since`, `sort_by=update_time`, `ids`), organizations, activities,
 * deals and stages; API v1 `users/me`, `personFields` (paged) and `recents`. Limits: 429 with Retry-After and
 * `x-ratelimit-*` headers, the daily budget's 429, 401 for a bad token; a request target over 8 KiB answers 414.
 *
 * Stamps carry the shared clock's milliseconds (RFC 3339 in v2, "YYYY-MM-DD HH:MM:SS.mmm" in v1): real Pipedrive
 * mostly stamps whole seconds, but the contract's clock ticks in milliseconds and the adapter reads both.
 * Webhooks (v2) carry HTTP Basic credentials: user `nexusflow`, password the integration's webhook secret.
 */
export async function startFakePipedrive(): Promise<FakePipedriveServer> {
  const fake = new FakePipedrive();
  await fake.listen();
  return fake;
}

/** The harness plus Pipedrive's own steering: the burst window's `x-ratelimit-*` headers on a success. */
export interface FakePipedriveServer extends FakeCrmServer {
  /** The next successful answer says the window is spent (`x-ratelimit-remaining: 0`) until `resetSeconds`. */
  spendBurstWindow(resetSeconds: number): void;
}

const MAX_TARGET = 8_192;

interface Custom {
  name: string;
  label: string;
  type: 'string' | 'number' | 'picklist' | 'date';
  picklistValues?: string[];
}

interface PersonCursor {
  stamp: number;
  id: string;
}

class FakePipedrive implements FakePipedriveServer {
  readonly provider = 'pipedrive' as const;
  readonly clientId = 'pipedrive-fake-client';
  readonly clientSecret = randomBytes(16).toString('hex');
  readonly standardFields = { email: 'email', firstName: 'first_name', lastName: 'last_name', company: 'org_name', phone: 'phone' };
  readonly data = new FakeCrmData('1');
  readonly requests: { method: string; path: string }[] = [];
  readonly companyId = 7_340_001;
  baseUrl = '';

  private readonly server = createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    this.handle(req, res).catch((err: unknown) => reply(res, 500, { success: false, error: String(err) }));
  });
  private readonly codes = new Map<string, { redirectUri: string; used: boolean }>();
  private readonly refreshTokens = new Set<string>();
  private readonly accessTokens = new Map<string, { expired: boolean; refreshToken: string }>();
  private revoked = false;
  private rateLimited = { times: 0, retryAfter: 0 };
  private quotaExhausted = false;
  private burstSpent: number | null = null;
  private readonly organizations = new Map<number, string>();
  private readonly stages = [
    { id: 1, name: 'Qualified' },
    { id: 2, name: 'Contact Made' },
    { id: 3, name: 'Proposal Made' },
  ];
  private readonly dealRows: { id: number; title: string; value: number | null; person_id: number; stage_id: number; origin_id: string | null }[] =
    [];
  private readonly activityRows: { id: number; subject: string; type: string; note: string; person_id: number }[] = [];

  get env(): Record<string, string> {
    return { PIPEDRIVE_API_URL: this.baseUrl, PIPEDRIVE_OAUTH_URL: this.baseUrl };
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
    if (url.origin !== this.baseUrl || url.pathname !== '/oauth/authorize')
      throw new Error(`not this Pipedrive's authorize URL: ${authorizationUrl}`);
    if (url.searchParams.get('client_id') !== this.clientId) throw new Error('unknown client_id');
    const redirectUri = url.searchParams.get('redirect_uri');
    const state = url.searchParams.get('state');
    if (!redirectUri || !state) throw new Error('authorize needs redirect_uri and state');
    const code = randomBytes(12).toString('hex');
    this.codes.set(code, { redirectUri, used: false });
    return { code, state, redirectUri };
  }

  rateLimitNext(times: number, retryAfterSeconds: number): void {
    this.rateLimited = { times, retryAfter: retryAfterSeconds };
  }

  exhaustQuota(exhausted: boolean): void {
    this.quotaExhausted = exhausted;
  }

  spendBurstWindow(resetSeconds: number): void {
    this.burstSpent = resetSeconds;
  }

  expireAccessTokens(): void {
    for (const token of this.accessTokens.values()) token.expired = true;
  }

  revokeGrant(): void {
    this.revoked = true;
  }

  webhook(externalIds: string[], secrets: { integrationSecret: string }) {
    // Pipedrive sends one delivery per changed entity: the first id's.
    const id = externalIds[0] ?? '0';
    const body = JSON.stringify({
      meta: {
        action: 'change',
        entity: 'person',
        entity_id: id,
        company_id: String(this.companyId),
        correlation_id: randomBytes(8).toString('hex'),
        id: randomBytes(8).toString('hex'),
        timestamp: new Date(this.data.now).toISOString(),
        type: 'general',
        version: '2.0',
        webhook_id: '11',
      },
      data: { id: Number(id) },
      previous: null,
    });
    const authorization = `Basic ${Buffer.from(`nexusflow:${secrets.integrationSecret}`).toString('base64')}`;
    return { method: 'POST', path: '/webhooks/pipedrive', headers: { authorization, 'content-type': 'application/json' }, body };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: target });
    if (target.length > MAX_TARGET) return reply(res, 414, { success: false, error: 'URI Too Long' });
    const url = new URL(target, this.baseUrl);
    const raw = await readBody(req);
    if (url.pathname.startsWith('/oauth/')) return this.oauth(req, res, url, raw);

    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const known = token ? this.accessTokens.get(token) : undefined;
    if (!known || known.expired || this.revoked || !this.refreshTokens.has(known.refreshToken))
      return reply(res, 401, { success: false, error: 'unauthorized access', errorCode: 401, error_info: 'Please check developers.pipedrive.com' });
    if (this.quotaExhausted)
      return reply(
        res,
        429,
        { success: false, error: 'Daily API token budget exceeded for this company', errorCode: 429 },
        { 'x-ratelimit-remaining': '0' },
      );
    if (this.rateLimited.times > 0) {
      this.rateLimited.times -= 1;
      return reply(
        res,
        429,
        { success: false, error: 'Request over limit', errorCode: 429 },
        {
          'retry-after': String(this.rateLimited.retryAfter),
          'x-ratelimit-limit': '80',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(this.rateLimited.retryAfter),
        },
      );
    }
    const limits = { 'x-ratelimit-limit': '80', 'x-ratelimit-remaining': '79', 'x-ratelimit-reset': '2' };
    if (this.burstSpent !== null) {
      Object.assign(limits, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(this.burstSpent) });
      this.burstSpent = null;
    }
    const body = raw.length > 0 ? (JSON.parse(raw) as Record<string, unknown>) : {};
    const answer = this.api(method, url, body);
    return reply(res, answer.status, answer.body, limits);
  }

  private oauth(req: IncomingMessage, res: ServerResponse, url: URL, raw: string): void {
    const credentials = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!credentials || Buffer.from(credentials, 'base64').toString('utf8') !== `${this.clientId}:${this.clientSecret}`)
      return reply(res, 401, { success: false, error: 'invalid_client', message: 'Invalid client credentials' });
    const form = new URLSearchParams(raw);
    if (req.method === 'POST' && url.pathname === '/oauth/revoke') {
      const token = form.get('token') ?? '';
      this.refreshTokens.delete(token);
      this.accessTokens.delete(token);
      return reply(res, 200, {});
    }
    if (req.method !== 'POST' || url.pathname !== '/oauth/token') return reply(res, 404, { success: false, error: 'not found' });
    let refreshToken: string;
    if (form.get('grant_type') === 'authorization_code') {
      const code = this.codes.get(form.get('code') ?? '');
      if (!code || code.used || code.redirectUri !== form.get('redirect_uri'))
        return reply(res, 400, { success: false, error: 'invalid_grant', message: 'Invalid grant: authorization code is invalid' });
      code.used = true;
      this.revoked = false;
      refreshToken = randomBytes(16).toString('hex');
      this.refreshTokens.add(refreshToken);
    } else if (form.get('grant_type') === 'refresh_token') {
      refreshToken = form.get('refresh_token') ?? '';
      if (this.revoked || !this.refreshTokens.has(refreshToken))
        return reply(res, 400, { success: false, error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' });
    } else return reply(res, 400, { success: false, error: 'unsupported_grant_type' });
    const accessToken = randomBytes(16).toString('hex');
    this.accessTokens.set(accessToken, { expired: false, refreshToken });
    reply(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      refresh_token: refreshToken,
      scope: 'base,contacts:full,deals:full,activities:full',
      expires_in: 3599,
      api_domain: this.baseUrl,
    });
  }

  private api(method: string, url: URL, body: Record<string, unknown>): { status: number; body: unknown } {
    const path = url.pathname;
    const q = url.searchParams;
    let match: RegExpExecArray | null;
    if (method === 'GET' && path === '/api/v1/users/me')
      return ok({
        id: 1,
        name: 'Fake Admin',
        email: 'admin@fake-pipedrive.test',
        company_id: this.companyId,
        company_name: 'Fake Pipedrive Co',
        company_domain: 'fakeco',
      });
    if (method === 'GET' && path === '/api/v1/personFields') return this.personFields(q);
    if (method === 'GET' && path === '/api/v2/persons') return this.listPersons(q);
    if (method === 'POST' && path === '/api/v2/persons') return this.writePerson(null, body);
    if ((match = /^\/api\/v2\/persons\/(\d+)$/.exec(path))) {
      const record = this.data.records.get(match[1]!);
      if (!record || record.deletedAt !== null) return notFound('Person not found');
      if (method === 'PATCH') return this.writePerson(record, body);
      if (method === 'DELETE') {
        this.data.remove(record.externalId);
        return ok({ id: Number(record.externalId) });
      }
      if (method === 'GET') return ok(this.person(record));
    }
    if (method === 'GET' && path === '/api/v1/recents') return this.recents(q);
    if (method === 'GET' && path === '/api/v2/organizations') {
      const ids = (q.get('ids') ?? '').split(',').filter(Boolean).map(Number);
      return ok(
        [...this.organizations].filter(([id]) => ids.length === 0 || ids.includes(id)).map(([id, name]) => ({ id, name })),
        { next_cursor: null },
      );
    }
    if (method === 'GET' && path === '/api/v2/organizations/search') {
      const term = (q.get('term') ?? '').toLowerCase();
      const exact = q.get('exact_match') === 'true';
      const items = [...this.organizations]
        .filter(([, name]) => (exact ? name.toLowerCase() === term : name.toLowerCase().includes(term)))
        .map(([id, name]) => ({ result_score: 1, item: { id, type: 'organization', name } }));
      return ok({ items });
    }
    if (method === 'POST' && path === '/api/v2/organizations') {
      if (typeof body.name !== 'string' || !body.name) return badRequest('name is required');
      return ok({ id: this.organizationId(body.name), name: body.name });
    }
    if (method === 'GET' && path === '/api/v2/stages')
      return ok(
        this.stages.map((stage, i) => ({ ...stage, pipeline_id: 1, order_nr: i + 1 })),
        { next_cursor: null },
      );
    if (method === 'GET' && path === '/api/v2/activities') {
      const person = q.get('person_id');
      return ok(
        this.activityRows.filter((row) => person === null || String(row.person_id) === person),
        { next_cursor: null },
      );
    }
    if (method === 'POST' && path === '/api/v2/activities') return this.addActivity(body);
    if (method === 'GET' && path === '/api/v2/deals') {
      const person = q.get('person_id');
      return ok(
        this.dealRows.filter((row) => person === null || String(row.person_id) === person),
        { next_cursor: null },
      );
    }
    if (method === 'POST' && path === '/api/v2/deals') return this.addDeal(body);
    return notFound(`no route ${method} ${path}`);
  }

  private personFields(q: URLSearchParams) {
    const standard = [
      { key: 'name', name: 'Name', field_type: 'varchar', edit_flag: false },
      { key: 'first_name', name: 'First name', field_type: 'varchar', edit_flag: false },
      { key: 'last_name', name: 'Last name', field_type: 'varchar', edit_flag: false },
      { key: 'email', name: 'Email', field_type: 'varchar', edit_flag: false },
      { key: 'phone', name: 'Phone', field_type: 'phone', edit_flag: false },
      { key: 'org_id', name: 'Organization', field_type: 'org', edit_flag: false },
      { key: 'owner_id', name: 'Owner', field_type: 'user', edit_flag: false },
      { key: 'label', name: 'Label', field_type: 'enum', edit_flag: false, options: [{ id: 1, label: 'Customer' }] },
      { key: 'add_time', name: 'Person created', field_type: 'date', edit_flag: false },
      { key: 'update_time', name: 'Update time', field_type: 'date', edit_flag: false },
    ];
    const custom = (this.data.customFields as Custom[]).map((field) => ({
      key: field.name,
      name: field.label,
      field_type: { string: 'varchar', number: 'double', picklist: 'enum', date: 'date' }[field.type],
      edit_flag: true,
      options: field.type === 'picklist' ? options(field) : null,
    }));
    const all = [...standard, ...custom].map((field, i) => ({ id: i + 1, ...field }));
    const start = Number(q.get('start') ?? 0);
    const limit = Math.min(Number(q.get('limit') ?? 100), 500);
    const page = all.slice(start, start + limit);
    const more = start + limit < all.length;
    return ok(page, { pagination: { start, limit, more_items_in_collection: more, ...(more ? { next_start: start + limit } : {}) } });
  }

  private listPersons(q: URLSearchParams) {
    const limit = Math.min(Math.max(Number(q.get('limit') ?? 100), 1), 500);
    if (q.get('limit') && Number(q.get('limit')) > 500) return badRequest('limit must be at most 500');
    const ids = q.get('ids') ? new Set(q.get('ids')!.split(',')) : null;
    const since = q.get('updated_since') ? Date.parse(q.get('updated_since')!) : null;
    if (since !== null && Number.isNaN(since)) return badRequest('updated_since must be RFC 3339');
    const sortBy = q.get('sort_by') ?? 'id';
    const desc = q.get('sort_direction') === 'desc';
    const key = (record: FakeCrmRecord): PersonCursor => ({ stamp: sortBy === 'update_time' ? record.modifiedAt : 0, id: record.externalId });
    let rows = this.data.live().filter((record) => (!ids || ids.has(record.externalId)) && (since === null || record.modifiedAt >= since));
    rows.sort((a, b) => compare(key(a), key(b)) * (desc ? -1 : 1));
    const cursor = q.get('cursor');
    if (cursor) {
      // The cursor is the last item's sort key: edits between pages neither skip nor repeat a row at a stamp.
      const after = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as PersonCursor;
      rows = rows.filter((record) => compare(key(record), after) * (desc ? -1 : 1) > 0);
    }
    const page = rows.slice(0, limit);
    const next = rows.length > limit ? Buffer.from(JSON.stringify(key(page[page.length - 1]!))).toString('base64url') : null;
    return ok(
      page.map((record) => this.person(record)),
      { next_cursor: next },
    );
  }

  private person(record: FakeCrmRecord) {
    const fields = record.fields;
    const custom: Record<string, unknown> = {};
    for (const field of this.data.customFields as Custom[]) {
      const value = fields[field.name];
      if (value === undefined || value === null) custom[field.name] = null;
      else if (field.type === 'picklist') custom[field.name] = options(field).find((option) => option.label === value)?.id ?? null;
      else custom[field.name] = value;
    }
    const orgName = fields.org_name;
    return {
      id: Number(record.externalId),
      name: this.nameOf(fields),
      first_name: fields.first_name ?? null,
      last_name: fields.last_name ?? null,
      owner_id: 1,
      org_id: typeof orgName === 'string' && orgName ? this.organizationId(orgName) : null,
      add_time: v2Time(record.modifiedAt),
      update_time: v2Time(record.modifiedAt),
      emails: typeof fields.email === 'string' && fields.email ? [{ value: fields.email, primary: true, label: 'work' }] : [],
      phones: typeof fields.phone === 'string' && fields.phone ? [{ value: fields.phone, primary: true, label: 'work' }] : [],
      visible_to: 3,
      custom_fields: custom,
    };
  }

  private writePerson(record: FakeCrmRecord | null, body: Record<string, unknown>) {
    const fields: Record<string, CrmValue> = {};
    if ('name' in body) {
      if (typeof body.name !== 'string' || body.name.trim() === '') return badRequest('name must be a non-empty string');
      const name = body.name.trim();
      const space = name.indexOf(' ');
      fields.name = name;
      fields.first_name = space < 0 ? name : name.slice(0, space);
      fields.last_name = space < 0 ? null : name.slice(space + 1);
    } else if (!record) return badRequest('name is required');
    for (const kind of ['emails', 'phones'] as const) {
      if (!(kind in body)) continue;
      const entries = body[kind];
      if (!Array.isArray(entries)) return badRequest(`${kind} must be an array`);
      const primary = (entries as { value?: unknown; primary?: unknown }[]).find((entry) => entry.primary === true) ?? entries[0];
      fields[kind === 'emails' ? 'email' : 'phone'] = primary && typeof primary.value === 'string' ? primary.value : null;
    }
    if ('org_id' in body) {
      if (body.org_id === null) fields.org_name = null;
      else if (typeof body.org_id === 'number' && this.organizations.has(body.org_id)) fields.org_name = this.organizations.get(body.org_id)!;
      else return badRequest('org_id does not exist');
    }
    if ('custom_fields' in body) {
      const custom = (body.custom_fields ?? {}) as Record<string, unknown>;
      const known = new Map((this.data.customFields as Custom[]).map((field) => [field.name, field]));
      for (const [key, value] of Object.entries(custom)) {
        const field = known.get(key);
        if (!field) return badRequest(`Unknown custom field key: ${key}`);
        if (value === null) fields[key] = null;
        else if (field.type === 'picklist') {
          const option = options(field).find((candidate) => candidate.id === value);
          if (!option) return badRequest(`${key}: option ${String(value)} does not exist`);
          fields[key] = option.label;
        } else if (field.type === 'number') {
          if (typeof value !== 'number') return badRequest(`${key} must be a number`);
          fields[key] = value;
        } else fields[key] = String(value);
      }
    }
    const written = record ? this.data.edit(record.externalId, fields) : this.data.create(fields);
    return ok(this.person(written));
  }

  private recents(q: URLSearchParams) {
    const raw = q.get('since_timestamp') ?? '';
    if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(raw)) return badRequest('since_timestamp must be YYYY-MM-DD HH:MM:SS');
    const since = Date.parse(`${raw.replace(' ', 'T')}Z`);
    const start = Number(q.get('start') ?? 0);
    const limit = Math.min(Number(q.get('limit') ?? 100), 500);
    const wanted = (q.get('items') ?? 'person').split(',');
    const changes = wanted.includes('person')
      ? [...this.data.records.values()]
          .map((record) => ({ record, at: record.deletedAt ?? record.modifiedAt }))
          .filter((change) => change.at > since)
          .sort((a, b) => a.at - b.at || (a.record.externalId < b.record.externalId ? -1 : 1))
      : [];
    const page = changes.slice(start, start + limit).map(({ record, at }) => ({
      item: 'person',
      id: Number(record.externalId),
      data: { id: Number(record.externalId), name: this.nameOf(record.fields), active_flag: record.deletedAt === null, update_time: v1Time(at) },
    }));
    const more = start + limit < changes.length;
    return ok(page, {
      since_timestamp: raw,
      pagination: { start, limit, more_items_in_collection: more, ...(more ? { next_start: start + limit } : {}) },
    });
  }

  private addActivity(body: Record<string, unknown>) {
    const participants = Array.isArray(body.participants) ? (body.participants as { person_id?: unknown; primary?: unknown }[]) : [];
    const person = participants.find((entry) => entry.primary) ?? participants[0];
    if (typeof body.subject !== 'string' || !body.subject) return badRequest('subject is required');
    if (person && !this.livePerson(person.person_id)) return badRequest('person does not exist');
    const id = Number(this.data.nextId());
    const row = {
      id,
      subject: body.subject,
      type: String(body.type ?? 'task'),
      note: String(body.note ?? ''),
      person_id: Number(person?.person_id ?? 0),
      done: false,
    };
    this.activityRows.push(row);
    this.data.activities.push({
      externalId: String(id),
      contactExternalId: String(row.person_id),
      subject: row.subject,
      body: row.note,
      marker: row.note,
    });
    return ok({ ...row, participants, add_time: v2Time(this.data.tick()) });
  }

  private addDeal(body: Record<string, unknown>) {
    if (typeof body.title !== 'string' || !body.title) return badRequest('title is required');
    if (!this.livePerson(body.person_id)) return badRequest('person does not exist');
    if (body.value !== undefined && typeof body.value !== 'number') return badRequest('value must be a number');
    const stage = body.stage_id === undefined ? this.stages[0]! : this.stages.find((candidate) => candidate.id === body.stage_id);
    if (!stage) return badRequest('stage_id does not exist');
    if (body.origin_id !== undefined && (typeof body.origin_id !== 'string' || body.origin_id.length > 255))
      return badRequest('origin_id is a string of at most 255');
    const id = Number(this.data.nextId());
    const row = {
      id,
      title: body.title,
      value: (body.value as number | undefined) ?? null,
      person_id: Number(body.person_id),
      stage_id: stage.id,
      origin_id: (body.origin_id as string | undefined) ?? null,
    };
    this.dealRows.push(row);
    this.data.deals.push({
      externalId: String(id),
      contactExternalId: String(row.person_id),
      name: row.title,
      amount: row.value,
      stage: stage.name,
      marker: row.origin_id ?? '',
    });
    return ok({ ...row, currency: 'USD', status: 'open', add_time: v2Time(this.data.tick()) });
  }

  private livePerson(id: unknown): boolean {
    const record = this.data.records.get(String(id));
    return record !== undefined && record.deletedAt === null;
  }

  private nameOf(fields: Record<string, CrmValue>): string {
    if (typeof fields.name === 'string' && fields.name) return fields.name;
    return [fields.first_name, fields.last_name].filter((part) => typeof part === 'string' && part).join(' ');
  }

  private organizationId(name: string): number {
    for (const [id, known] of this.organizations) if (known === name) return id;
    const id = this.organizations.size + 1;
    this.organizations.set(id, name);
    return id;
  }
}

function options(field: Custom): { id: number; label: string }[] {
  return (field.picklistValues ?? []).map((label, i) => ({ id: i + 1, label }));
}

function compare(a: PersonCursor, b: PersonCursor): number {
  return a.stamp - b.stamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function v2Time(ms: number): string {
  return new Date(ms).toISOString();
}

function v1Time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

function ok(data: unknown, additional: Record<string, unknown> | null = null) {
  return { status: 200, body: { success: true, data, additional_data: additional } };
}

function badRequest(error: string) {
  return { status: 400, body: { success: false, error, error_info: 'Please check developers.pipedrive.com', data: null, additional_data: null } };
}

function notFound(error: string) {
  return { status: 404, body: { success: false, error, data: null } };
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
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
