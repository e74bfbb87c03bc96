import type pg from 'pg';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { SearchIndexWriter } from '../../projectors/search/ports.ts';
import {
  contactName,
  type Collection,
  type ContactDocument,
  type ExecutionDocument,
  type SearchDocuments,
} from '../../projectors/search/search-documents.ts';
import {
  looksLikeEmail,
  queryWords,
  typoBudget,
  wordsOf,
  type ContactSearchQuery,
  type ExecutionSearchQuery,
  type SearchReader,
  type SearchResult,
} from '../../query-api/search/ports.ts';
import { decodeCursor, encodeCursor, highlightsFor } from './search-support.ts';

/**
 * Search on PostgreSQL: the embedded default and what CI runs. Each word of the query must match a word of
 * the names, either as its prefix ("ali" → Alice) or within a typo budget like Elasticsearch's fuzziness
 * AUTO (an optimal-string-alignment distance, so a swap of two letters is one typo: "jonh" → John). As a
 * search engine does, it keeps a term dictionary per tenant: a query word becomes the terms it matches, and
 * a GIN index over (tenant, words) finds the documents. An email address matches its column exactly.
 */
/** Advisory lock key serializing the search schema's migration (arbitrary, distinct from the others). */
const SEARCH_SCHEMA_LOCK = 7_240_003;

