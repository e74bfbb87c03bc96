import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/**
 * What the metering read model counts. Gauges are levels (how many contacts now): each day holds their net
 * change (+1 entering, −1 leaving), so the level at the end of any day is the sum of the days up to it.
 * Counters are amounts consumed (executions started, AI tokens): each day holds what was consumed on it, so
 * a period's consumption is the sum of its days.
 */
export const gaugeMetrics = ['contacts', 'active_workflows', 'seats'] as const;
export const counterMetrics = ['executions', 'ai_tokens'] as const;
export type GaugeMetric = (typeof gaugeMetrics)[number];
export type CounterMetric = (typeof counterMetrics)[number];
export type Metric = GaugeMetric | CounterMetric;

/**
 * One organization's change of one metric on one day of the organization's calendar (its time zone, from
 * OrganizationCreated). `day` is `YYYY-MM-DD`.
 */
export interface UsageDailyView {
  organizationId: string;
  metric: Metric;
  day: string;
  quantity: number;
}

export const UsageDailyViewSchema = new EntitySchema<UsageDailyView>({
  name: 'UsageDailyView',
  tableName: 'usage_daily',
  properties: {
    organizationId: { type: 'uuid', primary: true },
    metric: { type: 'text', primary: true },
    day: { type: 'string', columnType: 'date', primary: true },
    quantity: { type: new BigIntType('number') },
  },
  filters: tenantFilter(),
});

/** The time zone the projection buckets an organization's days in (the projection's own copy, rebuilt with it). */
export interface UsageOrganizationView {
  organizationId: string;
  timezone: string;
}

export const UsageOrganizationViewSchema = new EntitySchema<UsageOrganizationView>({
  name: 'UsageOrganizationView',
  tableName: 'usage_organizations',
  properties: {
    organizationId: { type: 'uuid', primary: true },
    timezone: { type: 'text' },
  },
  filters: tenantFilter(),
});

/**
 * A thing a gauge counts now (a live contact, an active workflow, an active member). Kept so that a gauge
 * moves only when membership really changes: deleting a paused workflow does not lower the active count, and
 * a redelivered or repeated fact cannot count twice.
 */
export interface UsageGaugeMemberView {
  metric: GaugeMetric;
  /** The contact's or workflow's id; a seat's is `<organizationId>/<userId>`. */
  entityId: string;
  organizationId: string;
}

export const UsageGaugeMemberViewSchema = new EntitySchema<UsageGaugeMemberView>({
  name: 'UsageGaugeMemberView',
  tableName: 'usage_gauge_members',
  properties: {
    metric: { type: 'text', primary: true },
    entityId: { type: 'text', primary: true },
    organizationId: { type: 'uuid' },
  },
  filters: tenantFilter(),
});

/**
 * A meter event for Stripe, recorded before it is sent (an outbox): a retry then sends the same identifier
 * with the same value, whatever the bucket became meanwhile. Not part of the metering projection: a rebuild
 * of the read model must not forget what Stripe was already told.
 */
export interface UsageMeterEventView {
  identifier: string;
  organizationId: string;
  metric: CounterMetric;
  day: string;
  /** 0 for the day's first report, n for its n-th correction. */
  revision: number;
  value: number;
  customerId: string;
  timestamp: Date;
  createdAt: Date;
  sentAt: Date | null;
  /** Stripe refused it for good (its message); it is not sent again. */
  rejected: string | null;
}

export const UsageMeterEventViewSchema = new EntitySchema<UsageMeterEventView>({
  name: 'UsageMeterEventView',
  tableName: 'usage_meter_events',
  properties: {
    identifier: { type: 'text', primary: true },
    organizationId: { type: 'uuid' },
    metric: { type: 'text' },
    day: { type: 'string', columnType: 'date' },
    revision: { type: 'integer' },
    value: { type: new BigIntType('number') },
    customerId: { type: 'text' },
    timestamp: { type: 'datetime', columnType: 'timestamptz' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    sentAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    rejected: { type: 'text', nullable: true },
  },
  filters: tenantFilter(),
});
