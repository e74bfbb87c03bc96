import { createHash, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { StoredVector, VectorIndex, VectorMatch } from '../../command-api/ai/ports.ts';
import type { SqlClient } from './vector-index.ts';

export interface VectorIndexHarness {
  index: VectorIndex;
  /** The read-model database, to write `ai_embeddings` as the embeddings projection does. */
  db: SqlClient;
  close(): Promise<void>;
}

export const textHash = (text: string) => createHash('sha256').update(text).digest('hex');

/** A small deterministic generator (mulberry32), so that a failing case is the same case on the next run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const randomVector = (random: () => number, dims: number) => Array.from({ length: dims }, () => random() * 2 - 1);

/** What a row holds for the test's reckoning: the vector as stored (Float32) when current. */
type Held = Map<string, number[]>;

/**
 * The exact answer: cosine similarity in double precision over the Float32 values stored, best first, ties by
 * item id; only vectors of the query's length.
 */
export function bruteForce(held: Held, query: number[], limit: number): VectorMatch[] {
  const norm = (v: number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
  const q = query.map((x) => Math.fround(x));
  const qn = norm(q);
  const matches: VectorMatch[] = [];
  for (const [itemId, stored] of held) {
    if (stored.length !== q.length) continue;
    const v = stored.map((x) => Math.fround(x));
    const vn = norm(v);
    if (vn === 0 || qn === 0) continue;
    matches.push({ itemId, score: v.reduce((sum, x, i) => sum + x * q[i]!, 0) / (vn * qn) });
  }
  return matches.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1)).slice(0, limit);
}

/** Same items in the same order, scores equal up to Float32 rounding. */
export function expectSameMatches(actual: VectorMatch[], expected: VectorMatch[], what = 'search'): void {
  expect(
    actual.map((match) => match.itemId),
    what,
  ).to.deep.equal(expected.map((match) => match.itemId));
  actual.forEach((match, i) => expect(match.score, `${what}: score of ${match.itemId}`).to.be.closeTo(expected[i]!.score, 1e-5));
}

