import { Migration } from '@mikro-orm/migrations';

/**
 * CRM integrations (issue 20): one row per integration (grant, mappings, settings, the run in progress, the
 * last run, cursors, open rejects) and one per sync run, both written by the integrations projection.
 */
export class Migration20261204000020 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE integrations (
        id                uuid PRIMARY KEY,
        organization_id   uuid NOT NULL,
        provider          text NOT NULL,
        status            text NOT NULL,
        account_id        text NOT NULL,
        account_label     text NOT NULL,
        instance_url      text,
        granted_scopes    text[] NOT NULL,
        token_expires_at  timestamptz NOT NULL,
        grant_failure     jsonb,
        connected_at      timestamptz NOT NULL,
        connected_by_type text NOT NULL,
        connected_by_id   text NOT NULL,
        reconnected_at    timestamptz,
        disconnected_at   timestamptz,
        mappings          jsonb NOT NULL,
        settings          jsonb NOT NULL,
        run               jsonb,
        last_run          jsonb,
        last_sync_at      timestamptz,
        last_sync_outcome text,
        last_sync_error   text,
        cursors           jsonb NOT NULL,
        rejects           jsonb NOT NULL,
        rejects_overflow  integer NOT NULL,
        open_rejects      integer NOT NULL,
        fields_to_resync  text[] NOT NULL,
        last_webhook_at   timestamptz,
        updated_at        timestamptz NOT NULL,
        revision          integer NOT NULL
      );
      CREATE INDEX integrations_org_connected ON integrations (organization_id, connected_at, id);

      CREATE TABLE integration_sync_runs (
        integration_id  uuid NOT NULL,
        run_id          text NOT NULL,
        organization_id uuid NOT NULL,
        kind            text NOT NULL,
        direction       text NOT NULL,
        resumed         boolean NOT NULL,
        fields          text[],
        from_cursors    jsonb NOT NULL,
        status          text NOT NULL,
        counts          jsonb,
        cursors         jsonb,
        checkpoints     integer NOT NULL,
        reason          text,
        retryable       boolean,
        started_at      timestamptz NOT NULL,
        checkpointed_at timestamptz,
        finished_at     timestamptz,
        PRIMARY KEY (integration_id, run_id)
      );
      CREATE INDEX integration_sync_runs_started ON integration_sync_runs (integration_id, started_at, run_id);
    `);
  }
}
