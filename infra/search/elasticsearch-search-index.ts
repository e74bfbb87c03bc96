import { Client, errors, type estypes } from '@elastic/elasticsearch';
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
  type ContactSearchQuery,
  type ExecutionSearchQuery,
  type SearchReader,
  type SearchResult,
} from '../../query-api/search/ports.ts';
import { DependencyUnavailableError } from '../resilience.ts';
import { decodeCursor, encodeCursor } from './search-support.ts';

/**
 * Search on Elasticsearch 8. Each collection has one concrete index per generation
 * (`<prefix>contacts-v1`, `-v2` after a rebuild) and two aliases: reads go through `<prefix>contacts`,
 * `<prefix>contacts-write` names the served generation for outside tools. A rebuild fills the next
 * generation's index while the aliases keep pointing at the served one, then moves both in one atomic
 * `_aliases` call: no downtime. The projection of a generation writes its concrete index, in bulk batches,
 * with the log position as the external version: Elasticsearch itself refuses a write older than what it
 * holds, so a replayed or out-of-order event never overwrites newer data.
 *
 * Matching mirrors the PostgreSQL implementation (the same contract suite runs on both): every query word
 * must match a name word by prefix or fuzzily (fuzziness AUTO, transpositions), an email matches exactly.
 */
export class ElasticsearchSearchIndex implements SearchIndexWriter, SearchReader, GenerationalStore<SearchIndexWriter> {
  private readonly client: Client;

