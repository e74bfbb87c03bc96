import { Migration } from '@mikro-orm/migrations';

/**
 * The CRM sync process's tables (issue 20; projectors/integrations/sync):
 * - crm_sync_integrations: per connected integration, when the sync worker must look at it (a run in
 *   progress, a webhook's ids to fetch, contact changes to send, the next poll) and its lease. The sync
 *   projection writes what the log says; the worker its lease, its back-off and the day's API calls.
 * - crm_sync_outbound: our contacts changed since they last went out, one row per integration and contact
 *   (written by the projection from the log, removed by the worker once sent).
 * - crm_sync_links: which provider record is which contact, with the merge base and echo ledger per field.
 */
export class Migration20261204000030 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE crm_sync_integrations (
        integration_id uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        provider text NOT NULL,
        status text NOT NULL,
        direction text NOT NULL,
        poll_interval_minutes integer NOT NULL,
        run_id text NULL,
        failures integer NOT NULL DEFAULT 0,
        next_poll_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        lease_owner text NULL,
        lease_until timestamptz NULL,
        pending_fetch text[] NOT NULL DEFAULT '{}',
        api_day date NULL,
        api_calls integer NOT NULL DEFAULT 0,
        paused_reason text NULL
      );`);
    this.addSql(`CREATE INDEX crm_sync_claimable ON crm_sync_integrations ((GREATEST(due_at, lease_until))) WHERE status = 'connected';`);
    this.addSql(`CREATE INDEX crm_sync_by_organization ON crm_sync_integrations (organization_id);`);
    this.addSql(`
      CREATE TABLE crm_sync_outbound (
        integration_id uuid NOT NULL,
        contact_id uuid NOT NULL,
        organization_id uuid NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        changed_at timestamptz NOT NULL,
        PRIMARY KEY (integration_id, contact_id)
      );`);
    this.addSql(`
      CREATE TABLE crm_sync_links (
        integration_id uuid NOT NULL,
        external_id text NOT NULL,
        contact_id uuid NOT NULL,
        base jsonb NOT NULL DEFAULT '{}',
        ledger jsonb NOT NULL DEFAULT '{"in":{},"out":{}}',
        provider_modified_at timestamptz NULL,
        PRIMARY KEY (integration_id, external_id)
      );`);
    this.addSql(`CREATE UNIQUE INDEX crm_sync_links_contact ON crm_sync_links (integration_id, contact_id);`);
  }
}
