import type { Collection, SearchDocuments } from './search-documents.ts';

/**
 * What the search projection needs from a search engine. Writes are guarded by `version` (the log position
 * of the newest event folded in): an index never lets a document be replaced by an older one, so replays,
 * retries and out-of-order batches are harmless.
 */
export interface SearchIndexWriter {
  /** The stored documents with these ids (tombstones included), to fold the next events onto. */
  get<C extends Collection>(collection: C, ids: readonly string[]): Promise<Map<string, SearchDocuments[C]>>;
  /** Stores each document unless the index holds that id at an equal or higher version. */
  upsert<C extends Collection>(collection: C, docs: readonly SearchDocuments[C][]): Promise<void>;
}
