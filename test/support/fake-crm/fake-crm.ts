import type { ProviderId } from '../../../domain/integrations/providers.ts';
import type { CrmValue } from '../../../projectors/integrations/ports.ts';

/**
 * A loopback server that speaks one CRM provider's documented wire format (OAuth token and refresh, paging,
 * 429 with Retry-After, quota errors, field describe, webhooks with signatures), over one shared in-memory
 * CRM ({@link FakeCrmData}). Tests drive our REAL adapter (and through it the provider's real client library)
 * against it, and steer and inspect it through this interface: the same for every provider, so one contract
 * suite runs on all of them.
 */
export interface FakeCrmServer {
  readonly provider: ProviderId;
  /** The base URL to configure (SALESFORCE_LOGIN_URL, HUBSPOT_API_URL, …), e.g. http://127.0.0.1:40123. */
  readonly baseUrl: string;
  /** Extra environment settings the adapter needs to reach this server (an OAuth host of its own, …). */
  readonly env: Record<string, string>;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The provider's API names of the standard contact fields (what a contract test maps). */
  readonly standardFields: { email: string; firstName: string; lastName: string; company: string; phone: string };
  readonly data: FakeCrmData;
  /**
   * Completes an authorization the way the provider's consent screen would: for an authorization URL our
   * adapter built, returns the `code` and `state` the browser would bring back to the redirect URI.
   */
  authorize(authorizationUrl: string): Promise<{ code: string; state: string; redirectUri: string }>;
  /** Makes the next `times` API calls (not OAuth) answer 429 with this Retry-After (seconds). */
  rateLimitNext(times: number, retryAfterSeconds: number): void;
  /** Makes every API call answer the provider's daily-quota error until cleared. */
  exhaustQuota(exhausted: boolean): void;
  /** Expires every access token issued so far (the next call gets 401; a refresh works). */
  expireAccessTokens(): void;
  /** Revokes the grant: refresh answers invalid_grant, API calls 401. */
  revokeGrant(): void;
  /** The body, headers and URL of a webhook delivery as the provider would sign and send it (for these ids). */
  webhook(
    externalIds: string[],
    secrets: { integrationSecret: string },
  ): { method: string; path: string; headers: Record<string, string>; body: string };
  /** Every API request received (method and path), for assertions on paging and targeted fetches. */
  readonly requests: { method: string; path: string }[];
  close(): Promise<void>;
}

export interface FakeCrmRecord {
  externalId: string;
  /** Milliseconds since the epoch: the provider's modification stamp. */
  modifiedAt: number;
  fields: Record<string, CrmValue>;
  deletedAt: number | null;
  /** Counts the record's changes (a fake may cache what it derives from a record by it). */
  version?: number;
}

/**
 * The CRM's contacts, one table whatever the provider's wire format, with a clock the test controls: a
 * record stamped exactly at a cursor is made by setting the clock.
 */
export class FakeCrmData {
  readonly records = new Map<string, FakeCrmRecord>();
  readonly activities: { externalId: string; contactExternalId: string; subject: string; body: string; marker: string }[] = [];
  readonly deals: { externalId: string; contactExternalId: string; name: string; amount: number | null; stage: string | null; marker: string }[] = [];
  /** Custom fields the describe call lists beyond the provider's standard ones. */
  readonly customFields: { name: string; label: string; type: 'string' | 'number' | 'picklist' | 'date'; picklistValues?: string[] }[] = [];
  /** What the fake's clock says (ms); advanced by each write unless frozen by `at`. */
  now = Date.parse('2026-01-01T00:00:00.000Z');
  private sequence = 0;

  constructor(private readonly idPrefix: string) {}

  /** The next id in the provider's style. */
  nextId(): string {
    this.sequence += 1;
    return `${this.idPrefix}${String(this.sequence).padStart(12, '0')}`;
  }

  /** A change made in the CRM by one of its users (not through our adapter). */
  edit(externalId: string, fields: Record<string, CrmValue>, at = this.tick()): FakeCrmRecord {
    const record = this.records.get(externalId);
    if (!record || record.deletedAt !== null) throw new Error(`no live record ${externalId}`);
    Object.assign(record.fields, fields);
    record.modifiedAt = at;
    record.version = (record.version ?? 0) + 1;
    return record;
  }

  create(fields: Record<string, CrmValue>, at = this.tick()): FakeCrmRecord {
    const record: FakeCrmRecord = { externalId: this.nextId(), modifiedAt: at, fields: { ...fields }, deletedAt: null };
    this.records.set(record.externalId, record);
    return record;
  }

  remove(externalId: string, at = this.tick()): void {
    const record = this.records.get(externalId);
    if (record) {
      record.deletedAt = at;
      record.version = (record.version ?? 0) + 1;
    }
  }

  /** Many records at once (imports), stamped one millisecond apart from the clock. */
  seed(count: number, make: (index: number) => Record<string, CrmValue>): FakeCrmRecord[] {
    const made: FakeCrmRecord[] = [];
    for (let index = 0; index < count; index++) made.push(this.create(make(index)));
    return made;
  }

  live(): FakeCrmRecord[] {
    return [...this.records.values()].filter((record) => record.deletedAt === null);
  }

  /** Advances the clock by a millisecond and answers the new time. */
  tick(): number {
    this.now += 1;
    return this.now;
  }
}
