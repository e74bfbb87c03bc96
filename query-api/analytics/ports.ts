import type { AnalyticsFact, Metric } from '../../domain/analytics/analytics-facts.ts';

export type Interval = 'day' | 'week' | 'month';

/** A tenant's facts in [from, to) (ISO instants), bucketed in `timezone` (IANA) where buckets apply. */
export interface AnalyticsScope {
  tenantId: string;
  from: string;
  to: string;
}

export interface SeriesPoint {
  /** The bucket's first local date (YYYY-MM-DD) in the requested time zone; weeks start on Monday. */
  bucket: string;
  value: number;
}

export interface WorkflowOutcomes {
  workflowId: string;
  started: number;
  completed: number;
  failed: number;
}

export interface Cohort {
  /** The local date the cohort's period starts (users who joined then). */
  cohort: string;
  size: number;
  /** active[k]: how many of them did something k periods after joining (active[0]: their first period). */
  active: number[];
}

/**
 * The query API's view of the analytics store. Every number counts each event once, however often the
 * projection delivered it. Buckets only for periods with data: callers fill the gaps.
 */
export interface AnalyticsReader {
  /** Sum per metric over the range. */
  totals(scope: AnalyticsScope): Promise<Record<Metric, number>>;
  /** One metric (or 'events': every event) per bucket. */
  series(scope: AnalyticsScope, metric: Metric | 'events', interval: Interval, timezone: string): Promise<SeriesPoint[]>;
  /** Executions per workflow that started, completed and failed in the range; most started first. */
  workflowOutcomes(scope: AnalyticsScope, limit: number): Promise<WorkflowOutcomes[]>;
  /** How many events of each type (event tracking); most frequent first. */
  eventCounts(scope: AnalyticsScope): Promise<{ type: string; count: number }[]>;
  /** Users by the period they joined, and how many were active in each following period up to `to`. */
  retention(scope: AnalyticsScope, interval: Interval, timezone: string): Promise<Cohort[]>;
  /** Every fact in the range, oldest first, streamed (constant memory). */
  facts(scope: AnalyticsScope): AsyncIterable<AnalyticsFact>;
}
