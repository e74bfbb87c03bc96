import type { ProviderId } from '../../domain/integrations/providers.ts';

/**
 * The CRM port: what the sync processes, the `crm_action` step and the command side (connect, mappings,
 * webhooks) need from a provider. One adapter per provider implements it (infra/crm/<provider>/), each
 * driving the provider's real client library or its REST API; tests drive them against loopback servers
 * that speak the provider's documented wire format (test/support/fake-crm/).
 *
 * Everything here speaks the provider's own field names (API names such as `Email`, `firstname`,
 * `Custom_Score__c`): mapping to our fields is the domain's business (domain/integrations/mappings.ts).
 */

/** A value as a CRM field holds it: dates and date-times as ISO 8601 strings. */
export type CrmValue = string | number | boolean | null;

/** Where and as whom to call the provider's API: from the sealed grant (refreshed by the caller). */
export interface CrmConnection {
  accessToken: string;
  /**
   * The account's API host (Salesforce's `instance_url`, Pipedrive's and Zoho's `api_domain`), null where the
   * provider has one host for all (HubSpot). A host from a token answer: adapters reach it only through the
   * guarded outbound client.
   */
  instanceUrl: string | null;
}

export type CrmFieldType = 'string' | 'email' | 'phone' | 'number' | 'boolean' | 'date' | 'datetime' | 'picklist' | 'other';

/** A contact field as the provider describes it (standard and custom). */
export interface CrmFieldDescription {
  /** The API name. */
  name: string;
  label: string;
  type: CrmFieldType;
  custom: boolean;
  /** Whether we may write it (false: read-only, formula, system). */
  updatable: boolean;
  /** The allowed values of a picklist. */
  picklistValues?: string[];
}

/** A contact as the provider holds it. */
export interface CrmContact {
  externalId: string;
  /** The provider's last-modified stamp, ISO 8601 (UTC), at the provider's own precision. */
  modifiedAt: string;
  /** The requested fields (absent: the provider had no value). */
  fields: Record<string, CrmValue>;
}

export interface CrmPage<T> {
  items: T[];
  /** Opaque, the adapter's own (a provider cursor, an offset, a last id); null: no further page. */
  nextPageToken: string | null;
}

export interface ChangedContactsQuery {
  /**
   * Contacts modified at or AFTER this instant (inclusive; the overlap window is the caller's, see
   * domain/integrations/cursor.ts); null: every contact. Pages come in ascending (modifiedAt, externalId) order.
   */
  since: string | null;
  /** From the previous page; null: the first page. */
  pageToken: string | null;
  /** At most the adapter's `limits.maxPageSize`. */
  pageSize: number;
  /** Provider field names to read (the mapped ones); the adapter adds what it needs for the id and stamp. */
  fields: string[];
}

export interface CrmDeletion {
  externalId: string;
  deletedAt: string;
}

export interface DeletedContactsQuery {
  /** Deleted at or after this instant; null: as far back as the provider keeps deletions. */
  since: string | null;
  pageToken: string | null;
  pageSize: number;
}

/** One contact to write: an update of `externalId`, or a create (null). */
export interface ContactWrite {
  externalId: string | null;
  fields: Record<string, CrmValue>;
}

/** Per write, in the order given: the provider's answer for that record (one bad record does not fail the rest). */
export type ContactWriteResult =
  | { ok: true; externalId: string; created: boolean; /** The stamp the provider gave our write (echo detection). */ modifiedAt: string }
  | { ok: false; externalId: string | null; /** The provider's message (stored and shown in status). */ reason: string };

export interface ActivityWrite {
  contactExternalId: string;
  subject: string;
  body: string;
  /** The workflow step's key: the same key twice creates ONE activity (a retried step must not log twice). */
  idempotencyKey: string;
}

export interface DealWrite {
  contactExternalId: string;
  name: string;
  amount: number | null;
  /** The provider's stage name or id; null: the provider's default first stage. */
  stage: string | null;
  idempotencyKey: string;
}

