import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CrmValue } from '../../../projectors/integrations/ports.ts';
import { FakeCrmData, type FakeCrmRecord, type FakeCrmServer } from './fake-crm.ts';

/**
 * HubSpot as @hubspot/api-client sees it, on a loopback port: OAuth v1 (token, access-token info, refresh-token
 * revoke; the consent page is {@link FakeHubSpot.authorize}), CRM v3 contacts (properties, search, batch
 * read/create/update/archive, the archived list), tasks and deals with associations, the deal pipeline, and
 * webhooks signed with the v3 signature.
 *
 * Where HubSpot's documentation is silent the fake picks the strict reading, and says so:
 * - search: one sort at most, limit ≤ 100, and `after + limit` past 10,000 is refused (HubSpot's result cap);
 *   ties on the sort property come in ascending id order (HubSpot's order for ties is not documented);
 * - batch writes answer 207 with per-record errors by default; `batchErrors = 'whole-batch'` makes a bad record
 *   fail the whole batch with a 400, as HubSpot does for some validation errors;
 * - every property value is a string on the wire; the table ({@link FakeCrmData}) holds them typed.
 */
export interface FakeHubSpot extends FakeCrmServer {
  /** How a batch write with a bad record answers. */
  batchErrors: 'multi-status' | 'whole-batch';
  /** The URL HubSpot delivers webhooks to (its v3 signature covers it); `webhook()` answers it whole as `path`. */
  webhookTargetUrl: string;
  /** The JSON bodies of every search request, for assertions on paging (HubSpot's search pages in the body). */
  readonly searches: SearchBody[];
  /** The JSON bodies of every batch request (read, create, update, archive), in order. */
  readonly batches: { path: string; body: unknown }[];
  /** Properties created through the API, per object type (contacts' custom ones are `data.customFields`). */
  readonly createdProperties: Map<string, PropertyDefinition[]>;
  /** Makes the next `times` API calls (not OAuth) fail with this 5xx status, as HubSpot does when it is down. */
  failNext(times: number, status: number): void;
}

export interface SearchBody {
  filterGroups?: { filters?: { propertyName: string; operator: string; value?: string; values?: string[] }[] }[];
  sorts?: (string | { propertyName: string; direction?: string })[];
  properties?: string[];
  limit?: number;
  after?: string;
}

interface PropertyDefinition {
  name: string;
  label: string;
  type: 'string' | 'number' | 'date' | 'datetime' | 'enumeration' | 'bool' | 'phone_number';
  fieldType: string;
  options?: { label: string; value: string }[];
  hubspotDefined?: boolean;
  readOnly?: boolean;
  hasUniqueValue?: boolean;
}

/** HubSpot's search answers at most this many results for one query, whatever the paging. */
export const HUBSPOT_SEARCH_CAP = 10_000;
const MAX_REQUEST_TARGET = 8_192;
const ACCESS_TOKEN_SECONDS = 1800;
const DAILY_LIMIT = 250_000;
const HUB_ID = 24681357;
const HUB_DOMAIN = 'nexusflow-test.hubspot.com';
const SCOPES = ['oauth', 'crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.schemas.contacts.read', 'crm.objects.deals.write'];

const contactProperties: PropertyDefinition[] = [
  { name: 'email', label: 'Email', type: 'string', fieldType: 'text', hubspotDefined: true },
  { name: 'firstname', label: 'First Name', type: 'string', fieldType: 'text', hubspotDefined: true },
  { name: 'lastname', label: 'Last Name', type: 'string', fieldType: 'text', hubspotDefined: true },
  { name: 'company', label: 'Company Name', type: 'string', fieldType: 'text', hubspotDefined: true },
  { name: 'phone', label: 'Phone Number', type: 'string', fieldType: 'phonenumber', hubspotDefined: true },
  { name: 'jobtitle', label: 'Job Title', type: 'string', fieldType: 'text', hubspotDefined: true },
  {
    name: 'lifecyclestage',
    label: 'Lifecycle Stage',
    type: 'enumeration',
    fieldType: 'radio',
    hubspotDefined: true,
    options: ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'].map((value) => ({
      label: value,
      value,
    })),
  },
  { name: 'hs_email_optout', label: 'Unsubscribed from all email', type: 'bool', fieldType: 'booleancheckbox', hubspotDefined: true, readOnly: true },
  { name: 'createdate', label: 'Create Date', type: 'datetime', fieldType: 'date', hubspotDefined: true, readOnly: true },
  { name: 'lastmodifieddate', label: 'Last Modified Date', type: 'datetime', fieldType: 'date', hubspotDefined: true, readOnly: true },
  { name: 'hs_object_id', label: 'Record ID', type: 'number', fieldType: 'number', hubspotDefined: true, readOnly: true },
];

