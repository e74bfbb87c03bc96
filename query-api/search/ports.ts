import type { ContactDocument, ExecutionDocument, ExecutionStatus } from '../../projectors/search/search-documents.ts';

/** A date range on one field; either end may be open. Bounds are inclusive ISO 8601 instants. */
export interface DateRange {
  from?: string;
  to?: string;
}

export interface ContactSearchQuery {
  tenantId: string;
  /** Free text: prefix and typo tolerant on names and company, exact when it is an email address. */
  q?: string;
  /** Contacts carrying every one of these tags. */
  tags?: string[];
  created?: DateRange;
  sort: 'relevance' | 'createdAt' | '-createdAt' | 'name' | '-name';
  limit: number;
  cursor?: string;
}

export interface ExecutionSearchQuery {
  tenantId: string;
  /** Free text over the workflow's and the contact's names and the last error; exact on emails and ids. */
  q?: string;
  status?: ExecutionStatus[];
  workflowId?: string;
  contactId?: string;
  started?: DateRange;
  sort: 'relevance' | 'startedAt' | '-startedAt';
  limit: number;
  cursor?: string;
}

export interface SearchHit<D> {
  document: D;
  /** Relevance (engine-specific scale) when sorted by relevance, else null. */
  score: number | null;
  /** Field name → fragments with the matched text in <em>…</em>. */
  highlights: Record<string, string[]>;
}

export interface SearchResult<D> {
  /** Every match, not just this page. */
  total: number;
  hits: SearchHit<D>[];
  /** Opaque search_after cursor for the next page (same query), or null at the end. */
  nextCursor: string | null;
}

/** The query API's view of a search engine. Every query is scoped to one tenant by construction. */
export interface SearchReader {
  searchContacts(query: ContactSearchQuery): Promise<SearchResult<ContactDocument>>;
  searchExecutions(query: ExecutionSearchQuery): Promise<SearchResult<ExecutionDocument>>;
}

/** A cursor the engine did not issue for this query shape; the route answers 400 naming `cursor`. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** Whether free text is an email address: then it matches the email field exactly, nothing else. */
export function looksLikeEmail(text: string): boolean {
  return /^[^\s@]+@[^\s@]+$/.test(text.trim());
}

/** Lower-cased words of a text, split as indexes split names. */
export function wordsOf(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** The words of a query, at most 8, so one query cannot ask for unbounded work. */
export function queryWords(text: string): string[] {
  return wordsOf(text).slice(0, 8);
}

/** Typo budget per word, as Elasticsearch's fuzziness AUTO: 0 for 1–2 characters, 1 for 3–5, 2 beyond. */
export function typoBudget(word: string): number {
  return word.length <= 2 ? 0 : word.length <= 5 ? 1 : 2;
}
