import { analyticsFactOf, type AnalyticsFact } from '../../domain/analytics/analytics-facts.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { Projection } from '../runner/projection.ts';
import type { AnalyticsWriter } from './ports.ts';

/**
 * Every tenant event into the analytics store (ClickHouse, or PostgreSQL tables). The store is not the
 * checkpoint's database, so this runs like a reactor: the checkpoint moves once the store has the batch, and
 * a crash in between re-sends facts that the store keeps once (keyed by event id).
 */
export function analyticsProjection(writer: AnalyticsWriter, name = 'analytics'): Projection {
  return {
    name,
    // Every type: event tracking counts them all. An empty set would mean "none".
    eventTypes: 'all',
    reactor: true,
    background: true,
    async apply(events: RecordedEvent[]): Promise<void> {
      const facts = events.map(analyticsFactOf).filter((fact): fact is AnalyticsFact => fact !== null);
      if (facts.length > 0) await writer.insert(facts);
    },
  };
}
