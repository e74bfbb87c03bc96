import { Migration } from '@mikro-orm/migrations';

/** Scheduled workflows and when each fires next. */
export class Migration20261201000003 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE workflow_schedules (
        workflow_id     uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        cron            text NOT NULL,
        timezone        text NOT NULL,
        status          text NOT NULL,
        next_fire_at    timestamptz,
        last_fired_at   timestamptz,
        lease_until     timestamptz,
        revision        integer NOT NULL
      );
      CREATE INDEX workflow_schedules_due ON workflow_schedules (next_fire_at) WHERE status = 'active';
    `);
  }
}
