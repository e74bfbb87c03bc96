import type { SearchIndexWriter } from '../../projectors/search/ports.ts';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { SearchReader } from '../../query-api/search/ports.ts';

/** Reads follow the served generation; writers of one generation come from writerFor (projections, rebuilds). */
export type SearchIndex = SearchIndexWriter & SearchReader & GenerationalStore<SearchIndexWriter>;
