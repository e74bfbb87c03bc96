import { Migration } from '@mikro-orm/migrations';

/** The plan catalog, staff members, and each organization's plan and trial end (the staff console). */
export class Migration20261202000002 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE plans (
        id                    uuid PRIMARY KEY,
        name                  text NOT NULL,
        status                text NOT NULL,
        monthly_price_cents   bigint NOT NULL,
        currency              text NOT NULL,
        contacts_limit        bigint,
        active_workflows_limit bigint,
        executions_per_month_limit bigint,
        ai_tokens_per_month_limit bigint,
        seats_limit           bigint,
        created_at            timestamptz NOT NULL,
        updated_at            timestamptz NOT NULL,
        revision              integer NOT NULL
      );
    `);
    this.addSql(`
      CREATE TABLE staff_members (
        id            uuid PRIMARY KEY,
        email         text NOT NULL,
        name          text NOT NULL,
        role          text NOT NULL,
        status        text NOT NULL,
        totp_enabled  boolean NOT NULL,
        last_sign_in_at timestamptz,
        created_at    timestamptz NOT NULL,
        revision      integer NOT NULL
      );
    `);
    this.addSql('ALTER TABLE organizations ADD COLUMN plan_id uuid, ADD COLUMN trial_ends_at timestamptz;');
  }
}
