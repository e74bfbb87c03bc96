import { analyticsProjection } from '../analytics/analytics-projection.ts';
import type { AnalyticsWriter } from '../analytics/ports.ts';
import type { SearchIndexWriter } from '../search/ports.ts';
import { searchProjection } from '../search/search-projection.ts';
import type { ReadModelProgress } from '../workflows/reactors.ts';
import { generationName, type GenerationalStore, type RebuildableReadModel } from './ports.ts';

/** The read models kept outside the read-model database's ORM tables, each rebuildable into a new generation. */
export function rebuildableReadModels(deps: {
  search: GenerationalStore<SearchIndexWriter>;
  analytics: GenerationalStore<AnalyticsWriter>;
  /** How far the ORM read models are (the search projection reads workflow names from them). */
  progress: ReadModelProgress;
}): RebuildableReadModel[] {
  return [
    {
      name: 'search',
      store: deps.search,
      projection: (generation) => searchProjection(deps.search.writerFor(generation), deps.progress, generationName('search', generation)),
    },
    {
      name: 'analytics',
      store: deps.analytics,
      projection: (generation) => analyticsProjection(deps.analytics.writerFor(generation), generationName('analytics', generation)),
    },
  ];
}

export const rebuildableNames = ['search', 'analytics'] as const;
