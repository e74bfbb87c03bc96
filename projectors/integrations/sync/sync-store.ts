import type pg from 'pg';
import type { SyncLink } from '../../../domain/integrations/reconcile.ts';

export interface ClaimedIntegration {
  integrationId: string;
  organizationId: string;
  runId: string | null;
  nextPollAt: Date;
  pendingFetch: string[];
  apiDay: string | null;
  apiCalls: number;
}

export interface StoredLink extends SyncLink {
  externalId: string;
  contactId: string;
  providerModifiedAt: Date | null;
}

export interface OutboundChange {
  contactId: string;
  deleted: boolean;
  changedAt: Date;
}

/**
 * The sync worker's side of its tables (the sync projection writes them from the log): claiming due
 * integrations with a lease, letting them go with their next due time, the day's API calls, the outbound
 * changes, and the links between provider records and our contacts.
 */
export class SyncStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly owner: string,
  ) {}

  async claim(now: Date, limit: number, leaseMs: number): Promise<ClaimedIntegration[]> {
    const { rows } = await this.pool.query<{
      integration_id: string;
      organization_id: string;
      run_id: string | null;
      next_poll_at: Date;
      pending_fetch: string[];
      api_day: string | null;
      api_calls: number;
    }>(
      `UPDATE crm_sync_integrations i
          SET lease_owner = $1, lease_until = $2::timestamptz + make_interval(secs => $4::double precision / 1000)
         FROM (SELECT integration_id FROM crm_sync_integrations
                WHERE status = 'connected' AND GREATEST(due_at, lease_until) <= $2
                ORDER BY GREATEST(due_at, lease_until)
                LIMIT $3
                FOR UPDATE SKIP LOCKED) due
        WHERE i.integration_id = due.integration_id
    RETURNING i.integration_id, i.organization_id, i.run_id, i.next_poll_at, i.pending_fetch, to_char(i.api_day, 'YYYY-MM-DD') AS api_day, i.api_calls`,
      [this.owner, now, limit, leaseMs],
    );
    return rows.map((row) => ({
      integrationId: row.integration_id,
      organizationId: row.organization_id,
      runId: row.run_id,
      nextPollAt: row.next_poll_at,
      pendingFetch: row.pending_fetch,
      apiDay: row.api_day,
      apiCalls: row.api_calls,
    }));
  }

  /** Keeps the lease while a run goes on; false when it was lost (taken over after it ran out). */
  async renew(integrationId: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE crm_sync_integrations SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE integration_id = $1 AND lease_owner = $2`,
      [integrationId, this.owner, leaseMs],
    );
    return rowCount === 1;
  }

  /**
   * Lets an integration go. It is due again at once when something is waiting (a run in progress, webhook
   * ids, outbound changes), else at its next poll; never before `notBefore` (a rate limit's Retry-After, a
   * back-off). Decided in the statement itself, so a trigger the projection recorded meanwhile counts.
   *
   * The row is locked by a statement of its own first. The projection records an outbound change and moves
   * the row's due time in one transaction; an UPDATE that waited for that transaction's lock would still
   * judge "is anything waiting" on the snapshot it started with (READ COMMITTED re-reads the locked row, not
   * the other tables), not see the change, and put the due time back to the next poll: a lost wake-up (a
   * contact created here then waited for the poll interval to reach the CRM). Once the lock is held, the
   * UPDATE's own snapshot sees everything committed before it.
   */
  async release(integrationId: string, notBefore: Date, pausedReason: string | null = null): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM crm_sync_integrations WHERE integration_id = $1 FOR UPDATE`, [integrationId]);
      await client.query(
        `UPDATE crm_sync_integrations i
            SET lease_owner = NULL, lease_until = NULL, paused_reason = $3,
                due_at = GREATEST($2::timestamptz,
                  CASE WHEN i.run_id IS NOT NULL OR cardinality(i.pending_fetch) > 0
                         OR EXISTS (SELECT 1 FROM crm_sync_outbound o WHERE o.integration_id = i.integration_id)
                       THEN now() ELSE i.next_poll_at END)
          WHERE i.integration_id = $1`,
        [integrationId, notBefore, pausedReason],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Counts provider API calls against the integration's daily budget (UTC days). Answers false, counting
   * nothing, when `calls` more would go beyond it.
   */
  async spendApiCalls(integrationId: string, calls: number, budget: number, today: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE crm_sync_integrations
          SET api_day = $3::date, api_calls = CASE WHEN api_day = $3::date THEN api_calls + $2 ELSE $2 END
        WHERE integration_id = $1 AND (CASE WHEN api_day = $3::date THEN api_calls + $2 ELSE $2 END) <= $4`,
      [integrationId, calls, today, budget],
    );
    return rowCount === 1;
  }

  async removeFetched(integrationId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      `UPDATE crm_sync_integrations
          SET pending_fetch = ARRAY(SELECT unnest(pending_fetch) EXCEPT SELECT unnest($2::text[]))
        WHERE integration_id = $1`,
      [integrationId, ids],
    );
  }

  async outbound(integrationId: string, limit: number): Promise<OutboundChange[]> {
    const { rows } = await this.pool.query<{ contact_id: string; deleted: boolean; changed_at: Date }>(
      `SELECT contact_id, deleted, changed_at FROM crm_sync_outbound WHERE integration_id = $1 ORDER BY changed_at, contact_id LIMIT $2`,
      [integrationId, limit],
    );
    return rows.map((row) => ({ contactId: row.contact_id, deleted: row.deleted, changedAt: row.changed_at }));
  }

  /** Removes outbound changes once sent; a change recorded after the one sent stays (it goes next). */
  async sent(integrationId: string, changes: OutboundChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.pool.query(
      `DELETE FROM crm_sync_outbound o USING unnest($2::uuid[], $3::timestamptz[]) AS s(contact_id, changed_at)
        WHERE o.integration_id = $1 AND o.contact_id = s.contact_id AND o.changed_at <= s.changed_at`,
      [integrationId, changes.map((c) => c.contactId), changes.map((c) => c.changedAt)],
    );
  }

  async linksByExternalId(integrationId: string, externalIds: string[]): Promise<Map<string, StoredLink>> {
    if (externalIds.length === 0) return new Map();
    const { rows } = await this.pool.query<LinkRow>(
      `SELECT external_id, contact_id, base, ledger, provider_modified_at FROM crm_sync_links WHERE integration_id = $1 AND external_id = ANY($2::text[])`,
      [integrationId, externalIds],
    );
    return new Map(rows.map((row) => [row.external_id, linkOf(row)]));
  }

  async linksByContactId(integrationId: string, contactIds: string[]): Promise<Map<string, StoredLink>> {
    if (contactIds.length === 0) return new Map();
    const { rows } = await this.pool.query<LinkRow>(
      `SELECT external_id, contact_id, base, ledger, provider_modified_at FROM crm_sync_links WHERE integration_id = $1 AND contact_id = ANY($2::uuid[])`,
      [integrationId, contactIds],
    );
    return new Map(rows.map((row) => [row.contact_id, linkOf(row)]));
  }

  /** Writes links (one statement); a contact linked to another record before is re-linked to this one. */
  async saveLinks(integrationId: string, given: StoredLink[]): Promise<void> {
    // One row per record and per contact: the last word on each wins (two records of one person in a page).
    const byContact = new Map<string, StoredLink>();
    for (const link of given) byContact.set(link.contactId, link);
    const links = [...new Map([...byContact.values()].map((link) => [link.externalId, link])).values()];
    if (links.length === 0) return;
    await this.pool.query(
      `WITH incoming AS (
         SELECT * FROM unnest($2::text[], $3::uuid[], $4::jsonb[], $5::jsonb[], $6::timestamptz[])
                AS l(external_id, contact_id, base, ledger, provider_modified_at)),
       unlinked AS (
         DELETE FROM crm_sync_links c USING incoming l
          WHERE c.integration_id = $1 AND c.contact_id = l.contact_id AND c.external_id <> l.external_id)
       INSERT INTO crm_sync_links (integration_id, external_id, contact_id, base, ledger, provider_modified_at)
       SELECT $1, external_id, contact_id, base, ledger, provider_modified_at FROM incoming
       ON CONFLICT (integration_id, external_id) DO UPDATE
         SET contact_id = EXCLUDED.contact_id, base = EXCLUDED.base, ledger = EXCLUDED.ledger,
             provider_modified_at = EXCLUDED.provider_modified_at`,
      [
        integrationId,
        links.map((l) => l.externalId),
        links.map((l) => l.contactId),
        links.map((l) => JSON.stringify(l.base)),
        links.map((l) => JSON.stringify(l.ledger)),
        links.map((l) => l.providerModifiedAt),
      ],
    );
  }

  async removeLinks(integrationId: string, externalIds: string[]): Promise<void> {
    if (externalIds.length === 0) return;
    await this.pool.query(`DELETE FROM crm_sync_links WHERE integration_id = $1 AND external_id = ANY($2::text[])`, [integrationId, externalIds]);
  }

  /**
   * Our contacts of the organization in (updatedAt, id) order after a point: a full outbound pass. With
   * `unlinkedOf`, only those not linked to a record of that integration (an initial run: the linked ones were
   * merged by its inbound pass, and their later changes are outbound changes).
   */
  async contactsAfter(
    organizationId: string,
    after: { at: string; id: string } | null,
    limit: number,
    unlinkedOf: string | null = null,
  ): Promise<{ id: string; updatedAt: Date }[]> {
    const { rows } = await this.pool.query<{ id: string; updated_at: Date }>(
      `SELECT c.id, c.updated_at FROM contacts c
        WHERE c.organization_id = $1
          AND ($3::timestamptz IS NULL OR (c.updated_at, c.id) > ($3::timestamptz, $4::uuid))
          AND ($5::uuid IS NULL OR NOT EXISTS (SELECT 1 FROM crm_sync_links l WHERE l.integration_id = $5 AND l.contact_id = c.id))
        ORDER BY c.updated_at, c.id LIMIT $2`,
      [organizationId, limit, after?.at ?? null, after?.id ?? null, unlinkedOf],
    );
    return rows.map((row) => ({ id: row.id, updatedAt: row.updated_at }));
  }
}

interface LinkRow {
  external_id: string;
  contact_id: string;
  base: StoredLink['base'];
  ledger: StoredLink['ledger'];
  provider_modified_at: Date | null;
}

function linkOf(row: LinkRow): StoredLink {
  return {
    externalId: row.external_id,
    contactId: row.contact_id,
    base: row.base,
    ledger: { in: row.ledger.in ?? {}, out: row.ledger.out ?? {} },
    providerModifiedAt: row.provider_modified_at,
  };
}