export class PostgresSearchIndex implements SearchIndexWriter, SearchReader, GenerationalStore<SearchIndexWriter> {
  /**
   * @param generation the generation this instance reads and writes: the served one (a function, so a
   *   reader follows a rebuild's switch), or a fixed one for a rebuild's writer.
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly generation: () => number = () => 1,
  ) {}

  /** Creates generation `generation`'s tables and indexes if missing. */
  static async migrate(pool: pg.Pool, generation = 1): Promise<void> {
    // Serialized across processes (two starting at once would race on CREATE EXTENSION: "tuple concurrently
    // updated"). One statement per call: the embedded server takes one at a time through the extended protocol.
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEARCH_SCHEMA_LOCK]);
      for (const statement of schema(tablesOf(generation))) await client.query(statement);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  ensureGeneration(generation: number): Promise<void> {
    return PostgresSearchIndex.migrate(this.pool, generation);
  }

  async dropGeneration(generation: number): Promise<void> {
    const tables = tablesOf(generation);
    await this.pool.query(`DROP TABLE IF EXISTS ${tables.contacts}, ${tables.executions}, ${tables.contacts}_terms, ${tables.executions}_terms`);
  }

  /** Readers pick the generation's tables per query: nothing to move. */
  async promoteGeneration(): Promise<void> {}

  writerFor(generation: number): PostgresSearchIndex {
    return new PostgresSearchIndex(this.pool, () => generation);
  }

  private get tables(): Record<Collection, string> {
    return tablesOf(this.generation());
  }

  async get<C extends Collection>(collection: C, ids: readonly string[]): Promise<Map<string, SearchDocuments[C]>> {
    const found = new Map<string, SearchDocuments[C]>();
    if (ids.length === 0) return found;
    const { rows } = await this.pool.query<{ doc: SearchDocuments[C] }>(`SELECT doc FROM ${this.tables[collection]} WHERE id = ANY($1::uuid[])`, [
      ids,
    ]);
    for (const row of rows) found.set(row.doc.id, row.doc);
    return found;
  }

  async upsert<C extends Collection>(collection: C, docs: readonly SearchDocuments[C][]): Promise<void> {
    if (docs.length === 0) return;
    // Within one batch only the newest version of a document counts (ON CONFLICT cannot touch a row twice).
    const newest = new Map<string, SearchDocuments[C]>();
    for (const doc of docs) if ((newest.get(doc.id)?.version ?? -1) < doc.version) newest.set(doc.id, doc);
    const rows = [...newest.values()].map((doc) =>
      collection === 'contacts' ? contactRow(doc as ContactDocument) : executionRow(doc as ExecutionDocument),
    );
    await this.pool.query(upsertSql(collection, this.tables[collection]), [JSON.stringify(rows)]);
  }

  async searchContacts(query: ContactSearchQuery): Promise<SearchResult<ContactDocument>> {
    const table = this.tables.contacts;
    const sql = new Params([query.tenantId]);
    const where = ['tenant_id = $1', 'NOT deleted'];
    let score = '0';
    const words = query.q ? queryWords(query.q) : [];
    if (query.q && looksLikeEmail(query.q)) {
      where.push(`email = ${sql.add(query.q.trim().toLowerCase())}`);
    } else if (words.length > 0) {
      const matched = await this.wordMatches(`${table}_terms`, query.tenantId, words, sql, where);
      if (!matched) return { total: 0, hits: [], nextCursor: null };
      score = matched.score;
    }
    if (query.tags?.length) where.push(`tags @> ${sql.add(query.tags)}::text[]`);
    if (query.created?.from) where.push(`created_at >= ${sql.add(query.created.from)}::timestamptz`);
    if (query.created?.to) where.push(`created_at <= ${sql.add(query.created.to)}::timestamptz`);
    const sort = query.sort === 'relevance' && words.length === 0 ? '-createdAt' : query.sort;
    const key = { relevance: 'score', createdAt: 'created_at', '-createdAt': 'created_at', name: 'sort_name', '-name': 'sort_name' }[sort];
    const result = await this.page<ContactDocument>(
      table,
      where,
      score,
      sql,
      sort,
      key,
      sort.startsWith('-') ? 'desc' : sort === 'relevance' ? 'desc' : 'asc',
      query,
    );
    const fields = (doc: ContactDocument) => ({ name: contactName(doc), email: doc.email, company: doc.company, title: doc.title });
    return withHighlights(result, words, query.q, fields);
  }

  async searchExecutions(query: ExecutionSearchQuery): Promise<SearchResult<ExecutionDocument>> {
    const table = this.tables.executions;
    const sql = new Params([query.tenantId]);
    const where = ['tenant_id = $1', 'NOT deleted'];
    let score = '0';
    const words = query.q ? queryWords(query.q) : [];
    const text = query.q?.trim() ?? '';
    if (text && looksLikeEmail(text)) {
      where.push(`contact_email = ${sql.add(text.toLowerCase())}`);
    } else if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) {
      const id = sql.add(text.toLowerCase());
      where.push(`(id = ${id}::uuid OR workflow_id = ${id}::uuid OR contact_id = ${id}::uuid)`);
    } else if (words.length > 0) {
      const matched = await this.wordMatches(`${table}_terms`, query.tenantId, words, sql, where);
      if (!matched) return { total: 0, hits: [], nextCursor: null };
      score = matched.score;
    }
    if (query.status?.length) where.push(`status = ANY(${sql.add(query.status)}::text[])`);
    if (query.workflowId) where.push(`workflow_id = ${sql.add(query.workflowId)}::uuid`);
    if (query.contactId) where.push(`contact_id = ${sql.add(query.contactId)}::uuid`);
    if (query.started?.from) where.push(`started_at >= ${sql.add(query.started.from)}::timestamptz`);
    if (query.started?.to) where.push(`started_at <= ${sql.add(query.started.to)}::timestamptz`);
    const sort = query.sort === 'relevance' && score === '0' ? '-startedAt' : query.sort;
    const key = { relevance: 'score', startedAt: 'started_at', '-startedAt': 'started_at' }[sort];
    const result = await this.page<ExecutionDocument>(table, where, score, sql, sort, key, sort === 'startedAt' ? 'asc' : 'desc', query);
    const fields = (doc: ExecutionDocument) => ({
      workflowName: doc.workflowName,
      contactName: doc.contactName,
      contactEmail: doc.contactEmail,
      error: doc.error,
    });
    return withHighlights(result, words, query.q, fields);
  }

  /**
   * Every query word must match a word of the document: as its prefix, or within the word's typo budget.
   * The tenant's term dictionary turns each query word into the terms it matches (a range scan for the
   * prefixes; an edit-distance scan of the terms of about its length for the typos: far fewer terms than
   * documents), and the documents are then found through the GIN index on their words. Adds one condition
   * per word to `where`; null when some word matches no term at all (no document can match).
   */
  private async wordMatches(terms: string, tenantId: string, words: string[], sql: Params, where: string[]): Promise<{ score: string } | null> {
    const { rows } = await this.pool.query<{ i: number; term: string; prefix: boolean }>(
      `SELECT w.i::int, t.term, t.prefix
       FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS w(word, budget, i)
       CROSS JOIN LATERAL (
         SELECT term, true AS prefix FROM ${terms}
         WHERE tenant_id = $1 AND term >= (w.word COLLATE "C") AND term < ((w.word || chr(1114111)) COLLATE "C")
         UNION
         SELECT term, false FROM ${terms}
         WHERE w.budget > 0 AND tenant_id = $1
           AND length(term) BETWEEN length(w.word) - w.budget AND length(w.word) + w.budget
           -- Levenshtein (C, cheap) first: a swap is one typo here but two Levenshtein edits.
           AND levenshtein_less_equal(term, w.word, 2 * w.budget) <= 2 * w.budget
           AND nf_typo_distance(term, w.word) <= w.budget
       ) t`,
      [tenantId, words, words.map(typoBudget)],
    );
    const scores: string[] = [];
    for (const [index, word] of words.entries()) {
      const matching = rows.filter((row) => row.i === index + 1);
      if (matching.length === 0) return null;
      const any = sql.add([...new Set(matching.map((row) => row.term))]);
      const prefixes = sql.add(matching.filter((row) => row.prefix).map((row) => row.term));
      where.push(`words && ${any}::text[]`);
      // The word itself beats a longer word it starts, which beats a typo.
      scores.push(`(CASE WHEN words @> ARRAY[${sql.add(word)}::text] THEN 3 WHEN words && ${prefixes}::text[] THEN 2 ELSE 1 END)`);
    }
    // Among equals, documents with fewer words rank first (as a field-length norm does).
    return { score: `${scores.join(' + ')} + 1.0 / (2 + cardinality(words))` };
  }

  /**
   * One keyset page and the total: the matches are collected narrow (id, sort key, score), counted, and
   * only the page's documents are read.
   */
  private async page<D extends { id: string }>(
    table: string,
    where: string[],
    score: string,
    sql: Params,
    sort: string,
    key: string,
    direction: 'asc' | 'desc',
    query: { limit: number; cursor?: string },
  ): Promise<SearchResult<D>> {
    const after: string[] = [];
    if (query.cursor) {
      const cursor = decodeCursor(query.cursor, sort);
      const value = sql.add(cursor.value);
      const cast = key === 'score' ? '::float8' : key.endsWith('_at') ? '::timestamptz' : '::text';
      const id = sql.add(cursor.id);
      // Keyset: strictly after the cursor's (key, id) in this order; ids always ascend to break ties.
      after.push(`(${key} ${direction === 'desc' ? '<' : '>'} ${value}${cast} OR (${key} = ${value}${cast} AND id > ${id}::uuid))`);
    }
    const sortColumn = key === 'score' ? '' : `${key}, `;
    const limit = sql.add(query.limit + 1);
    const { rows } = await this.pool.query<{ doc: D | null; score: number | null; total: string; sort_value: unknown }>(
      `WITH matches AS MATERIALIZED (
         SELECT id, ${sortColumn}round((${score})::numeric, 6)::float8 AS score FROM ${table} WHERE ${where.join(' AND ')}
       ),
       page AS (
         SELECT id, score, ${key} AS sort_value FROM matches ${after.length ? `WHERE ${after.join(' AND ')}` : ''}
         ORDER BY ${key} ${direction}, id ASC LIMIT ${limit}
       )
       SELECT c.total, d.doc, p.score, p.sort_value
       FROM (SELECT count(*) AS total FROM matches) c
       LEFT JOIN page p ON true
       LEFT JOIN ${table} d ON d.id = p.id
       ORDER BY p.sort_value ${direction}, p.id ASC`,
      sql.values,
    );
    const found = rows.filter((row) => row.doc !== null);
    const more = found.length > query.limit;
    const page = found.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      total: Number(rows[0]?.total ?? 0),
      hits: page.map((row) => ({ document: row.doc!, score: sort === 'relevance' ? row.score : null, highlights: {} })),
      nextCursor:
        more && last
          ? encodeCursor(sort, last.sort_value instanceof Date ? last.sort_value.toISOString() : (last.sort_value as string | number), last.doc!.id)
          : null,
    };
  }
}