/** The provider's data API. Every call may fail with one of the errors below. */
export interface CrmClient {
  readonly limits: { maxPageSize: number; maxWriteBatch: number };
  describeContactFields(connection: CrmConnection): Promise<CrmFieldDescription[]>;
  listChangedContacts(connection: CrmConnection, query: ChangedContactsQuery): Promise<CrmPage<CrmContact>>;
  listDeletedContacts(connection: CrmConnection, query: DeletedContactsQuery): Promise<CrmPage<CrmDeletion>>;
  /** The contacts that still exist among these ids (a webhook's targeted fetch); missing ones are left out. */
  getContacts(connection: CrmConnection, externalIds: string[], fields: string[]): Promise<CrmContact[]>;
  /** At most `limits.maxWriteBatch` writes. */
  writeContacts(connection: CrmConnection, writes: ContactWrite[]): Promise<ContactWriteResult[]>;
  /** Deletes (or the provider's nearest: archive) these contacts; an id already gone counts as deleted. */
  deleteContacts(connection: CrmConnection, externalIds: string[]): Promise<void>;
  logActivity(connection: CrmConnection, activity: ActivityWrite): Promise<{ reference: string }>;
  createDeal(connection: CrmConnection, deal: DealWrite): Promise<{ reference: string }>;
}

/** What a token answer (code exchange or refresh) gave. */
export interface CrmGrant {
  accessToken: string;
  /** Absent in a refresh answer that keeps the old refresh token. */
  refreshToken: string | null;
  expiresAt: string;
  instanceUrl: string | null;
  /** The provider's id of the connected account (org, portal, company): a reconnect must not switch it. */
  accountId: string;
  accountLabel: string;
  scopes: string[];
}

export interface AuthorizationRequest {
  state: string;
  redirectUri: string;
  /** S256 challenge where the provider supports PKCE (providers.ts `pkce`), else null. */
  codeChallenge: string | null;
}

export interface CrmOAuth {
  /** The URL the user's browser is sent to. */
  authorizationUrl(request: AuthorizationRequest): string;
  exchangeCode(input: { code: string; redirectUri: string; codeVerifier: string | null }): Promise<CrmGrant>;
  /** Fails with CrmGrantRevoked when the provider refuses the refresh token (invalid_grant). */
  refresh(refreshToken: string, previous: Pick<CrmGrant, 'instanceUrl' | 'accountId' | 'accountLabel' | 'scopes'>): Promise<CrmGrant>;
  /** Revokes the grant at the provider (on disconnect); best effort. */
  revoke(grant: { accessToken: string; refreshToken: string | null; instanceUrl: string | null }): Promise<void>;
}

export interface WebhookDelivery {
  method: string;
  /** The full URL the provider called (some signatures cover it). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  now: Date;
}

/** What a verified webhook names: only ids; the sync fetches them (a body can never write data). */
export interface WebhookNotice {
  externalIds: string[];
}

export interface CrmWebhooks {
  /**
   * Verifies the provider's signature over the raw body (and timestamp, where the provider signs one and
   * within its documented tolerance); null when it does not hold. `secrets`: the app's client secret (HubSpot
   * signs with it) and the integration's own webhook secret (the others).
   */
  verify(delivery: WebhookDelivery, secrets: { clientSecret: string; integrationSecret: string }): WebhookNotice | null;
}

/** A provider: its OAuth, data API and webhooks. */
export interface CrmProvider {
  readonly id: ProviderId;
  readonly oauth: CrmOAuth;
  readonly client: CrmClient;
  readonly webhooks: CrmWebhooks;
}

/** The configured providers; a provider without its OAuth app settings is absent. */
export interface CrmProviders {
  get(id: ProviderId): CrmProvider | undefined;
  /** The environment variables a provider lacks (for a 503 that names them). */
  missingSettings(id: ProviderId): string[];
}

// Errors every adapter maps the provider's failures to.

export class CrmError extends Error {
  constructor(
    message: string,
    /** Whether trying again later may succeed. */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 429 or the provider's burst limit: wait `retryAfterMs` (from Retry-After or the provider's headers). */
export class CrmRateLimited extends CrmError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message, true);
  }
}

/** A daily (or other long-window) quota is spent: nothing more until `resetAt`. */
export class CrmQuotaExhausted extends CrmError {
  constructor(
    message: string,
    readonly resetAt: string | null,
  ) {
    super(message, true);
  }
}

/** The access token was refused (401): refresh it and try once more. */
export class CrmUnauthorized extends CrmError {
  constructor(message: string) {
    super(message, true);
  }
}

/** The grant is gone (refresh refused with invalid_grant, app uninstalled): the integration needs a reconnect. */
export class CrmGrantRevoked extends CrmError {
  constructor(message: string) {
    super(message, false);
  }
}

/** The provider is down or did not answer (5xx, network): retry with backoff. */
export class CrmUnavailable extends CrmError {
  constructor(message: string) {
    super(message, true);
  }
}

/** The provider refused the request itself (a 4xx other than the above): trying again will not help. */
export class CrmRequestRejected extends CrmError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message, false);
  }
}
