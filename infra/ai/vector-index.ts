import { endianness } from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { EmbeddingToMake, StoredVector, VectorIndex, VectorMatch } from '../../command-api/ai/ports.ts';

/**
 * The two engines of the VectorIndex port over the read models' `ai_embeddings` table (migration
 * Migration20261206000010): `pgvector`, where the table has the `embedding_v vector` column (the migration adds
 * it where the extension is available: the embedded PGlite, a server with pgvector), and `scan`, an exact
 * cosine over the tenant's vectors in this process, anywhere. Both are exact (no approximate index), so they
 * answer alike; they share `pending`, `store` and `coverage`.
 */

/** One statement with `$n` parameters: a pg.Pool (the Database binding's pool), or the read models' ORM through sqlClientOf. */
export interface SqlClient {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows as the driver gives them, typed by each caller
  query<R = any>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** What the index can be built on: a pg.Pool-like client, or MikroORM (its connection pool). */
export type VectorIndexDatabase = SqlClient | MikroORM;

/** Statements on connections of the ORM's own pool (the way migrateReadModels takes one), with driver-bound parameters. */
export function sqlClientOf(orm: MikroORM): SqlClient {
  return {
    async query(text, values) {
      const knex = orm.em.getConnection().getKnex();
      const connection = await knex.client.acquireConnection();
      try {
        return await connection.query(text, values);
      } finally {
        await knex.client.releaseConnection(connection);
      }
    },
  };
}

function clientOf(database: VectorIndexDatabase): SqlClient {
  return 'em' in database && 'getMigrator' in database ? sqlClientOf(database) : (database as SqlClient);
}

/** Whether the table has the pgvector column (the migration added it where the extension is available). */
async function hasVectorColumn(db: SqlClient): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_attribute
       WHERE attrelid = to_regclass('ai_embeddings') AND attname = 'embedding_v' AND NOT attisdropped
     ) AS present`,
  );
  return rows[0]?.present === true;
}

/**
 * The engine the database allows: pgvector when `ai_embeddings` has the `embedding_v` column, else the scan.
 * The read-model migrations must have run.
 */
export async function vectorIndexFor(database: VectorIndexDatabase, options: ScanVectorIndexOptions = {}): Promise<VectorIndex> {
  const db = clientOf(database);
  return (await hasVectorColumn(db)) ? new PgVectorIndex(db) : new ScanVectorIndex(db, options);
}

/** Float32 little-endian, as `embedding` holds it. */
function packed(vector: readonly number[]): Buffer {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes;
}

/** pgvector's text form, of the very Float32 values `embedding` holds (so both columns hold one vector). */
function vectorLiteral(vector: readonly number[]): string {
  let text = '[';
  for (let i = 0; i < vector.length; i++) text += (i > 0 ? ',' : '') + String(Math.fround(vector[i]!));
  return text + ']';
}

function checkVector(vector: readonly number[], what: string): void {
  if (vector.length === 0) throw new RangeError(`${what}: a vector needs at least one dimension`);
  for (const value of vector) if (!Number.isFinite(Math.fround(value))) throw new RangeError(`${what}: a vector holds finite Float32 numbers only`);
}

const clamp = (score: number) => (score > 1 ? 1 : score < -1 ? -1 : score);

/** What both engines share: the embedder's side (pending, store) and coverage. */
abstract class SqlVectorIndex implements VectorIndex {
  abstract readonly engine: 'pgvector' | 'scan';
  protected readonly db: SqlClient;
  private vectorColumn: Promise<boolean> | null = null;

  constructor(database: VectorIndexDatabase) {
    this.db = clientOf(database);
  }

  abstract search(query: { organizationId: string; kind: string; model: string; vector: number[]; limit: number }): Promise<VectorMatch[]>;

  async pending(limit: number, options: { organizationIds?: string[]; excludeOrganizationIds?: string[] } = {}): Promise<EmbeddingToMake[]> {
    if (!(limit > 0)) return [];
    if (options.organizationIds && options.organizationIds.length === 0) return [];
    const { rows } = await this.db.query<{ organization_id: string; kind: string; item_id: string; text: string; text_hash: string }>(
      `SELECT organization_id::text AS organization_id, kind, item_id::text AS item_id, text, text_hash
       FROM ai_embeddings
       WHERE embedded_hash IS DISTINCT FROM text_hash
         AND ($1::uuid[] IS NULL OR organization_id = ANY ($1::uuid[]))
         AND NOT (organization_id = ANY ($2::uuid[]))
       ORDER BY changed_seq, organization_id, kind, item_id
       LIMIT $3`,
      [options.organizationIds ?? null, options.excludeOrganizationIds ?? [], Math.floor(limit)],
    );
    return rows.map((row) => ({ organizationId: row.organization_id, kind: row.kind, itemId: row.item_id, text: row.text, textHash: row.text_hash }));
  }

  async store(vectors: StoredVector[]): Promise<number> {
    if (vectors.length === 0) return 0;
    for (const vector of vectors) checkVector(vector.vector, 'store');
    // One update per row (the last given wins), in key order: concurrent writers lock rows in one order.
    const byKey = new Map<string, StoredVector>();
    for (const vector of vectors) byKey.set(`${vector.organizationId}\u0000${vector.kind}\u0000${vector.itemId}`, vector);
    const rows = [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, vector]) => vector);
    const withVector = await this.hasVectorColumn();
    const values: unknown[] = [
      rows.map((row) => row.organizationId),
      rows.map((row) => row.kind),
      rows.map((row) => row.itemId),
      rows.map((row) => row.textHash),
      rows.map((row) => row.model),
      rows.map((row) => packed(row.vector)),
    ];
    if (withVector) values.push(rows.map((row) => vectorLiteral(row.vector)));
    const { rows: stored } = await this.db.query(
      `UPDATE ai_embeddings AS e
       SET embedding = v.embedding, model = v.model, embedded_hash = e.text_hash${withVector ? ', embedding_v = v.literal::vector' : ''}
       FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::bytea[]${withVector ? ', $7::text[]' : ''})
         AS v(organization_id, kind, item_id, text_hash, model, embedding${withVector ? ', literal' : ''})
       WHERE e.organization_id = v.organization_id AND e.kind = v.kind AND e.item_id = v.item_id AND e.text_hash = v.text_hash
       RETURNING 1`,
      values,
    );
    return stored.length;
  }

  async coverage(organizationId: string, kind: string, model: string): Promise<{ items: number; embedded: number }> {
    const { rows } = await this.db.query<{ items: number; embedded: number }>(
      `SELECT count(*)::int AS items,
              count(*) FILTER (WHERE model = $3 AND embedded_hash = text_hash AND embedding IS NOT NULL)::int AS embedded
       FROM ai_embeddings WHERE organization_id = $1 AND kind = $2`,
      [organizationId, kind, model],
    );
    return { items: rows[0]?.items ?? 0, embedded: rows[0]?.embedded ?? 0 };
  }

  /** Whether `store` also writes the pgvector column (whichever engine searches, both columns stay filled). */
  protected hasVectorColumn(): Promise<boolean> {
    this.vectorColumn ??= hasVectorColumn(this.db).catch((err: unknown) => {
      this.vectorColumn = null;
      throw err;
    });
    return this.vectorColumn;
  }
}

/** Searches with pgvector's exact cosine distance (`<=>`), in the database; no approximate index. */
export class PgVectorIndex extends SqlVectorIndex {
  readonly engine = 'pgvector' as const;

  async search(query: { organizationId: string; kind: string; model: string; vector: number[]; limit: number }): Promise<VectorMatch[]> {
    if (!(query.limit > 0) || query.vector.length === 0) return [];
    checkVector(query.vector, 'search');
    if (normalized(query.vector) === null) return []; // no direction: no cosine
    // Only vectors of the query's length (octet_length reads the stored size, without detoasting); a zero
    // vector's distance is NaN, which sorts last and is left out.
    const { rows } = await this.db.query<{ item_id: string; distance: number }>(
      `SELECT item_id::text AS item_id, embedding_v <=> $4::vector AS distance
       FROM ai_embeddings
       WHERE organization_id = $1 AND kind = $2 AND model = $3 AND embedded_hash = text_hash
         AND embedding_v IS NOT NULL AND octet_length(embedding) = $5
       ORDER BY distance, item_id
       LIMIT $6`,
      [query.organizationId, query.kind, query.model, vectorLiteral(query.vector), query.vector.length * 4, Math.floor(query.limit)],
    );
    const matches: VectorMatch[] = [];
    for (const row of rows) if (!Number.isNaN(row.distance)) matches.push({ itemId: row.item_id, score: clamp(1 - row.distance) });
    return matches;
  }
}

export interface ScanVectorIndexOptions {
  /**
   * Bytes of vectors (and their ids) this process keeps across tenants, least recently searched dropped first
   * (default 128 MiB). A tenant bigger than this alone is read from the database on every search instead.
   */
  cacheBytes?: number;
  /** Rows per statement when a tenant is read whole (default 2,000). */
  pageRows?: number;
}

/** Estimated bytes per cached row beside its floats: the id string, its map entry and its slot. */
const ROW_OVERHEAD = 160;
const TENANT_OVERHEAD = 1_024;
/** The most a tenant's packed rows grow by at once, in bytes. */
const GROWTH_STEP = 4 * 1024 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

/** `vector` scaled to length 1 (double precision), or null when it has no length. */
function normalized(vector: readonly number[]): Float64Array | null {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  if (!(norm > 0) || !Number.isFinite(norm)) return null;
  const unit = new Float64Array(vector.length);
  for (let i = 0; i < vector.length; i++) unit[i] = vector[i]! / norm;
  return unit;
}

/**
 * Writes the stored vector `bytes` (Float32 LE) into `target` at `offset`, scaled to length 1 in Float32 (the
 * one form every scan compares). False (and nothing usable written) for a vector without a direction.
 */
function putUnit(target: Float32Array, offset: number, bytes: Buffer, dims: number): boolean {
  if (LITTLE_ENDIAN) new Uint8Array(target.buffer, target.byteOffset + offset * 4, dims * 4).set(bytes.subarray(0, dims * 4));
  else for (let j = 0; j < dims; j++) target[offset + j] = bytes.readFloatLE(j * 4);
  let sum = 0;
  for (let j = 0; j < dims; j++) {
    const value = target[offset + j]!;
    sum += value * value;
  }
  const norm = Math.sqrt(sum);
  if (!(norm > 0) || !Number.isFinite(norm)) return false;
  for (let j = 0; j < dims; j++) target[offset + j] = target[offset + j]! / norm;
  return true;
}

/** The dot product in double precision, four sums at once (the loop every scan spends its time in). */
function dot(query: Float64Array, data: Float32Array, offset: number, dims: number): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let j = 0;
  for (; j + 3 < dims; j += 4) {
    a += query[j]! * data[offset + j]!;
    b += query[j + 1]! * data[offset + j + 1]!;
    c += query[j + 2]! * data[offset + j + 2]!;
    d += query[j + 3]! * data[offset + j + 3]!;
  }
  for (; j < dims; j++) a += query[j]! * data[offset + j]!;
  return a + b + (c + d);
}

/** The best `limit` (score descending, then item id ascending) of what it is offered, in a min-heap of that size. */
class TopK {
  private readonly scores: number[] = [];
  private readonly ids: string[] = [];

  constructor(private readonly limit: number) {}

  offer(score: number, itemId: string): void {
    const n = this.scores.length;
    if (n < this.limit) {
      this.scores.push(score);
      this.ids.push(itemId);
      this.up(n);
    } else if (score > this.scores[0]! || (score === this.scores[0]! && itemId < this.ids[0]!)) {
      this.scores[0] = score;
      this.ids[0] = itemId;
      this.down(0);
    }
  }

  /** Whether `score` could enter (a quick test before the id is looked up). */
  wants(score: number): boolean {
    return this.scores.length < this.limit || score >= this.scores[0]!;
  }

  results(): VectorMatch[] {
    const matches = this.scores.map((score, i) => ({ itemId: this.ids[i]!, score: clamp(score) }));
    return matches.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
  }

  /** a ranks below b. */
  private worse(a: number, b: number): boolean {
    const sa = this.scores[a]!;
    const sb = this.scores[b]!;
    return sa < sb || (sa === sb && this.ids[a]! > this.ids[b]!);
  }

  private swap(a: number, b: number): void {
    const score = this.scores[a]!;
    this.scores[a] = this.scores[b]!;
    this.scores[b] = score;
    const id = this.ids[a]!;
    this.ids[a] = this.ids[b]!;
    this.ids[b] = id;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.worse(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.scores.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.worse(right, left) ? right : left;
      if (!this.worse(child, i)) return;
      this.swap(i, child);
      i = child;
    }
  }
}

/** One dimension's unit vectors of a tenant, packed row after row. */
class Matrix {
  data: Float32Array;
  readonly ids: string[] = [];
  readonly slots = new Map<string, number>();

  constructor(readonly dims: number) {
    this.data = new Float32Array(dims * 16);
  }

  get count(): number {
    return this.ids.length;
  }

  /** Bytes held (the packed rows have room to grow). */
  get bytes(): number {
    return this.data.byteLength + this.ids.length * ROW_OVERHEAD;
  }

  /** Bytes the rows need. */
  get usedBytes(): number {
    return this.ids.length * (this.dims * 4 + ROW_OVERHEAD);
  }

  /** Gives back the room to grow (after a whole tenant was read). */
  trim(): void {
    if (this.data.length > this.ids.length * this.dims) this.data = this.data.slice(0, Math.max(1, this.ids.length) * this.dims);
  }

  /** Stores the item's vector; false (and the item absent) when the vector has no direction. */
  put(itemId: string, bytes: Buffer): boolean {
    let slot = this.slots.get(itemId);
    if (slot === undefined) {
      slot = this.ids.length;
      if ((slot + 1) * this.dims > this.data.length) {
        // By half again, at most by GROWTH_STEP: a big tenant's room to grow stays small against the budget.
        const room = Math.min(Math.ceil(this.data.length / 2), GROWTH_STEP / 4);
        const grown = new Float32Array(Math.max(Math.ceil((this.data.length + room) / this.dims), slot + 1) * this.dims);
        grown.set(this.data);
        this.data = grown;
      }
      if (!putUnit(this.data, slot * this.dims, bytes, this.dims)) return false;
      this.ids.push(itemId);
      this.slots.set(itemId, slot);
      return true;
    }
    if (putUnit(this.data, slot * this.dims, bytes, this.dims)) return true;
    this.remove(itemId);
    return false;
  }

  remove(itemId: string): void {
    const slot = this.slots.get(itemId);
    if (slot === undefined) return;
    const last = this.ids.length - 1;
    if (slot !== last) {
      const moved = this.ids[last]!;
      this.data.copyWithin(slot * this.dims, last * this.dims, (last + 1) * this.dims);
      this.ids[slot] = moved;
      this.slots.set(moved, slot);
    }
    this.ids.pop();
    this.slots.delete(itemId);
  }

  scan(query: Float64Array, top: TopK): void {
    const { data, dims, ids } = this;
    for (let i = 0, offset = 0; i < ids.length; i++, offset += dims) {
      const score = dot(query, data, offset, dims);
      if (top.wants(score)) top.offer(score, ids[i]!);
    }
  }
}

/** A tenant's (organization, kind, model) current vectors, and how far its reading of the table got. */
class TenantVectors {
  readonly matrices = new Map<number, Matrix>();
  /** Budget bytes this tenant is counted for. */
  accounted = 0;
  /** When its last refresh began (ScanVectorIndex.tick): a search that began before needs no other. */
  refreshedAt: number;

  constructor(
    /** pg_snapshot_xmin when it was last read: every change by a transaction below it has been applied. */
    public mark: string,
    tick: number,
  ) {
    this.refreshedAt = tick;
  }

  get bytes(): number {
    let bytes = TENANT_OVERHEAD;
    for (const matrix of this.matrices.values()) bytes += matrix.bytes;
    return bytes;
  }

  get usedBytes(): number {
    let bytes = TENANT_OVERHEAD;
    for (const matrix of this.matrices.values()) bytes += matrix.usedBytes;
    return bytes;
  }

  trim(): void {
    for (const matrix of this.matrices.values()) matrix.trim();
  }

  put(itemId: string, bytes: Buffer): void {
    const dims = bytes.length >> 2;
    for (const [size, matrix] of this.matrices) if (size !== dims) matrix.remove(itemId);
    if (dims === 0) return;
    let matrix = this.matrices.get(dims);
    if (!matrix) {
      matrix = new Matrix(dims);
      this.matrices.set(dims, matrix);
    }
    matrix.put(itemId, bytes);
  }

  remove(itemId: string): void {
    for (const matrix of this.matrices.values()) matrix.remove(itemId);
  }
}

interface TenantKey {
  organizationId: string;
  kind: string;
  model: string;
}

interface VectorRow {
  item_id: string;
  embedding: Buffer;
}

/**
 * Exact cosine similarity in this process. Each (organization, kind, model) searched is cached as packed
 * Float32 matrices of unit vectors (one per dimension), least recently searched tenants dropped beyond the
 * byte budget. Every search first reads what changed since the cache last looked (rows of the tenant with
 * `changed_seq` from its mark on, and removals), so it sees every store and delete committed before it began.
 * A tenant bigger than the whole budget is read from the database page by page on every search, not kept.
 */
export class ScanVectorIndex extends SqlVectorIndex {
  readonly engine = 'scan' as const;
  private readonly budget: number;
  private readonly pageRows: number;
  /** Cached tenants, least recently searched first. */
  private readonly tenants = new Map<string, TenantVectors>();
  private cachedBytes = 0;
  /** Tenants last seen bigger than the budget: searched without caching. */
  private readonly oversized = new Set<string>();
  /** Per tenant, the tail of the chain of searches that read or change its cache (one at a time). */
  private readonly locks = new Map<string, Promise<void>>();
  private tick = 0;

  constructor(database: VectorIndexDatabase, options: ScanVectorIndexOptions = {}) {
    super(database);
    this.budget = Math.max(0, options.cacheBytes ?? 128 * 1024 * 1024);
    this.pageRows = Math.max(1, Math.floor(options.pageRows ?? 2_000));
  }

  /** Bytes held by the cache now (for tests and metrics). */
  get cacheBytes(): number {
    return this.cachedBytes;
  }

  async search(query: { organizationId: string; kind: string; model: string; vector: number[]; limit: number }): Promise<VectorMatch[]> {
    if (!(query.limit > 0) || query.vector.length === 0) return [];
    checkVector(query.vector, 'search');
    const unit = normalized(query.vector);
    if (!unit) return [];
    const tenant: TenantKey = { organizationId: query.organizationId, kind: query.kind, model: query.model };
    const key = `${query.organizationId}\u0000${query.kind}\u0000${query.model}`;
    const limit = Math.floor(query.limit);
    const begun = ++this.tick;
    if (this.oversized.has(key)) return this.streamed(key, tenant, unit, limit);
    return this.exclusive(key, async () => {
      let cached = this.tenants.get(key);
      if (cached && cached.refreshedAt < begun) {
        // Half applied (a failed statement) is no state to answer from, nor to let waiting searches skip on.
        const current = await this.refresh(cached, tenant).catch((err: unknown) => {
          this.drop(key);
          throw err;
        });
        if (!current) {
          this.drop(key);
          cached = undefined;
        }
      }
      if (!cached) return this.load(key, tenant, unit, limit);
      this.account(key, cached);
      const top = new TopK(limit);
      cached.matrices.get(unit.length)?.scan(unit, top);
      return top.results();
    });
  }

  /** Applies what changed since the tenant's mark; false when it cannot (removals it needed were pruned). */
  private async refresh(cached: TenantVectors, tenant: TenantKey): Promise<boolean> {
    cached.refreshedAt = ++this.tick;
    const { rows } = await this.db.query<{ mark: string; reload: boolean; removed: string[] }>(
      `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS mark,
              EXISTS (SELECT 1 FROM ai_embedding_cache_resets WHERE below > $3::bigint) AS reload,
              ARRAY(SELECT item_id::text FROM ai_embedding_removals
                    WHERE organization_id = $1 AND kind = $2 AND removed_seq >= $3::bigint) AS removed`,
      [tenant.organizationId, tenant.kind, cached.mark],
    );
    const head = rows[0]!;
    if (head.reload) return false;
    // Removals first: a row removed and written again since is current in what follows.
    for (const itemId of head.removed) cached.remove(itemId);
    let after: { seq: string; itemId: string } | null = null;
    for (;;) {
      const page: { rows: { seq: string; item_id: string; embedding: Buffer | null }[] } = await this.db.query(
        `SELECT changed_seq::text AS seq, item_id::text AS item_id,
                CASE WHEN model = $3 AND embedded_hash = text_hash THEN embedding END AS embedding
         FROM ai_embeddings AS e
         WHERE organization_id = $1 AND kind = $2 AND changed_seq >= $4::bigint
           AND ($5::bigint IS NULL OR (changed_seq, e.item_id) > ($5::bigint, $6::uuid))
         ORDER BY e.organization_id, e.kind, e.changed_seq, e.item_id
         LIMIT $7`,
        [tenant.organizationId, tenant.kind, tenant.model, cached.mark, after?.seq ?? null, after?.itemId ?? null, this.pageRows],
      );
      for (const row of page.rows) {
        if (row.embedding) cached.put(row.item_id, row.embedding);
        else cached.remove(row.item_id);
      }
      if (page.rows.length < this.pageRows) break;
      const last = page.rows[page.rows.length - 1]!;
      after = { seq: last.seq, itemId: last.item_id };
    }
    cached.mark = head.mark;
    return true;
  }

  /** Reads the tenant whole, answering the search on the way, and caches it if it fits the budget. */
  private async load(key: string, tenant: TenantKey, unit: Float64Array, limit: number): Promise<VectorMatch[]> {
    const tick = ++this.tick;
    const { rows } = await this.db.query<{ mark: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS mark');
    let building: TenantVectors | null = new TenantVectors(rows[0]!.mark, tick);
    const top = new TopK(limit);
    const scratch = new Float32Array(unit.length);
    for await (const page of this.pages(tenant, () => (building ? null : unit.length * 4))) {
      for (const row of page) {
        if (building) building.put(row.item_id, row.embedding);
        if (row.embedding.length !== unit.length * 4) continue;
        if (!putUnit(scratch, 0, row.embedding, unit.length)) continue;
        const score = dot(unit, scratch, 0, unit.length);
        if (top.wants(score)) top.offer(score, row.item_id);
      }
      if (building && !this.makeRoom(key, building.usedBytes)) building = null;
    }
    if (building) {
      building.trim();
      this.tenants.set(key, building);
      this.account(key, building);
    } else {
      this.markOversized(key);
    }
    return top.results();
  }

  /** A search of a tenant too big to cache: every vector of the query's length, read page by page. */
  private async streamed(key: string, tenant: TenantKey, unit: Float64Array, limit: number): Promise<VectorMatch[]> {
    const top = new TopK(limit);
    const scratch = new Float32Array(unit.length);
    let matching = 0;
    for await (const page of this.pages(tenant, () => unit.length * 4)) {
      for (const row of page) {
        matching++;
        if (!putUnit(scratch, 0, row.embedding, unit.length)) continue;
        const score = dot(unit, scratch, 0, unit.length);
        if (top.wants(score)) top.offer(score, row.item_id);
      }
    }
    // Shrunk enough to be cached: the next search loads it.
    if (matching * (unit.length * 4 + ROW_OVERHEAD) + TENANT_OVERHEAD <= this.budget) this.oversized.delete(key);
    return top.results();
  }

  /**
   * The tenant's current vectors of its model in item order, a page per statement (`bytes`: only vectors of that
   * size). Paged on the primary key alone, whose order the index gives without sorting; what is not wanted
   * comes as a bare id (a filter on the hashes in the WHERE clause would make the planner guess few rows and
   * sort the whole tenant for every page).
   */
  private async *pages(tenant: TenantKey, bytes: () => number | null): AsyncGenerator<VectorRow[]> {
    let after: string | null = null;
    for (;;) {
      const { rows }: { rows: { item_id: string; embedding: Buffer | null }[] } = await this.db.query(
        `SELECT item_id::text AS item_id,
                CASE WHEN model = $4 AND embedded_hash = text_hash AND ($5::int IS NULL OR octet_length(embedding) = $5::int)
                     THEN embedding END AS embedding
         FROM ai_embeddings AS e
         WHERE organization_id = $1 AND kind = $2 AND ($3::uuid IS NULL OR e.item_id > $3::uuid)
         ORDER BY e.organization_id, e.kind, e.item_id
         LIMIT $6`,
        [tenant.organizationId, tenant.kind, after, tenant.model, bytes(), this.pageRows],
      );
      const vectors = rows.filter((row): row is VectorRow => row.embedding !== null);
      if (vectors.length > 0) yield vectors;
      if (rows.length < this.pageRows) return;
      after = rows[rows.length - 1]!.item_id;
    }
  }

  /**
   * Drops least recently searched tenants (not `key`) until `bytes` more fit; false when `bytes` alone exceed
   * the budget.
   */
  private makeRoom(key: string, bytes: number): boolean {
    if (bytes > this.budget) return false;
    const others = this.cachedBytes - (this.tenants.get(key)?.accounted ?? 0);
    let excess = others + bytes - this.budget;
    for (const [other, tenant] of this.tenants) {
      if (excess <= 0) break;
      if (other === key) continue;
      excess -= tenant.accounted;
      this.drop(other);
    }
    return true;
  }

  /** Counts the tenant at its size now, as the most recently searched; drops it (and notes it oversized) if it no longer fits. */
  private account(key: string, tenant: TenantVectors): void {
    const bytes = tenant.bytes;
    if (!this.makeRoom(key, bytes)) {
      this.drop(key);
      this.markOversized(key);
      return;
    }
    this.cachedBytes += bytes - tenant.accounted;
    tenant.accounted = bytes;
    this.tenants.delete(key);
    this.tenants.set(key, tenant);
  }

  private markOversized(key: string): void {
    if (this.oversized.size >= 10_000) this.oversized.clear(); // a bound; forgotten ones are tried again
    this.oversized.add(key);
  }

  private drop(key: string): void {
    const tenant = this.tenants.get(key);
    if (!tenant) return;
    this.cachedBytes -= tenant.accounted;
    tenant.accounted = 0;
    this.tenants.delete(key);
  }

  /** Runs `work` after every earlier call for `key` has finished. */
  private async exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => done);
    this.locks.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}