/** Positional parameters, numbered as they are added. */
class Params {
  constructor(readonly values: unknown[] = []) {}
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

function withHighlights<D>(
  result: SearchResult<D>,
  words: string[],
  q: string | undefined,
  fields: (doc: D) => Record<string, string | null>,
): SearchResult<D> {
  if (!q) return result;
  return { ...result, hits: result.hits.map((hit) => ({ ...hit, highlights: highlightsFor(fields(hit.document), words, q) })) };
}

function nameWords(...parts: (string | null)[]): string[] {
  return [...new Set(parts.flatMap((part) => wordsOf(part ?? '')))];
}

function contactRow(doc: ContactDocument) {
  return {
    id: doc.id,
    tenant_id: doc.tenantId,
    version: doc.version,
    deleted: doc.deleted,
    doc,
    words: nameWords(doc.firstName, doc.lastName, doc.company, doc.title),
    email: doc.email.toLowerCase(),
    tags: doc.tags,
    created_at: doc.createdAt,
    sort_name: [doc.lastName, doc.firstName].filter(Boolean).join(' ').toLowerCase(),
  };
}

function executionRow(doc: ExecutionDocument) {
  return {
    id: doc.id,
    tenant_id: doc.tenantId,
    version: doc.version,
    deleted: doc.deleted,
    doc,
    words: nameWords(doc.workflowName, doc.contactName, doc.error),
    contact_email: doc.contactEmail?.toLowerCase() ?? null,
    workflow_id: doc.workflowId,
    contact_id: doc.contactId,
    status: doc.status,
    created_at: doc.startedAt,
    started_at: doc.startedAt,
  };
}

/** Generation 1 keeps the original names; later generations (rebuilds) get a suffix. */
function tablesOf(generation: number): Record<Collection, string> {
  if (!Number.isInteger(generation) || generation < 1) throw new TypeError(`not a generation: ${generation}`);
  const suffix = generation === 1 ? '' : `_g${generation}`;
  return { contacts: `search_contacts${suffix}`, executions: `search_executions${suffix}` };
}

/**
 * A row is written only when it is new or its version is higher than the stored one; the words of the rows
 * written join the tenant's term dictionary in the same statement. (Terms are never removed: one that no
 * document has any more matches nothing. A rebuild starts a clean dictionary.)
 */
function upsertSql(collection: Collection, table: string): string {
  const write = {
    contacts: `
      INSERT INTO ${table} (id, tenant_id, version, deleted, doc, words, email, tags, created_at, sort_name)
      SELECT id, tenant_id, version, deleted, doc, words, email, tags, created_at, sort_name
      FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, tenant_id uuid, version bigint, deleted boolean, doc jsonb,
           words text[], email text, tags text[], created_at timestamptz, sort_name text)
      ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, doc = EXCLUDED.doc,
        words = EXCLUDED.words, email = EXCLUDED.email, tags = EXCLUDED.tags, sort_name = EXCLUDED.sort_name
      WHERE ${table}.version < EXCLUDED.version`,
    executions: `
      INSERT INTO ${table} (id, tenant_id, version, deleted, doc, words, contact_email, workflow_id, contact_id, status, created_at, started_at)
      SELECT id, tenant_id, version, deleted, doc, words, contact_email, workflow_id, contact_id, status, created_at, started_at
      FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, tenant_id uuid, version bigint, deleted boolean, doc jsonb,
           words text[], contact_email text, workflow_id uuid, contact_id uuid, status text, created_at timestamptz, started_at timestamptz)
      ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, doc = EXCLUDED.doc,
        words = EXCLUDED.words, contact_email = EXCLUDED.contact_email, status = EXCLUDED.status
      WHERE ${table}.version < EXCLUDED.version`,
  }[collection];
  return `WITH written AS (${write} RETURNING tenant_id, words)
    INSERT INTO ${table}_terms (tenant_id, term) SELECT DISTINCT tenant_id, unnest(words) FROM written ON CONFLICT DO NOTHING`;
}

const schema = (t: Record<Collection, string>) => [
  // levenshtein_less_equal: the cheap first filter of typo candidates.
  'CREATE EXTENSION IF NOT EXISTS fuzzystrmatch',
  // GIN indexes that lead with the tenant: a small tenant's search never wades through a big tenant's matches.
  'CREATE EXTENSION IF NOT EXISTS btree_gin',
  `CREATE TABLE IF NOT EXISTS ${t.contacts} (
     id uuid PRIMARY KEY, tenant_id uuid NOT NULL, version bigint NOT NULL, deleted boolean NOT NULL, doc jsonb NOT NULL,
     words text[] NOT NULL, email text NOT NULL, tags text[] NOT NULL,
     created_at timestamptz NOT NULL, sort_name text NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${t.executions} (
     id uuid PRIMARY KEY, tenant_id uuid NOT NULL, version bigint NOT NULL, deleted boolean NOT NULL, doc jsonb NOT NULL,
     words text[] NOT NULL, contact_email text, workflow_id uuid NOT NULL, contact_id uuid NOT NULL,
     status text NOT NULL, created_at timestamptz NOT NULL, started_at timestamptz NOT NULL)`,
  // Tables of before the term dictionary matched a trigram index over all names: gone.
  ...[t.contacts, t.executions].flatMap((table) => [`DROP INDEX IF EXISTS ${table}_names`, `ALTER TABLE ${table} DROP COLUMN IF EXISTS names`]),
  ...[t.contacts, t.executions].flatMap((table) => [`DROP INDEX IF EXISTS ${table}_words`, `DROP INDEX IF EXISTS ${table}_tags`]),
  `CREATE INDEX IF NOT EXISTS ${t.contacts}_tenant_words ON ${t.contacts} USING gin (tenant_id, words)`,
  `CREATE INDEX IF NOT EXISTS ${t.contacts}_tenant_tags ON ${t.contacts} USING gin (tenant_id, tags)`,
  `CREATE INDEX IF NOT EXISTS ${t.contacts}_created ON ${t.contacts} (tenant_id, created_at, id)`,
  `CREATE INDEX IF NOT EXISTS ${t.contacts}_name_sort ON ${t.contacts} (tenant_id, sort_name, id)`,
  `CREATE INDEX IF NOT EXISTS ${t.contacts}_email ON ${t.contacts} (tenant_id, email)`,
  `CREATE INDEX IF NOT EXISTS ${t.executions}_tenant_words ON ${t.executions} USING gin (tenant_id, words)`,
  `CREATE INDEX IF NOT EXISTS ${t.executions}_started ON ${t.executions} (tenant_id, started_at, id)`,
  `CREATE INDEX IF NOT EXISTS ${t.executions}_workflow ON ${t.executions} (tenant_id, workflow_id, started_at)`,
  `CREATE INDEX IF NOT EXISTS ${t.executions}_contact ON ${t.executions} (tenant_id, contact_id)`,
  // Each tenant's term dictionary: every word of its documents once, in byte order (prefixes are ranges).
  ...[t.contacts, t.executions].flatMap((table) => [
    `CREATE TABLE IF NOT EXISTS ${table}_terms (tenant_id uuid NOT NULL, term text COLLATE "C" NOT NULL, PRIMARY KEY (tenant_id, term))`,
    // Documents indexed before the dictionary existed: their words, once (a no-op as soon as it has any).
    `INSERT INTO ${table}_terms (tenant_id, term) SELECT DISTINCT tenant_id, unnest(words) FROM ${table}
     WHERE NOT EXISTS (SELECT 1 FROM ${table}_terms) ON CONFLICT DO NOTHING`,
  ]),
  // Optimal string alignment distance (Levenshtein plus adjacent swaps), capped: 3 means "more than 2".
  `CREATE OR REPLACE FUNCTION nf_typo_distance(a text, b text) RETURNS int LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
   DECLARE la int := length(a); lb int := length(b); w int := length(b) + 1; d int[]; i int; j int; cost int;
   BEGIN
     IF abs(la - lb) > 2 THEN RETURN 3; END IF;
     IF la = 0 OR lb = 0 THEN RETURN greatest(la, lb); END IF;
     d := array_fill(0, ARRAY[(la + 1) * w]);
     FOR i IN 0..la LOOP d[i * w + 1] := i; END LOOP;
     FOR j IN 0..lb LOOP d[j + 1] := j; END LOOP;
     FOR i IN 1..la LOOP
       FOR j IN 1..lb LOOP
         cost := CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END;
         d[i * w + j + 1] := least(d[(i - 1) * w + j + 1] + 1, d[i * w + j] + 1, d[(i - 1) * w + j] + cost);
         IF i > 1 AND j > 1 AND substr(a, i, 1) = substr(b, j - 1, 1) AND substr(a, i - 1, 1) = substr(b, j, 1) THEN
           d[i * w + j + 1] := least(d[i * w + j + 1], d[(i - 2) * w + j - 1] + 1);
         END IF;
       END LOOP;
     END LOOP;
     RETURN least(d[la * w + lb + 1], 3);
   END $fn$`,
];

/** The statements of generation 1's tables: part of the schema version (infra/migrations). */
export const searchSchemaSql = (): string => schema(tablesOf(1)).join(';\n');