const taskProperties: PropertyDefinition[] = [
  { name: 'hs_task_subject', label: 'Task Title', type: 'string', fieldType: 'text', hubspotDefined: true },
  { name: 'hs_task_body', label: 'Notes', type: 'string', fieldType: 'html', hubspotDefined: true },
  { name: 'hs_task_status', label: 'Task Status', type: 'enumeration', fieldType: 'select', hubspotDefined: true },
  { name: 'hs_task_type', label: 'Task Type', type: 'enumeration', fieldType: 'select', hubspotDefined: true },
  { name: 'hs_timestamp', label: 'Due date', type: 'datetime', fieldType: 'date', hubspotDefined: true },
];

const dealProperties: PropertyDefinition[] = [
  { name: 'dealname', label: 'Deal Name', type: 'string', fieldType: 'text', hubspotDefined: true },
  { name: 'amount', label: 'Amount', type: 'number', fieldType: 'number', hubspotDefined: true },
  { name: 'dealstage', label: 'Deal Stage', type: 'enumeration', fieldType: 'radio', hubspotDefined: true },
  { name: 'pipeline', label: 'Pipeline', type: 'enumeration', fieldType: 'select', hubspotDefined: true },
  { name: 'closedate', label: 'Close Date', type: 'datetime', fieldType: 'date', hubspotDefined: true },
];

const dealStages = [
  ['appointmentscheduled', 'Appointment Scheduled'],
  ['qualifiedtobuy', 'Qualified To Buy'],
  ['presentationscheduled', 'Presentation Scheduled'],
  ['decisionmakerboughtin', 'Decision Maker Bought-In'],
  ['contractsent', 'Contract Sent'],
  ['closedwon', 'Closed Won'],
  ['closedlost', 'Closed Lost'],
] as const;

/** HubSpot's association type ids (HUBSPOT_DEFINED) from the object to a contact. */
const associationToContact: Record<string, number> = { tasks: 204, deals: 3 };

/** The characters HubSpot decodes in the URI before signing (its v3 signature documentation). */
const SIGNED_URI_DECODES: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function hubSpotSignedUri(url: string): string {
  return url.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (match) => SIGNED_URI_DECODES[match.toUpperCase()] ?? match);
}

/** X-HubSpot-Signature-v3: base64 HMAC-SHA256 under the app's client secret over method + URI + body + timestamp. */
export function hubSpotSignatureV3(clientSecret: string, method: string, url: string, body: string, timestamp: string): string {
  return createHmac('sha256', clientSecret)
    .update(method + hubSpotSignedUri(url) + body + timestamp)
    .digest('base64');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.message));
  }
}

function hubSpotError(status: number, category: string, message: string, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(status, { status: 'error', message, correlationId: randomBytes(16).toString('hex'), category, ...extra });
}

/** A per-record failure of a batch write, as HubSpot words it. */
interface RecordError {
  status: number;
  category: string;
  message: string;
  context: Record<string, string[]>;
}

interface OAuthGrant {
  refreshToken: string;
  revoked: boolean;
}

interface AccessToken {
  grant: OAuthGrant;
  expired: boolean;
}

interface EngagementRecord {
  id: string;
  properties: Record<string, string>;
  contactId: string;
  createdAt: number;
}