/** The behaviour every VectorIndex must show: pgvector and the in-process scan alike. */
export function vectorIndexContract(name: string, open: () => Promise<VectorIndexHarness>): void {
  describe(`vector index contract: ${name}`, function () {
    this.timeout(60_000);
    let harness: VectorIndexHarness;
    let index: VectorIndex;

    before(async () => {
      harness = await open();
      index = harness.index;
    });
    after(async () => harness?.close());

    /** Inserts or updates a row as the embeddings projection does (text and hash, only when the text changed). */
    const put = async (organizationId: string, kind: string, itemId: string, text: string) => {
      await harness.db.query(
        `INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (organization_id, kind, item_id) DO UPDATE SET text = excluded.text, text_hash = excluded.text_hash
         WHERE ai_embeddings.text_hash IS DISTINCT FROM excluded.text_hash`,
        [organizationId, kind, itemId, text, textHash(text)],
      );
    };
    const remove = async (organizationId: string, kind: string, itemId: string) => {
      await harness.db.query('DELETE FROM ai_embeddings WHERE organization_id = $1 AND kind = $2 AND item_id = $3', [organizationId, kind, itemId]);
    };
    const vectorOf = (organizationId: string, kind: string, itemId: string, text: string, model: string, vector: number[]): StoredVector => ({
      organizationId,
      kind,
      itemId,
      textHash: textHash(text),
      model,
      vector,
    });
    const ids = (n: number) => Array.from({ length: n }, () => randomUUID()).sort();

    it('lists the rows without a current vector, oldest change first, of the organizations asked for, up to the limit', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const [a1, b1, c1, a2] = ids(4);
      await put(a!, 'contact', a1!, 'Ada at Acme');
      await put(b!, 'contact', b1!, 'Bob at Beta');
      await put(c!, 'email', c1!, 'Hello Carol');
      await put(a!, 'email', a2!, 'Hello Ada');
      const ours = { organizationIds: [a!, b!, c!] };
      const listed = await index.pending(10, ours);
      expect(listed).to.deep.equal([
        { organizationId: a, kind: 'contact', itemId: a1, text: 'Ada at Acme', textHash: textHash('Ada at Acme') },
        { organizationId: b, kind: 'contact', itemId: b1, text: 'Bob at Beta', textHash: textHash('Bob at Beta') },
        { organizationId: c, kind: 'email', itemId: c1, text: 'Hello Carol', textHash: textHash('Hello Carol') },
        { organizationId: a, kind: 'email', itemId: a2, text: 'Hello Ada', textHash: textHash('Hello Ada') },
      ]);
      expect((await index.pending(2, ours)).map((row) => row.itemId)).to.deep.equal([a1, b1]);
      expect((await index.pending(10, { ...ours, excludeOrganizationIds: [b!] })).map((row) => row.itemId)).to.deep.equal([a1, c1, a2]);
      expect((await index.pending(10, { organizationIds: [c!] })).map((row) => row.itemId)).to.deep.equal([c1]);
      expect(await index.pending(10, { organizationIds: [] })).to.deep.equal([]);
      expect(await index.pending(0, ours)).to.deep.equal([]);
      const everyone = await index.pending(100_000, { excludeOrganizationIds: [a!] });
      expect(everyone.map((row) => row.itemId))
        .to.include.members([b1, c1])
        .and.not.include.members([a1, a2]);

      // Stored: no longer pending. Its text changed: pending again, as the newest change.
      expect(await index.store([vectorOf(a!, 'contact', a1!, 'Ada at Acme', 'm1', [1, 0, 0])])).to.equal(1);
      expect((await index.pending(10, ours)).map((row) => row.itemId)).to.deep.equal([b1, c1, a2]);
      await put(a!, 'contact', a1!, 'Ada Lovelace at Acme');
      const again = await index.pending(10, ours);
      expect(again.map((row) => row.itemId)).to.deep.equal([b1, c1, a2, a1]);
      expect(again[3]).to.include({ text: 'Ada Lovelace at Acme', textHash: textHash('Ada Lovelace at Acme') });
    });

    it('stores a vector only while the row still holds the text it was made from', async () => {
      const org = randomUUID();
      const [x, y, z, missing] = ids(4);
      await put(org, 'contact', x!, 'x');
      await put(org, 'contact', y!, 'y');
      await put(org, 'contact', z!, 'z');
      await put(org, 'contact', y!, 'y, changed meanwhile');
      await remove(org, 'contact', z!);
      const stored = await index.store([
        vectorOf(org, 'contact', x!, 'x', 'm1', [1, 2]),
        vectorOf(org, 'contact', y!, 'y', 'm1', [1, 2]),
        vectorOf(org, 'contact', z!, 'z', 'm1', [1, 2]),
        vectorOf(org, 'contact', missing!, 'nothing', 'm1', [1, 2]),
      ]);
      expect(stored).to.equal(1);
      expect(await index.store([])).to.equal(0);
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: 2, embedded: 1 });
      expect((await index.pending(10, { organizationIds: [org] })).map((row) => row.itemId)).to.deep.equal([y]);
      const found = await index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: [1, 2], limit: 10 });
      expect(found.map((match) => match.itemId)).to.deep.equal([x]);
      expect(found[0]!.score).to.be.closeTo(1, 1e-6);
    });

    it('finds the nearest rows by cosine within the organization and kind only, of the given model, among current vectors', async () => {
      const [org, other] = [randomUUID(), randomUUID()];
      const random = seeded(7);
      const held: Held = new Map();
      const query = randomVector(random, 6);
      const rows = ids(12);
      const writes: StoredVector[] = [];
      for (const [i, itemId] of rows.entries()) {
        const vector = i === 0 ? query.map((x) => x * 3) : randomVector(random, 6);
        await put(org, 'contact', itemId, `contact ${i}`);
        writes.push(vectorOf(org, 'contact', itemId, `contact ${i}`, 'm1', vector));
        held.set(itemId, vector);
        // The same vectors elsewhere: another organization, another kind, another model.
        await put(other, 'contact', itemId, `contact ${i}`);
        writes.push(vectorOf(other, 'contact', itemId, `contact ${i}`, 'm1', vector));
        await put(org, 'email', itemId, `email ${i}`);
        writes.push(vectorOf(org, 'email', itemId, `email ${i}`, 'm1', vector));
      }
      // Rows of another model, and a row whose vector is stale (its text changed), all pointing at the query.
      const [otherModel, stale] = ids(2);
      await put(org, 'contact', otherModel!, 'embedded by m2');
      writes.push(vectorOf(org, 'contact', otherModel!, 'embedded by m2', 'm2', query));
      await put(org, 'contact', stale!, 'before');
      writes.push(vectorOf(org, 'contact', stale!, 'before', 'm1', query));
      expect(await index.store(writes)).to.equal(writes.length);
      await put(org, 'contact', stale!, 'after');

      const found = await index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: query, limit: 5 });
      expectSameMatches(found, bruteForce(held, query, 5));
      expect(found[0]).to.deep.include({ itemId: rows[0] });
      expect(found[0]!.score).to.be.closeTo(1, 1e-6);
      const all = await index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: query, limit: 100 });
      expectSameMatches(all, bruteForce(held, query, 100));
      expect(all.map((match) => match.itemId)).not.to.include.members([otherModel, stale]);
      const m2 = await index.search({ organizationId: org, kind: 'contact', model: 'm2', vector: query, limit: 100 });
      expect(m2.map((match) => match.itemId)).to.deep.equal([otherModel]);
      expect(await index.search({ organizationId: randomUUID(), kind: 'contact', model: 'm1', vector: query, limit: 5 })).to.deep.equal([]);
      expect(await index.search({ organizationId: org, kind: 'note', model: 'm1', vector: query, limit: 5 })).to.deep.equal([]);
      expect(await index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: query, limit: 0 })).to.deep.equal([]);
    });

    it('drops a deleted row from the very next search, after searches that had it', async () => {
      const org = randomUUID();
      const [keep, gone] = ids(2);
      await put(org, 'contact', keep!, 'keep');
      await put(org, 'contact', gone!, 'gone');
      await index.store([vectorOf(org, 'contact', keep!, 'keep', 'm1', [0, 1, 0]), vectorOf(org, 'contact', gone!, 'gone', 'm1', [1, 0, 0])]);
      const search = () => index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: [1, 0.1, 0], limit: 10 });
      expect((await search()).map((match) => match.itemId)).to.deep.equal([gone, keep]);
      expect((await search()).map((match) => match.itemId)).to.deep.equal([gone, keep]);
      await remove(org, 'contact', gone!);
      expect((await search()).map((match) => match.itemId)).to.deep.equal([keep]);
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: 1, embedded: 1 });
      // Written again under the same id: back, with its new vector.
      await put(org, 'contact', gone!, 'back');
      await index.store([vectorOf(org, 'contact', gone!, 'back', 'm1', [0, 0, 1])]);
      const back = await search();
      expect(back.map((match) => match.itemId)).to.deep.equal([keep, gone]);
      expect(back[1]!.score).to.equal(0);
    });

    it('leaves a vector out once its text changed, until a vector of the new text is stored', async () => {
      const org = randomUUID();
      const [item, neighbour] = ids(2);
      await put(org, 'email', item!, 'first draft');
      await put(org, 'email', neighbour!, 'neighbour');
      await index.store([vectorOf(org, 'email', item!, 'first draft', 'm1', [1, 0]), vectorOf(org, 'email', neighbour!, 'neighbour', 'm1', [1, 1])]);
      const search = () => index.search({ organizationId: org, kind: 'email', model: 'm1', vector: [1, 0], limit: 10 });
      expect((await search()).map((match) => match.itemId)).to.deep.equal([item, neighbour]);
      await put(org, 'email', item!, 'second draft');
      expect((await search()).map((match) => match.itemId)).to.deep.equal([neighbour]);
      expect(await index.coverage(org, 'email', 'm1')).to.deep.equal({ items: 2, embedded: 1 });
      // A late vector of the old text changes nothing; one of the new text is stored.
      expect(await index.store([vectorOf(org, 'email', item!, 'first draft', 'm1', [1, 0])])).to.equal(0);
      expect((await search()).map((match) => match.itemId)).to.deep.equal([neighbour]);
      expect(await index.store([vectorOf(org, 'email', item!, 'second draft', 'm1', [0, 1])])).to.equal(1);
      const found = await search();
      expect(found.map((match) => match.itemId)).to.deep.equal([neighbour, item]);
      expect(found[1]!.score).to.be.closeTo(0, 1e-7);
    });

    it('counts the rows and the current vectors of a model', async () => {
      const org = randomUUID();
      const rows = ids(5);
      for (const [i, itemId] of rows.entries()) await put(org, 'contact', itemId, `row ${i}`);
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: 5, embedded: 0 });
      await index.store([
        vectorOf(org, 'contact', rows[0]!, 'row 0', 'm1', [1, 0]),
        vectorOf(org, 'contact', rows[1]!, 'row 1', 'm1', [1, 0]),
        vectorOf(org, 'contact', rows[2]!, 'row 2', 'm2', [1, 0]),
      ]);
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: 5, embedded: 2 });
      expect(await index.coverage(org, 'contact', 'm2')).to.deep.equal({ items: 5, embedded: 1 });
      await put(org, 'contact', rows[1]!, 'row 1, edited');
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: 5, embedded: 1 });
      expect(await index.coverage(org, 'email', 'm1')).to.deep.equal({ items: 0, embedded: 0 });
      expect(await index.coverage(randomUUID(), 'contact', 'm1')).to.deep.equal({ items: 0, embedded: 0 });
    });

    it("compares only vectors of the query's length, and answers nothing (no error) for a length no vector has", async () => {
      const org = randomUUID();
      const [three, four, zero] = ids(3);
      await put(org, 'contact', three!, 'three');
      await put(org, 'contact', four!, 'four');
      await put(org, 'contact', zero!, 'zero');
      await index.store([
        vectorOf(org, 'contact', three!, 'three', 'm1', [1, 0, 0]),
        vectorOf(org, 'contact', four!, 'four', 'm1', [1, 0, 0, 0]),
        vectorOf(org, 'contact', zero!, 'zero', 'm1', [0, 0, 0]),
      ]);
      const search = (vector: number[]) => index.search({ organizationId: org, kind: 'contact', model: 'm1', vector, limit: 10 });
      expect((await search([1, 1, 0])).map((match) => match.itemId)).to.deep.equal([three]);
      expect((await search([1, 1, 0, 0])).map((match) => match.itemId)).to.deep.equal([four]);
      expect(await search([1, 1, 0, 0, 0])).to.deep.equal([]);
      // A query without a direction has no cosine with anything.
      expect(await search([0, 0, 0])).to.deep.equal([]);
      expect(await search([])).to.deep.equal([]);
    });

    it('answers exactly as a brute-force cosine over the tenant, whatever the limit', async () => {
      const org = randomUUID();
      const random = seeded(42);
      const held: Held = new Map();
      const rows = ids(600);
      const writes: StoredVector[] = [];
      for (const [i, itemId] of rows.entries()) {
        held.set(itemId, randomVector(random, 24));
        writes.push(vectorOf(org, 'contact', itemId, `row ${i}`, 'm1', held.get(itemId)!));
      }
      await harness.db.query(
        `INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash)
         SELECT $1, 'contact', item_id, text, text_hash FROM unnest($2::uuid[], $3::text[], $4::text[]) AS v(item_id, text, text_hash)`,
        [org, rows, rows.map((_, i) => `row ${i}`), rows.map((_, i) => textHash(`row ${i}`))],
      );
      for (let i = 0; i < writes.length; i += 250) expect(await index.store(writes.slice(i, i + 250))).to.equal(Math.min(250, writes.length - i));
      for (const limit of [1, 7, 50, 599, 600, 1_000]) {
        const query = randomVector(random, 24);
        const found = await index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: query, limit });
        expectSameMatches(found, bruteForce(held, query, limit), `limit ${limit}`);
      }
    });

    it('sees every write committed before each search, through a random sequence of writes and searches', async () => {
      const org = randomUUID();
      const random = seeded(2024);
      const dims = 8;
      const texts = new Map<string, string>();
      const held: Held = new Map();
      const pick = <T>(values: T[]) => values[Math.floor(random() * values.length)];
      for (let step = 0; step < 120; step++) {
        const roll = random();
        const existing = [...texts.keys()];
        if (roll < 0.35 || existing.length < 3) {
          const itemId = randomUUID();
          const text = `text ${step}`;
          await put(org, 'contact', itemId, text);
          texts.set(itemId, text);
          if (random() < 0.8) {
            const vector = randomVector(random, dims);
            await index.store([vectorOf(org, 'contact', itemId, text, 'm1', vector)]);
            held.set(itemId, vector);
          }
        } else if (roll < 0.5) {
          const itemId = pick(existing)!;
          const text = `text ${step}`;
          await put(org, 'contact', itemId, text);
          texts.set(itemId, text);
          held.delete(itemId);
        } else if (roll < 0.7) {
          const stale = existing.filter((itemId) => !held.has(itemId));
          const itemId = pick(stale.length > 0 ? stale : existing)!;
          const vector = randomVector(random, dims);
          await index.store([vectorOf(org, 'contact', itemId, texts.get(itemId)!, 'm1', vector)]);
          held.set(itemId, vector);
        } else if (roll < 0.85) {
          const itemId = pick(existing)!;
          await remove(org, 'contact', itemId);
          texts.delete(itemId);
          held.delete(itemId);
        }
        const query = randomVector(random, dims);
        const limit = 1 + Math.floor(random() * 12);
        const found = await index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: query, limit });
        expectSameMatches(found, bruteForce(held, query, limit), `step ${step}`);
      }
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: texts.size, embedded: held.size });
    });

    it('answers searches running alongside writes, each seeing at least what was committed before it began', async () => {
      const org = randomUUID();
      const random = seeded(99);
      const held: Held = new Map();
      const query = randomVector(random, 4);
      const search = () => index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: query, limit: 1_000 });
      await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const itemId = randomUUID();
          const vector = randomVector(random, 4);
          const [, found] = await Promise.all([
            search(),
            (async () => {
              await put(org, 'contact', itemId, `row ${i}`);
              await index.store([vectorOf(org, 'contact', itemId, `row ${i}`, 'm1', vector)]);
              held.set(itemId, vector);
              return search();
            })(),
          ]);
          expect(found.map((match) => match.itemId)).to.include(itemId);
        }),
      );
      expectSameMatches(await search(), bruteForce(held, query, 1_000));
    });

    it('drops deleted rows even after the removals it had not read yet were pruned', async () => {
      const org = randomUUID();
      const [keep, gone] = ids(2);
      await put(org, 'contact', keep!, 'keep');
      await put(org, 'contact', gone!, 'gone');
      await index.store([vectorOf(org, 'contact', keep!, 'keep', 'm1', [1, 0]), vectorOf(org, 'contact', gone!, 'gone', 'm1', [1, 0.5])]);
      const search = () => index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: [1, 0], limit: 10 });
      expect((await search()).map((match) => match.itemId)).to.deep.equal([keep, gone]);
      await remove(org, 'contact', gone!);
      // As if hours went by: the removal is old enough to be pruned by the next delete (of anyone's row).
      await harness.db.query("UPDATE ai_embedding_removals SET removed_at = removed_at - interval '3 hours' WHERE item_id = $1", [gone]);
      const [elsewhere, item] = [randomUUID(), randomUUID()];
      await put(elsewhere, 'contact', item, 'whatever');
      await remove(elsewhere, 'contact', item);
      const { rows } = await harness.db.query('SELECT count(*)::int AS n FROM ai_embedding_removals WHERE item_id = $1', [gone]);
      expect(rows[0].n).to.equal(0);
      expect((await search()).map((match) => match.itemId)).to.deep.equal([keep]);
    });

    // Last: it empties the table (other tests' rows included) as a projection reset does.
    it('answers nothing after the table was truncated (a projection reset), then what is written anew', async () => {
      const org = randomUUID();
      const [item] = ids(1);
      await put(org, 'contact', item!, 'before the reset');
      await index.store([vectorOf(org, 'contact', item!, 'before the reset', 'm1', [1, 0])]);
      const search = () => index.search({ organizationId: org, kind: 'contact', model: 'm1', vector: [1, 0], limit: 10 });
      expect((await search()).map((match) => match.itemId)).to.deep.equal([item]);
      await harness.db.query('TRUNCATE ai_embeddings');
      expect(await search()).to.deep.equal([]);
      expect(await index.coverage(org, 'contact', 'm1')).to.deep.equal({ items: 0, embedded: 0 });
      await put(org, 'contact', item!, 'after the reset');
      await index.store([vectorOf(org, 'contact', item!, 'after the reset', 'm1', [0, 1])]);
      const found = await search();
      expect(found.map((match) => match.itemId)).to.deep.equal([item]);
      expect(found[0]!.score).to.be.closeTo(0, 1e-7);
    });
  });
}
