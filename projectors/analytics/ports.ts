import type { AnalyticsFact } from '../../domain/analytics/analytics-facts.ts';

/** Where the analytics projection writes. Idempotent: a fact stored twice (a replay, a retry) counts once. */
export interface AnalyticsWriter {
  insert(facts: readonly AnalyticsFact[]): Promise<void>;
}