export async function startFakeHubSpot(): Promise<FakeHubSpot> {
  const data = new FakeCrmData('1');
  const clientId = `hubspot-client-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(18).toString('base64url');
  const codes = new Map<string, { redirectUri: string; grant: OAuthGrant }>();
  const grants = new Map<string, OAuthGrant>();
  const accessTokens = new Map<string, AccessToken>();
  const createdAt = new Map<string, number>();
  const objects: Record<'tasks' | 'deals', EngagementRecord[]> = { tasks: [], deals: [] };
  const createdProperties = new Map<string, PropertyDefinition[]>();
  const requests: { method: string; path: string }[] = [];
  const searches: SearchBody[] = [];
  const batches: { path: string; body: unknown }[] = [];
  let rateLimited = { times: 0, retryAfterSeconds: 0 };
  let failing = { times: 0, status: 502 };
  let quotaExhausted = false;
  let dailyUsed = 0;

  const propertiesOf = (objectType: string): PropertyDefinition[] => {
    const extra = createdProperties.get(objectType) ?? [];
    if (objectType === 'contacts') {
      const custom = data.customFields.map((field): PropertyDefinition => ({
        name: field.name,
        label: field.label,
        type: field.type === 'picklist' ? 'enumeration' : field.type,
        fieldType: field.type === 'picklist' ? 'select' : field.type === 'number' ? 'number' : field.type === 'date' ? 'date' : 'text',
        ...(field.picklistValues ? { options: field.picklistValues.map((value) => ({ label: value, value })) } : {}),
      }));
      return [...contactProperties, ...custom, ...extra];
    }
    if (objectType === 'tasks') return [...taskProperties, ...extra];
    if (objectType === 'deals') return [...dealProperties, ...extra];
    return extra;
  };

  const issueTokens = (grant: OAuthGrant) => {
    const accessToken = `hs-at-${randomBytes(18).toString('base64url')}`;
    accessTokens.set(accessToken, { grant, expired: false });
    return { token_type: 'bearer', refresh_token: grant.refreshToken, access_token: accessToken, expires_in: ACCESS_TOKEN_SECONDS };
  };

  const wire = (record: FakeCrmRecord, properties: readonly string[]) => {
    const values: Record<string, string | null> = {};
    const created = createdAt.get(record.externalId) ?? record.modifiedAt;
    createdAt.set(record.externalId, created);
    for (const name of new Set([...properties, 'createdate', 'lastmodifieddate', 'hs_object_id'])) {
      if (name === 'createdate') values[name] = new Date(created).toISOString();
      else if (name === 'lastmodifieddate') values[name] = new Date(record.modifiedAt).toISOString();
      else if (name === 'hs_object_id') values[name] = record.externalId;
      else values[name] = toWire(record.fields[name]);
    }
    return {
      id: record.externalId,
      properties: values,
      createdAt: new Date(created).toISOString(),
      updatedAt: new Date(record.modifiedAt).toISOString(),
      archived: record.deletedAt !== null,
      ...(record.deletedAt !== null ? { archivedAt: new Date(record.deletedAt).toISOString() } : {}),
    };
  };

  /** Checks one record's properties as HubSpot validates them: the typed values, or the record's error. */
  const validate = (
    objectType: string,
    properties: Record<string, unknown>,
    context: Record<string, string[]>,
  ): { values: Record<string, CrmValue> } | { error: RecordError } => {
    const known = new Map(propertiesOf(objectType).map((p) => [p.name, p]));
    const problems: { isValid: false; message: string; error: string; name: string }[] = [];
    const values: Record<string, CrmValue> = {};
    for (const [name, raw] of Object.entries(properties ?? {})) {
      const definition = known.get(name);
      const text = raw === null || raw === undefined ? '' : String(raw);
      if (!definition) problems.push({ isValid: false, message: `Property "${name}" does not exist`, error: 'PROPERTY_DOESNT_EXIST', name });
      else if (definition.readOnly)
        problems.push({ isValid: false, message: `${name} is a read only property; its value cannot be set.`, error: 'READ_ONLY_VALUE', name });
      else if (text === '') values[name] = null;
      else if (definition.type === 'number') {
        if (!Number.isFinite(Number(text)))
          problems.push({ isValid: false, message: `${text} was not a valid number.`, error: 'INVALID_INTEGER', name });
        else values[name] = Number(text);
      } else if (definition.type === 'bool') {
        if (text !== 'true' && text !== 'false')
          problems.push({ isValid: false, message: `${text} was not a valid boolean.`, error: 'INVALID_BOOLEAN', name });
        else values[name] = text === 'true';
      } else if (definition.type === 'enumeration' && definition.options && !definition.options.some((o) => o.value === text))
        problems.push({
          isValid: false,
          message: `${text} was not one of the allowed options: [${definition.options.map((o) => o.value).join(', ')}]`,
          error: 'INVALID_OPTION',
          name,
        });
      else if (name === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text))
        problems.push({ isValid: false, message: `Email address ${text} is invalid`, error: 'INVALID_EMAIL', name });
      else values[name] = text;
    }
    if (problems.length > 0)
      return {
        error: { status: 400, category: 'VALIDATION_ERROR', message: `Property values were not valid: ${JSON.stringify(problems)}`, context },
      };
    return { values };
  };

  const emailTaken = (email: CrmValue | undefined, except: string | null): string | null => {
    if (typeof email !== 'string') return null;
    const lower = email.toLowerCase();
    const owner = data.live().find((r) => r.externalId !== except && typeof r.fields.email === 'string' && r.fields.email.toLowerCase() === lower);
    return owner ? owner.externalId : null;
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-hubspot');
    requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}` });
    // HubSpot's front end refuses long request targets (hundreds of properties in a query string).
    if ((req.url ?? '').length > MAX_REQUEST_TARGET) {
      req.resume();
      return send(res, 414, { status: 'error', message: 'URI Too Long', category: 'URI_TOO_LONG' });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    try {
      const answer = url.pathname.startsWith('/oauth/') ? oauth(req, url, raw) : api(req, url, raw);
      send(res, answer.status, answer.body, answer.headers);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, err.body, err.headers);
      else send(res, 500, { status: 'error', message: String(err), category: 'INTERNAL_ERROR' });
    }
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (body === undefined) {
      res.statusCode = status;
      res.end();
      return;
    }
    res.statusCode = status;
    res.setHeader('content-type', 'application/json;charset=utf-8');
    res.end(JSON.stringify(body));
  }

  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

  function oauth(req: IncomingMessage, url: URL, raw: string): Answer {
    if (req.method === 'POST' && url.pathname === '/oauth/v1/token') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
        throw new HttpError(400, { status: 'BAD_REQUEST', message: 'form-encoded body expected' });
      const form = new URLSearchParams(raw);
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret)
        throw new HttpError(400, { status: 'BAD_CLIENT_ID', message: 'missing or invalid client id', error: 'invalid_client' });
      if (form.get('grant_type') === 'authorization_code') {
        const code = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        if (!code || code.redirectUri !== form.get('redirect_uri'))
          throw new HttpError(400, { status: 'BAD_AUTH_CODE', message: 'missing or unknown auth code', error: 'invalid_grant' });
        return { status: 200, body: issueTokens(code.grant) };
      }
      if (form.get('grant_type') === 'refresh_token') {
        const grant = grants.get(form.get('refresh_token') ?? '');
        if (!grant || grant.revoked)
          throw new HttpError(400, {
            status: 'BAD_REFRESH_TOKEN',
            message: 'missing or invalid refresh token',
            correlationId: randomBytes(16).toString('hex'),
            error: 'invalid_grant',
            error_description: 'missing or invalid refresh token',
          });
        return { status: 200, body: issueTokens(grant) };
      }
      throw new HttpError(400, { status: 'BAD_GRANT_TYPE', message: 'unsupported grant_type', error: 'unsupported_grant_type' });
    }
    const accessInfo = /^\/oauth\/v1\/access-tokens\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && accessInfo) {
      const token = decodeURIComponent(accessInfo[1]!);
      const known = accessTokens.get(token);
      if (!known || known.grant.revoked) throw hubSpotError(404, 'OBJECT_NOT_FOUND', 'access token not found');
      return {
        status: 200,
        body: {
          token,
          user: 'admin@nexusflow.test',
          hub_domain: HUB_DOMAIN,
          scopes: SCOPES,
          hub_id: HUB_ID,
          app_id: 1234567,
          expires_in: known.expired ? 0 : ACCESS_TOKEN_SECONDS,
          user_id: 7654321,
          token_type: 'access',
        },
      };
    }
    const refreshRevoke = /^\/oauth\/v1\/refresh-tokens\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'DELETE' && refreshRevoke) {
      const grant = grants.get(decodeURIComponent(refreshRevoke[1]!));
      if (!grant) throw hubSpotError(404, 'OBJECT_NOT_FOUND', 'refresh token not found');
      grant.revoked = true;
      return { status: 204 };
    }
    throw hubSpotError(404, 'OBJECT_NOT_FOUND', `no route ${req.method} ${url.pathname}`);
  }

  function rateLimitHeaders(): Record<string, string> {
    return {
      'X-HubSpot-RateLimit-Daily': String(DAILY_LIMIT),
      'X-HubSpot-RateLimit-Daily-Remaining': String(quotaExhausted ? 0 : Math.max(DAILY_LIMIT - dailyUsed, 0)),
      'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
      'X-HubSpot-RateLimit-Max': '110',
      'X-HubSpot-RateLimit-Remaining': '109',
    };
  }

  function api(req: IncomingMessage, url: URL, raw: string): Answer {
    const token = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const access = token ? accessTokens.get(token) : undefined;
    if (!access || access.grant.revoked)
      throw hubSpotError(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found. This API supports OAuth 2.0 authentication.');
    if (access.expired)
      throw hubSpotError(401, 'EXPIRED_AUTHENTICATION', 'The OAuth token used to make this call expired 1 minute(s) ago.', {
        context: { 'expire time': [new Date(Date.now() - 60_000).toUTCString()] },
      });
    if (quotaExhausted)
      throw new HttpError(
        429,
        {
          status: 'error',
          message: 'You have reached your daily limit.',
          errorType: 'RATE_LIMIT',
          correlationId: randomBytes(16).toString('hex'),
          policyName: 'DAILY',
          groupName: `publicapi:oauth:1234567:${HUB_ID}`,
        },
        rateLimitHeaders(),
      );
    if (rateLimited.times > 0) {
      rateLimited = { ...rateLimited, times: rateLimited.times - 1 };
      throw new HttpError(
        429,
        {
          status: 'error',
          message: 'You have reached your secondly limit.',
          errorType: 'RATE_LIMIT',
          correlationId: randomBytes(16).toString('hex'),
          policyName: 'SECONDLY',
          groupName: `publicapi:oauth:1234567:${HUB_ID}`,
        },
        { ...rateLimitHeaders(), 'Retry-After': String(rateLimited.retryAfterSeconds), 'X-HubSpot-RateLimit-Remaining': '0' },
      );
    }
    if (failing.times > 0) {
      failing = { ...failing, times: failing.times - 1 };
      throw hubSpotError(failing.status, 'INTERNAL_ERROR', 'internal error');
    }
    dailyUsed += 1;
    const body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
    const answer = route(req.method ?? 'GET', url, body);
    return { ...answer, headers: { ...rateLimitHeaders(), ...answer.headers } };
  }

  function route(method: string, url: URL, body: Record<string, unknown>): Answer {
    const path = url.pathname;
    const properties = /^\/crm\/v3\/properties\/(\w+)$/.exec(path);
    if (properties && method === 'GET') return { status: 200, body: { results: propertiesOf(properties[1]!).map(describeProperty) } };
    if (properties && method === 'POST') return createProperty(properties[1]!, body);
    if (method === 'GET' && path === '/crm/v3/pipelines/deals/default') return { status: 200, body: pipeline() };
    if (path.startsWith('/crm/v3/objects/contacts')) return contacts(method, url, body);
    const engagement = /^\/crm\/v3\/objects\/(tasks|deals)(?:\/([^/]+))?$/.exec(path);
    if (engagement)
      return engagements(method, engagement[1] as 'tasks' | 'deals', engagement[2] ? decodeURIComponent(engagement[2]) : null, url, body);
    throw hubSpotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${path}`);
  }

  function describeProperty(p: PropertyDefinition) {
    return {
      name: p.name,
      label: p.label,
      type: p.type,
      fieldType: p.fieldType,
      description: '',
      groupName: 'contactinformation',
      options: (p.options ?? []).map((o, index) => ({ ...o, displayOrder: index, hidden: false })),
      displayOrder: -1,
      calculated: false,
      externalOptions: false,
      hasUniqueValue: p.hasUniqueValue ?? false,
      hidden: false,
      hubspotDefined: p.hubspotDefined,
      modificationMetadata: { archivable: !p.hubspotDefined, readOnlyDefinition: !!p.hubspotDefined, readOnlyValue: !!p.readOnly },
      formField: !p.readOnly,
      createdAt: '2020-01-01T00:00:00.000Z',
      updatedAt: '2020-01-01T00:00:00.000Z',
    };
  }

  function createProperty(objectType: string, body: Record<string, unknown>): Answer {
    const name = String(body.name ?? '');
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw hubSpotError(400, 'VALIDATION_ERROR', `Invalid property name ${name}`);
    if (propertiesOf(objectType).some((p) => p.name === name))
      throw hubSpotError(409, 'OBJECT_ALREADY_EXISTS', `Property named '${name}' already exists.`);
    if (body.hasUniqueValue === true && !['contacts', 'companies', 'deals', 'tickets'].includes(objectType))
      throw hubSpotError(400, 'VALIDATION_ERROR', `Unique value properties are not supported on ${objectType}`);
    const definition: PropertyDefinition = {
      name,
      label: String(body.label ?? name),
      type: String(body.type ?? 'string') as PropertyDefinition['type'],
      fieldType: String(body.fieldType ?? 'text'),
      hasUniqueValue: body.hasUniqueValue === true,
    };
    createdProperties.set(objectType, [...(createdProperties.get(objectType) ?? []), definition]);
    return { status: 201, body: describeProperty(definition) };
  }

  function pipeline() {
    const stamp = '2020-01-01T00:00:00.000Z';
    return {
      id: 'default',
      label: 'Sales Pipeline',
      displayOrder: 0,
      archived: false,
      createdAt: stamp,
      updatedAt: stamp,
      stages: dealStages.map(([id, label], displayOrder) => ({
        id,
        label,
        displayOrder,
        archived: false,
        createdAt: stamp,
        updatedAt: stamp,
        metadata: { isClosed: String(id.startsWith('closed')), probability: String(Math.min(displayOrder / 5, 1)) },
        writePermissions: 'CRM_PERMISSIONS_ENFORCEMENT',
      })),
    };
  }

  function contacts(method: string, url: URL, body: Record<string, unknown>): Answer {
    const path = url.pathname;
    if (method === 'POST' && path === '/crm/v3/objects/contacts/search') return search(body as SearchBody);
    if (method === 'POST' && path.startsWith('/crm/v3/objects/contacts/batch/')) batches.push({ path, body });
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/read') return batchRead(body);
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/create') return batchWrite(body, 'create');
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/update') return batchWrite(body, 'update');
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/archive') {
      for (const input of inputsOf(body)) if (data.records.get(String(input.id))?.deletedAt === null) data.remove(String(input.id));
      return { status: 204 };
    }
    if (method === 'GET' && path === '/crm/v3/objects/contacts') return list(url);
    throw hubSpotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${path}`);
  }

  function inputsOf(body: Record<string, unknown>): Record<string, unknown>[] {
    const inputs = body.inputs;
    if (!Array.isArray(inputs)) throw hubSpotError(400, 'VALIDATION_ERROR', 'inputs is required');
    if (inputs.length > 100) throw hubSpotError(400, 'VALIDATION_ERROR', 'Batch size limit exceeded: at most 100 inputs');
    return inputs as Record<string, unknown>[];
  }

  function search(body: SearchBody): Answer {
    searches.push(body);
    const limit = body.limit ?? 10;
    const after = body.after === undefined || body.after === '' ? 0 : Number(body.after);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw hubSpotError(400, 'VALIDATION_ERROR', 'limit must be between 1 and 100');
    if (!Number.isInteger(after) || after < 0) throw hubSpotError(400, 'VALIDATION_ERROR', `invalid after: ${body.after}`);
    if (after + limit > HUBSPOT_SEARCH_CAP)
      throw hubSpotError(400, 'VALIDATION_ERROR', `The search API returns at most ${HUBSPOT_SEARCH_CAP} results for a query; narrow the filters.`);
    const sorts = body.sorts ?? [];
    if (sorts.length > 1) throw hubSpotError(400, 'VALIDATION_ERROR', 'Only one sort is allowed');
    const groups = body.filterGroups ?? [];
    if (groups.length > 5) throw hubSpotError(400, 'VALIDATION_ERROR', 'At most 5 filterGroups are allowed');
    const matches = data
      .live()
      .filter((record) => groups.length === 0 || groups.some((group) => (group.filters ?? []).every((filter) => matchFilter(record, filter))));
    const sort = sorts[0] === undefined ? null : typeof sorts[0] === 'string' ? { propertyName: sorts[0], direction: 'ASCENDING' } : sorts[0];
    matches.sort((a, b) => {
      if (sort) {
        const order = compareValues(sortValue(a, sort.propertyName), sortValue(b, sort.propertyName));
        if (order !== 0) return sort.direction === 'DESCENDING' ? -order : order;
      }
      return a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0;
    });
    const page = matches.slice(after, after + limit);
    const next = after + limit < matches.length ? String(after + limit) : null;
    return {
      status: 200,
      body: {
        total: matches.length,
        results: page.map((record) => wire(record, body.properties ?? ['email', 'firstname', 'lastname'])),
        ...(next ? { paging: { next: { after: next, link: '' } } } : {}),
      },
    };
  }

  function sortValue(record: FakeCrmRecord, property: string): number | string | null {
    if (property === 'lastmodifieddate') return record.modifiedAt;
    if (property === 'createdate') return createdAt.get(record.externalId) ?? record.modifiedAt;
    if (property === 'hs_object_id') return Number(record.externalId);
    const value = record.fields[property];
    return value === undefined || value === null ? null : typeof value === 'number' ? value : String(value);
  }

  function compareValues(a: number | string | null, b: number | string | null): number {
    if (a === b) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    return a < b ? -1 : 1;
  }

  function matchFilter(record: FakeCrmRecord, filter: { propertyName: string; operator: string; value?: string; values?: string[] }): boolean {
    const actual = sortValue(record, filter.propertyName);
    const numeric = typeof actual === 'number';
    const parse = (value: string | undefined): number | string | null => {
      if (value === undefined) return null;
      if (!numeric) return value;
      if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
      const ms = Date.parse(value);
      return Number.isNaN(ms) ? null : ms;
    };
    const expected = parse(filter.value);
    switch (filter.operator) {
      case 'EQ':
        return actual !== null && actual === expected;
      case 'NEQ':
        return actual !== expected;
      case 'GT':
        return actual !== null && expected !== null && actual > expected;
      case 'GTE':
        return actual !== null && expected !== null && actual >= expected;
      case 'LT':
        return actual !== null && expected !== null && actual < expected;
      case 'LTE':
        return actual !== null && expected !== null && actual <= expected;
      case 'IN':
        return actual !== null && (filter.values ?? []).map(parse).includes(actual);
      case 'HAS_PROPERTY':
        return actual !== null;
      case 'NOT_HAS_PROPERTY':
        return actual === null;
      default:
        throw hubSpotError(400, 'VALIDATION_ERROR', `Unsupported operator ${filter.operator}`);
    }
  }

  function batchRead(body: Record<string, unknown>): Answer {
    const inputs = inputsOf(body);
    const properties = Array.isArray(body.properties) ? (body.properties as string[]) : [];
    const startedAt = new Date().toISOString();
    const results = [];
    const missing: string[] = [];
    for (const input of inputs) {
      const record = data.records.get(String(input.id));
      if (record && record.deletedAt === null) results.push(wire(record, properties));
      else missing.push(String(input.id));
    }
    const done = { status: 'COMPLETE', results, startedAt, completedAt: new Date().toISOString() };
    if (missing.length === 0) return { status: 200, body: done };
    return {
      status: 207,
      body: {
        ...done,
        numErrors: 1,
        errors: [
          {
            status: 'error',
            category: 'OBJECT_NOT_FOUND',
            message: 'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.',
            context: { ids: missing },
            links: {},
            errors: [],
          },
        ],
      },
    };
  }

  function batchWrite(body: Record<string, unknown>, mode: 'create' | 'update'): Answer {
    const inputs = inputsOf(body);
    const startedAt = new Date().toISOString();
    const checked = inputs.map((input) => {
      const traceId = typeof input.objectWriteTraceId === 'string' ? input.objectWriteTraceId : undefined;
      const id = mode === 'update' ? String(input.id ?? '') : null;
      const context: Record<string, string[]> = { ...(traceId !== undefined ? { objectWriteTraceId: [traceId] } : {}), ...(id ? { ids: [id] } : {}) };
      if (id !== null && data.records.get(id)?.deletedAt !== null)
        return {
          input,
          traceId,
          error: { status: 404, category: 'OBJECT_NOT_FOUND', message: `Object not found. objectId are usually numeric.`, context },
        };
      const result = validate('contacts', (input.properties ?? {}) as Record<string, unknown>, context);
      if ('error' in result) return { input, traceId, error: result.error };
      const taken = emailTaken(result.values.email, id);
      if (taken)
        return { input, traceId, error: { status: 409, category: 'CONFLICT', message: `Contact already exists. Existing ID: ${taken}`, context } };
      return { input, traceId, id, values: result.values };
    });
    const failed = checked.filter((entry) => 'error' in entry);
    if (failed.length > 0 && batchErrors === 'whole-batch') {
      const first = (failed[0] as { error: RecordError }).error;
      throw new HttpError(first.status, {
        status: 'error',
        message: first.message,
        correlationId: randomBytes(16).toString('hex'),
        category: first.category,
        context: first.context,
      });
    }
    const results = [];
    for (const entry of checked) {
      if (!('values' in entry) || !entry.values) continue;
      let record: FakeCrmRecord;
      if (entry.id === null) {
        record = data.create(entry.values);
        createdAt.set(record.externalId, record.modifiedAt);
      } else record = data.edit(entry.id, entry.values);
      results.push({ ...wire(record, Object.keys(entry.values)), ...(entry.traceId !== undefined ? { objectWriteTraceId: entry.traceId } : {}) });
    }
    const done = { status: 'COMPLETE', results, startedAt, completedAt: new Date().toISOString() };
    if (failed.length === 0) return { status: mode === 'create' ? 201 : 200, body: done };
    const errors = failed.map((entry) => {
      const error = (entry as { error: RecordError }).error;
      return { status: 'error', category: error.category, message: error.message, context: error.context, links: {}, errors: [] };
    });
    return { status: 207, body: { ...done, numErrors: errors.length, errors } };
  }

  function list(url: URL): Answer {
    const archived = url.searchParams.get('archived') === 'true';
    const limit = Number(url.searchParams.get('limit') ?? '10');
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw hubSpotError(400, 'VALIDATION_ERROR', 'limit must be between 1 and 100');
    const after = url.searchParams.get('after');
    const properties = (url.searchParams.get('properties') ?? '').split(',').filter(Boolean);
    const rows = [...data.records.values()]
      .filter((record) => (record.deletedAt !== null) === archived)
      .sort((a, b) => (a.externalId < b.externalId ? -1 : 1))
      .filter((record) => after === null || record.externalId >= after);
    const page = rows.slice(0, limit);
    const next = rows[limit];
    return {
      status: 200,
      body: { results: page.map((record) => wire(record, properties)), ...(next ? { paging: { next: { after: next.externalId, link: '' } } } : {}) },
    };
  }

  function engagements(method: string, objectType: 'tasks' | 'deals', id: string | null, url: URL, body: Record<string, unknown>): Answer {
    const store = objects[objectType];
    const show = (record: EngagementRecord) => ({
      id: record.id,
      properties: { ...record.properties, hs_object_id: record.id },
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(record.createdAt).toISOString(),
      archived: false,
    });
    if (method === 'GET' && id !== null) {
      const idProperty = url.searchParams.get('idProperty');
      if (idProperty) {
        const definition = propertiesOf(objectType).find((p) => p.name === idProperty);
        if (!definition?.hasUniqueValue)
          throw hubSpotError(400, 'VALIDATION_ERROR', `Property ${idProperty} is not a unique identifier property of ${objectType}`);
      }
      const found = store.find((record) => (idProperty ? record.properties[idProperty] === id : record.id === id));
      if (!found) throw hubSpotError(404, 'OBJECT_NOT_FOUND', 'resource not found');
      return { status: 200, body: show(found) };
    }
    if (method === 'POST' && id === 'search') {
      const query = body as SearchBody;
      const filters = query.filterGroups?.[0]?.filters ?? [];
      const found = store.filter((record) => filters.every((f) => f.operator === 'EQ' && record.properties[f.propertyName] === f.value));
      return { status: 200, body: { total: found.length, results: found.slice(0, query.limit ?? 10).map(show) } };
    }
    if (method === 'POST' && id === null) {
      const associations = Array.isArray(body.associations)
        ? (body.associations as { to?: { id?: string }; types?: { associationCategory?: string; associationTypeId?: number }[] }[])
        : [];
      const contactId = associations[0]?.to?.id;
      const type = associations[0]?.types?.[0];
      if (
        !contactId ||
        data.records.get(String(contactId))?.deletedAt !== null ||
        type?.associationCategory !== 'HUBSPOT_DEFINED' ||
        type.associationTypeId !== associationToContact[objectType]
      )
        throw hubSpotError(400, 'VALIDATION_ERROR', 'One or more associations are invalid', { context: { ids: [String(contactId)] } });
      const result = validate(objectType, (body.properties ?? {}) as Record<string, unknown>, {});
      if ('error' in result) throw hubSpotError(400, result.error.category, result.error.message);
      const properties: Record<string, string> = {};
      for (const [name, value] of Object.entries(result.values)) if (value !== null) properties[name] = String(value);
      const unique = propertiesOf(objectType).filter((p) => p.hasUniqueValue && properties[p.name] !== undefined);
      for (const p of unique) {
        const owner = store.find((record) => record.properties[p.name] === properties[p.name]);
        if (owner)
          throw hubSpotError(
            409,
            'CONFLICT',
            `A ${objectType.slice(0, -1)} with ${p.name} ${properties[p.name]} already exists. Existing ID: ${owner.id}`,
          );
      }
      const record: EngagementRecord = { id: data.nextId(), properties, contactId: String(contactId), createdAt: data.tick() };
      store.push(record);
      const custom = propertiesOf(objectType).find((p) => !p.hubspotDefined && properties[p.name] !== undefined);
      const marker = custom ? properties[custom.name]! : '';
      if (objectType === 'tasks')
        data.activities.push({
          externalId: record.id,
          contactExternalId: record.contactId,
          subject: properties.hs_task_subject ?? '',
          body: properties.hs_task_body ?? '',
          marker,
        });
      else
        data.deals.push({
          externalId: record.id,
          contactExternalId: record.contactId,
          name: properties.dealname ?? '',
          amount: properties.amount === undefined ? null : Number(properties.amount),
          stage: properties.dealstage ?? null,
          marker,
        });
      return { status: 201, body: show(record) };
    }
    throw hubSpotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${url.pathname}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let batchErrors: FakeHubSpot['batchErrors'] = 'multi-status';

  const fake: FakeHubSpot = {
    provider: 'hubspot',
    baseUrl,
    env: { HUBSPOT_API_URL: baseUrl, HUBSPOT_OAUTH_URL: baseUrl, HUBSPOT_CLIENT_ID: clientId, HUBSPOT_CLIENT_SECRET: clientSecret },
    clientId,
    clientSecret,
    standardFields: { email: 'email', firstName: 'firstname', lastName: 'lastname', company: 'company', phone: 'phone' },
    data,
    requests,
    searches,
    batches,
    createdProperties,
    get batchErrors() {
      return batchErrors;
    },
    set batchErrors(mode) {
      batchErrors = mode;
    },
    webhookTargetUrl: 'https://hooks.nexusflow.test/integrations/hubspot/webhook',
    async authorize(authorizationUrl) {
      const url = new URL(authorizationUrl);
      if (`${url.protocol}//${url.host}` !== baseUrl || url.pathname !== '/oauth/authorize')
        throw new Error(`not this fake's consent page: ${authorizationUrl}`);
      if (url.searchParams.get('client_id') !== clientId) throw new Error('unknown client_id');
      const redirectUri = url.searchParams.get('redirect_uri');
      const state = url.searchParams.get('state');
      if (!redirectUri || !state) throw new Error('redirect_uri and state are required');
      if (!(url.searchParams.get('scope') ?? '').split(' ').includes('crm.objects.contacts.read'))
        throw new Error('the contacts scope was not requested');
      const grant: OAuthGrant = { refreshToken: `hs-rt-${randomBytes(18).toString('base64url')}`, revoked: false };
      grants.set(grant.refreshToken, grant);
      const code = `hs-code-${randomBytes(12).toString('base64url')}`;
      codes.set(code, { redirectUri, grant });
      return { code, state, redirectUri };
    },
    rateLimitNext(times, retryAfterSeconds) {
      rateLimited = { times, retryAfterSeconds };
    },
    failNext(times, status) {
      failing = { times, status };
    },
    exhaustQuota(exhausted) {
      quotaExhausted = exhausted;
    },
    expireAccessTokens() {
      for (const token of accessTokens.values()) token.expired = true;
    },
    revokeGrant() {
      for (const grant of grants.values()) grant.revoked = true;
    },
    webhook(externalIds, _secrets) {
      const occurredAt = Date.now();
      const events = externalIds.map((id, index) => ({
        eventId: 100 + index,
        subscriptionId: 2000,
        portalId: HUB_ID,
        appId: 1234567,
        occurredAt,
        subscriptionType: 'contact.propertyChange',
        attemptNumber: 0,
        objectId: Number(id),
        propertyName: 'email',
        propertyValue: 'changed@example.com',
        changeSource: 'CRM_UI',
        sourceId: 'userId:7654321',
      }));
      const body = JSON.stringify(events);
      const timestamp = String(Date.now());
      // The full URL as `path`: HubSpot's signature covers the host too, so the URL signed is the URL delivered.
      return {
        method: 'POST',
        path: fake.webhookTargetUrl,
        headers: {
          'content-type': 'application/json',
          'x-hubspot-request-timestamp': timestamp,
          'x-hubspot-signature-v3': hubSpotSignatureV3(clientSecret, 'POST', fake.webhookTargetUrl, body, timestamp),
          'x-hubspot-signature-version': 'v3',
        },
        body,
      };
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return fake;
}

function toWire(value: CrmValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : String(value);
}