  constructor(
    url: string | Client,
    private readonly prefix = 'nexusflow-',
    /** Tests make writes visible at once; production relies on the refresh interval (1 s). */
    private readonly refresh: boolean | 'wait_for' = false,
    /** The generation this instance writes (and reads by id): the served one, or a rebuild's. */
    private readonly generation: () => number = () => 1,
  ) {
    this.client = typeof url === 'string' ? new Client({ node: url, requestTimeout: 30_000 }) : url;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private readAlias(collection: Collection): string {
    return `${this.prefix}${collection}`;
  }

  private writeAlias(collection: Collection): string {
    return `${this.prefix}${collection}-write`;
  }

  private concreteIndex(collection: Collection, generation = this.generation()): string {
    if (!Number.isInteger(generation) || generation < 1) throw new TypeError(`not a generation: ${generation}`);
    return `${this.readAlias(collection)}-v${generation}`;
  }

  /** Creates the served generation's indexes (and the aliases, on a new cluster). */
  async ensureIndexes(): Promise<void> {
    await this.ensureGeneration(this.generation());
  }

  /**
   * Creates each collection's index of `generation` with its mapping unless it exists. On a cluster without
   * the read alias yet (the first start), the aliases point at it at once.
   */
  async ensureGeneration(generation: number): Promise<void> {
    for (const collection of collections) {
      const index = this.concreteIndex(collection, generation);
      const fresh = !(await this.call(() => this.client.indices.existsAlias({ name: this.readAlias(collection) })));
      if (await this.call(() => this.client.indices.exists({ index }))) continue;
      try {
        await this.call(() =>
          this.client.indices.create({
            index,
            settings: analysis,
            mappings: mappings[collection],
            ...(fresh ? { aliases: { [this.readAlias(collection)]: {}, [this.writeAlias(collection)]: { is_write_index: true } } } : {}),
          }),
        );
      } catch (err) {
        // Another process created it first.
        if (!(err instanceof errors.ResponseError && err.body?.error?.type === 'resource_already_exists_exception')) throw err;
      }
    }
  }

  async dropGeneration(generation: number): Promise<void> {
    for (const collection of collections) {
      await this.call(() => this.client.indices.delete({ index: this.concreteIndex(collection, generation), ignore_unavailable: true }));
    }
  }

  /** Both aliases of each collection move to `generation`'s index in one atomic call. */
  async promoteGeneration(generation: number): Promise<void> {
    const actions: estypes.IndicesUpdateAliasesAction[] = [];
    for (const collection of collections) {
      const target = this.concreteIndex(collection, generation);
      for (const alias of [this.readAlias(collection), this.writeAlias(collection)]) {
        const holders = await this.call(() => this.client.indices.getAlias({ name: alias }, { ignore: [404] }));
        for (const index of Object.keys(holders ?? {})) {
          if (index !== target && index.startsWith(`${this.readAlias(collection)}-v`)) actions.push({ remove: { index, alias } });
        }
      }
      actions.push({ add: { index: target, alias: this.readAlias(collection) } });
      actions.push({ add: { index: target, alias: this.writeAlias(collection), is_write_index: true } });
    }
    await this.call(() => this.client.indices.updateAliases({ actions }));
  }

  writerFor(generation: number): ElasticsearchSearchIndex {
    return new ElasticsearchSearchIndex(this.client, this.prefix, this.refresh, () => generation);
  }

  async get<C extends Collection>(collection: C, ids: readonly string[]): Promise<Map<string, SearchDocuments[C]>> {
    const found = new Map<string, SearchDocuments[C]>();
    if (ids.length === 0) return found;
    const response = await this.call(() => this.client.mget<Stored<C>>({ index: this.concreteIndex(collection), ids: [...ids], realtime: true }));
    for (const doc of response.docs) {
      if ('found' in doc && doc.found && doc._source) found.set(doc._id, strip(collection, doc._source));
    }
    return found;
  }

  async upsert<C extends Collection>(collection: C, docs: readonly SearchDocuments[C][]): Promise<void> {
    const index = this.concreteIndex(collection);
    for (let offset = 0; offset < docs.length; offset += BULK_BATCH) {
      const operations = docs
        .slice(offset, offset + BULK_BATCH)
        .flatMap((doc) => [
          { index: { _index: index, _id: doc.id, version: doc.version, version_type: 'external' as const } },
          stored(collection, doc),
        ]);
      const response = await this.call(() => this.client.bulk({ operations, refresh: this.refresh }));
      if (!response.errors) continue;
      // 409: the index already holds this version or a newer one, which is the point of external versions.
      const failures = response.items
        .map((item) => item.index)
        .filter((result) => result?.error && result.status !== 409)
        .map((result) => `${result!._id}: ${result!.error!.type} ${result!.error!.reason ?? ''}`);
      if (failures.length > 0) throw new Error(`Elasticsearch refused ${failures.length} document(s): ${failures.slice(0, 3).join('; ')}`);
    }
  }

  async searchContacts(query: ContactSearchQuery): Promise<SearchResult<ContactDocument>> {
    const filter: object[] = [{ term: { tenantId: query.tenantId } }, { term: { deleted: false } }];
    for (const tag of query.tags ?? []) filter.push({ term: { tags: tag } });
    if (query.created?.from || query.created?.to) filter.push({ range: { createdAt: range(query.created) } });
    const must = textQuery(query.q, 'email');
    const sort = query.sort === 'relevance' && !query.q ? '-createdAt' : query.sort;
    const sortClause = {
      relevance: [{ _score: 'desc' }, { id: 'asc' }],
      createdAt: [{ createdAt: 'asc' }, { id: 'asc' }],
      '-createdAt': [{ createdAt: 'desc' }, { id: 'asc' }],
      name: [{ sortName: 'asc' }, { id: 'asc' }],
      '-name': [{ sortName: 'desc' }, { id: 'asc' }],
    }[sort];
    return this.search('contacts', { filter, must }, sort, sortClause, ['name', 'email', 'company', 'title'], query);
  }

  async searchExecutions(query: ExecutionSearchQuery): Promise<SearchResult<ExecutionDocument>> {
    const filter: object[] = [{ term: { tenantId: query.tenantId } }, { term: { deleted: false } }];
    if (query.status?.length) filter.push({ terms: { status: query.status } });
    if (query.workflowId) filter.push({ term: { workflowId: query.workflowId } });
    if (query.contactId) filter.push({ term: { contactId: query.contactId } });
    if (query.started?.from || query.started?.to) filter.push({ range: { startedAt: range(query.started) } });
    const text = query.q?.trim() ?? '';
    const isId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);
    const must = isId
      ? [
          {
            bool: {
              should: [
                { term: { id: text.toLowerCase() } },
                { term: { workflowId: text.toLowerCase() } },
                { term: { contactId: text.toLowerCase() } },
              ],
              minimum_should_match: 1,
            },
          },
        ]
      : textQuery(query.q, 'contactEmail');
    const sort = query.sort === 'relevance' && (!query.q || isId || looksLikeEmail(text)) ? '-startedAt' : query.sort;
    const sortClause = {
      relevance: [{ _score: 'desc' }, { id: 'asc' }],
      startedAt: [{ startedAt: 'asc' }, { id: 'asc' }],
      '-startedAt': [{ startedAt: 'desc' }, { id: 'asc' }],
    }[sort];
    return this.search('executions', { filter, must }, sort, sortClause, ['workflowName', 'contactName', 'contactEmail', 'error'], query);
  }

