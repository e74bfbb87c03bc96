import { Migration } from '@mikro-orm/migrations';

/** Identity and access: member status and sign-ins, suspension, invitations, API keys. */
export class Migration20261201000001 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'active';
      ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;
      ALTER TABLE users ADD COLUMN last_sign_in_at timestamptz;

      ALTER TABLE organizations ADD COLUMN status text NOT NULL DEFAULT 'active';

      CREATE TABLE invitations (
        id              uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        email           text NOT NULL,
        role            text NOT NULL,
        status          text NOT NULL,
        invited_by      text NOT NULL,
        user_id         uuid,
        expires_at      timestamptz NOT NULL,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL
      );
      CREATE INDEX invitations_org ON invitations (organization_id, created_at, id);

      CREATE TABLE api_keys (
        id              uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        name            text NOT NULL,
        prefix          text NOT NULL,
        scopes          text[] NOT NULL,
        status          text NOT NULL,
        created_by_type text NOT NULL,
        created_by_id   text NOT NULL,
        created_at      timestamptz NOT NULL,
        expires_at      timestamptz,
        last_used_at    timestamptz,
        revoked_at      timestamptz,
        revision        integer NOT NULL
      );
      CREATE INDEX api_keys_org ON api_keys (organization_id, created_at, id);
    `);
  }
}
