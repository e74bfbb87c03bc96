import type { AnalyticsWriter } from '../../projectors/analytics/ports.ts';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { AnalyticsReader } from '../../query-api/analytics/ports.ts';

/** Reads follow the served generation; writers of one generation come from writerFor (projections, rebuilds). */
export type AnalyticsStore = AnalyticsWriter & AnalyticsReader & GenerationalStore<AnalyticsWriter>;