  private async search<C extends Collection>(
    collection: C,
    bool: { filter: object[]; must: object[] },
    sort: string,
    sortClause: object[],
    highlightFields: string[],
    query: { limit: number; cursor?: string; q?: string },
  ): Promise<SearchResult<SearchDocuments[C]>> {
    let searchAfter: (string | number)[] | undefined;
    if (query.cursor) {
      const after = decodeCursor(query.cursor, sort);
      searchAfter = [after.value, after.id];
    }
    const response = await this.call(() =>
      this.client.search<Stored<C>>({
        index: this.readAlias(collection),
        query: { bool },
        sort: sortClause as never,
        size: query.limit + 1,
        track_total_hits: true,
        ...(searchAfter ? { search_after: searchAfter } : {}),
        ...(query.q
          ? {
              highlight: {
                pre_tags: ['<em>'],
                post_tags: ['</em>'],
                encoder: 'html' as const,
                require_field_match: false,
                fields: Object.fromEntries(highlightFields.map((field) => [field, { number_of_fragments: 1 }])),
              },
            }
          : {}),
      }),
    );
    const hits = response.hits.hits;
    const page = hits.slice(0, query.limit);
    const last = page[page.length - 1];
    const total = typeof response.hits.total === 'number' ? response.hits.total : (response.hits.total?.value ?? 0);
    return {
      total,
      hits: page.map((hit) => ({
        document: strip(collection, hit._source!),
        score: sort === 'relevance' ? (hit._score ?? null) : null,
        highlights: (hit.highlight ?? {}) as Record<string, string[]>,
      })),
      nextCursor: hits.length > query.limit && last?.sort ? encodeCursor(sort, last.sort[0] as string | number, String(last.sort[1])) : null,
    };
  }

  /** A connection failure is an outage (retried by the projector, 503 on the query side), not a bad event. */
  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (err instanceof errors.ConnectionError || err instanceof errors.TimeoutError || err instanceof errors.NoLivingConnectionsError) {
        throw new DependencyUnavailableError('elasticsearch', err.message);
      }
      throw err;
    }
  }
}

const collections = ['contacts', 'executions'] as const;

/** Documents per bulk request: large enough to amortize the round trip, small enough to stay well under request limits. */
const BULK_BATCH = 500;

type Stored<C extends Collection> = SearchDocuments[C] & { name?: string | null; sortName?: string };

function stored<C extends Collection>(collection: C, doc: SearchDocuments[C]): Stored<C> {
  if (collection !== 'contacts') return doc as Stored<C>;
  const contact = doc as ContactDocument;
  return {
    ...contact,
    name: contactName(contact),
    sortName: [contact.lastName, contact.firstName].filter(Boolean).join(' ').toLowerCase(),
  } as unknown as Stored<C>;
}

function strip<C extends Collection>(collection: C, source: Stored<C>): SearchDocuments[C] {
  if (collection !== 'contacts') return source as SearchDocuments[C];
  const { name: _name, sortName: _sortName, ...doc } = source as Stored<'contacts'>;
  return doc as SearchDocuments[C];
}

function range(dates: { from?: string; to?: string }): Record<string, string> {
  return { ...(dates.from ? { gte: dates.from } : {}), ...(dates.to ? { lte: dates.to } : {}) };
}

/** Each word: a prefix of a name word (boosted) or within fuzziness AUTO of one; an email: exact. */
function textQuery(q: string | undefined, emailField: string): object[] {
  if (!q) return [];
  if (looksLikeEmail(q)) return [{ term: { [emailField]: q.trim().toLowerCase() } }];
  return queryWords(q).map((word) => ({
    bool: {
      should: [
        { prefix: { names: { value: word, boost: 2 } } },
        { fuzzy: { names: { value: word, fuzziness: 'AUTO', transpositions: true, boost: 1 } } },
      ],
      minimum_should_match: 1,
    },
  }));
}

const analysis: estypes.IndicesIndexSettings = {
  analysis: {
    analyzer: { name_text: { type: 'custom', tokenizer: 'standard', filter: ['lowercase', 'asciifolding'] } },
    normalizer: { lowercase: { type: 'custom', filter: ['lowercase'] } },
  },
};

const nameField: estypes.MappingProperty = { type: 'text', analyzer: 'name_text', copy_to: 'names' };

const mappings: Record<Collection, estypes.MappingTypeMapping> = {
  contacts: {
    dynamic: 'strict',
    properties: {
      id: { type: 'keyword' },
      tenantId: { type: 'keyword' },
      email: { type: 'keyword', normalizer: 'lowercase' },
      firstName: nameField,
      lastName: nameField,
      company: nameField,
      title: nameField,
      name: { type: 'text', analyzer: 'name_text' },
      names: { type: 'text', analyzer: 'name_text' },
      sortName: { type: 'keyword' },
      tags: { type: 'keyword' },
      createdAt: { type: 'date' },
      updatedAt: { type: 'date' },
      deleted: { type: 'boolean' },
      version: { type: 'long' },
    },
  },
  executions: {
    dynamic: 'strict',
    properties: {
      id: { type: 'keyword' },
      tenantId: { type: 'keyword' },
      workflowId: { type: 'keyword' },
      workflowName: nameField,
      contactId: { type: 'keyword' },
      contactEmail: { type: 'keyword', normalizer: 'lowercase' },
      contactName: nameField,
      status: { type: 'keyword' },
      cause: { type: 'keyword' },
      error: nameField,
      names: { type: 'text', analyzer: 'name_text' },
      startedAt: { type: 'date' },
      endedAt: { type: 'date' },
      updatedAt: { type: 'date' },
      deleted: { type: 'boolean' },
      version: { type: 'long' },
    },
  },
};
