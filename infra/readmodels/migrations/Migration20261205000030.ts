import { Migration } from '@mikro-orm/migrations';

/**
 * Metering (issue 21, usage): what the metering projection (projectors/billing/metering-projection.ts) builds
 * from the log, and what the usage reporter told Stripe:
 * - usage_daily: per organization, metric and day of the organization's calendar, the net change of a gauge
 *   or the amount of a counter; a period is a sum of days, a gauge's level the sum of every day so far;
 * - usage_gauge_members: what each gauge counts now (a gauge moves only when this set changes);
 * - usage_organizations: each organization's time zone, the projection's own copy;
 * - usage_meter_events: the reporter's outbox of Stripe meter events (not rebuilt: it remembers what Stripe
 *   was told across rebuilds of the read model); `rejected` holds Stripe's answer to one it refused for good.
 */
export class Migration20261205000030 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE usage_daily (
        organization_id uuid   NOT NULL,
        metric          text   NOT NULL,
        day             date   NOT NULL,
        quantity        bigint NOT NULL,
        PRIMARY KEY (organization_id, metric, day)
      );

      CREATE TABLE usage_gauge_members (
        metric          text NOT NULL,
        entity_id       text NOT NULL,
        organization_id uuid NOT NULL,
        PRIMARY KEY (metric, entity_id)
      );

      CREATE TABLE usage_organizations (
        organization_id uuid PRIMARY KEY,
        timezone        text NOT NULL
      );

      CREATE TABLE usage_meter_events (
        identifier      text PRIMARY KEY,
        organization_id uuid        NOT NULL,
        metric          text        NOT NULL,
        day             date        NOT NULL,
        revision        integer     NOT NULL,
        value           bigint      NOT NULL,
        customer_id     text        NOT NULL,
        timestamp       timestamptz NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        sent_at         timestamptz,
        rejected        text,
        UNIQUE (organization_id, metric, day, revision)
      );
      CREATE INDEX usage_meter_events_unsent ON usage_meter_events (created_at) WHERE sent_at IS NULL AND rejected IS NULL;
    `);
  }
}
