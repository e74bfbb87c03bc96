import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import type { StoredVector } from '../../command-api/ai/ports.ts';
import { readModelEntities } from '../../projectors/read-models.ts';
import { createTestDatabase } from '../../test/support/postgres.ts';
import { silentLogger } from '../../test/support/stores.ts';
import { EmbeddedPostgres } from '../postgres/embedded-postgres.ts';
import { migrateReadModels, openReadModels } from '../readmodels/orm.ts';
import { bruteForce, expectSameMatches, randomVector, seeded, textHash, vectorIndexContract } from './vector-index.contract.ts';
import { PgVectorIndex, ScanVectorIndex, vectorIndexFor, type ScanVectorIndexOptions } from './vector-index.ts';

/** The read models of a fresh database, migrated as a process does; `stop` ends what was opened. */
async function readModels(url: string) {
  const orm = await openReadModels({ url, entities: readModelEntities, poolSize: 4, logger: silentLogger });
  await migrateReadModels(orm);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  return {
    orm,
    pool,
    async stop() {
      await pool.end();
      await orm.close();
    },
  };
}

async function onServer() {
  const database = await createTestDatabase('nf_vectors');
  const models = await readModels(database.url);
  return {
    ...models,
    async close() {
      await models.stop();
      await database.drop();
    },
  };
}

async function embedded() {
  const database = await EmbeddedPostgres.start('memory://', silentLogger, 64, { vector: true });
  const models = await readModels(database.url);
  return {
    ...models,
    async close() {
      await models.stop();
      await database.stop();
    },
  };
}

const scanOnServer = (options: ScanVectorIndexOptions) => async () => {
  const db = await onServer();
  // Built on the ORM, as the read models' binding gives it.
  return { index: new ScanVectorIndex(db.orm, options), db: db.pool, close: db.close };
};

vectorIndexContract('scan, PostgreSQL server (no pgvector)', scanOnServer({}));
vectorIndexContract('scan, PostgreSQL server, a 48 KiB cache (evictions, tenants streamed)', scanOnServer({ cacheBytes: 48 * 1024, pageRows: 64 }));
vectorIndexContract('scan, embedded PostgreSQL (PGlite)', async () => {
  const db = await embedded();
  return { index: new ScanVectorIndex(db.pool), db: db.pool, close: db.close };
});
vectorIndexContract('pgvector, embedded PostgreSQL (PGlite)', async () => {
  const db = await embedded();
  return { index: new PgVectorIndex(db.orm), db: db.pool, close: db.close };
});

describe('vector index engines', function () {
  this.timeout(60_000);

  it('are chosen by what the database has: pgvector on the embedded database, the scan on a server without it', async () => {
    const server = await onServer();
    const local = await embedded();
    try {
      expect((await vectorIndexFor(server.orm)).engine).to.equal('scan');
      expect((await vectorIndexFor(server.pool)).engine).to.equal('scan');
      expect((await vectorIndexFor(local.orm)).engine).to.equal('pgvector');
      const { rows } = await local.pool.query("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
      expect(rows).to.have.length(1);
    } finally {
      await server.close();
      await local.close();
    }
  });

  it('answer alike over the same data (pgvector and the scan on one embedded database)', async () => {
    const local = await embedded();
    try {
      const pgvector = new PgVectorIndex(local.pool);
      const scan = new ScanVectorIndex(local.orm);
      const random = seeded(5);
      const orgs = [randomUUID(), randomUUID()];
      const held = new Map(orgs.map((org) => [org, new Map<string, number[]>()]));
      const writes: StoredVector[] = [];
      for (let i = 0; i < 800; i++) {
        const org = orgs[i % 2]!;
        const itemId = randomUUID();
        const vector = randomVector(random, 32);
        await local.pool.query('INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash) VALUES ($1, $2, $3, $4, $5)', [
          org,
          'contact',
          itemId,
          `row ${i}`,
          textHash(`row ${i}`),
        ]);
        writes.push({ organizationId: org, kind: 'contact', itemId, textHash: textHash(`row ${i}`), model: 'm1', vector });
        held.get(org)!.set(itemId, vector);
      }
      // Half stored by each engine: either writes both columns.
      expect(await pgvector.store(writes.slice(0, 400))).to.equal(400);
      expect(await scan.store(writes.slice(400))).to.equal(400);
      for (let q = 0; q < 20; q++) {
        const org = orgs[q % 2]!;
        const query = { organizationId: org, kind: 'contact', model: 'm1', vector: randomVector(random, 32), limit: [1, 10, 100, 500][q % 4]! };
        const [byPgvector, byScan] = await Promise.all([pgvector.search(query), scan.search(query)]);
        const exact = bruteForce(held.get(org)!, query.vector, query.limit);
        expectSameMatches(byPgvector, exact, `pgvector, query ${q}`);
        expectSameMatches(byScan, exact, `scan, query ${q}`);
      }
    } finally {
      await local.close();
    }
  });

  it('scan: keeps searched tenants within its byte budget, dropping the least recently searched', async () => {
    const server = await onServer();
    try {
      const random = seeded(11);
      // 50 vectors of 64 dimensions: about 21 KB per tenant with ids; the budget holds two.
      const scan = new ScanVectorIndex(server.pool, { cacheBytes: 48 * 1024 });
      const orgs = [randomUUID(), randomUUID(), randomUUID()];
      const held = new Map<string, Map<string, number[]>>();
      for (const org of orgs) {
        const rows = new Map<string, number[]>();
        const writes: StoredVector[] = [];
        for (let i = 0; i < 50; i++) {
          const itemId = randomUUID();
          rows.set(itemId, randomVector(random, 64));
          await server.pool.query('INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash) VALUES ($1, $2, $3, $4, $5)', [
            org,
            'contact',
            itemId,
            `row ${i}`,
            textHash(`row ${i}`),
          ]);
          writes.push({ organizationId: org, kind: 'contact', itemId, textHash: textHash(`row ${i}`), model: 'm1', vector: rows.get(itemId)! });
        }
        await scan.store(writes);
        held.set(org, rows);
      }
      for (const round of [0, 1, 2]) {
        for (const org of orgs) {
          const vector = randomVector(random, 64);
          const found = await scan.search({ organizationId: org, kind: 'contact', model: 'm1', vector, limit: 5 });
          expectSameMatches(found, bruteForce(held.get(org)!, vector, 5), `round ${round}`);
          expect(scan.cacheBytes)
            .to.be.greaterThan(0)
            .and.at.most(48 * 1024);
        }
      }
      // A budget below one tenant: searched from the database every time, nothing kept.
      const small = new ScanVectorIndex(server.pool, { cacheBytes: 4 * 1024, pageRows: 7 });
      for (const org of orgs) {
        const vector = randomVector(random, 64);
        expectSameMatches(
          await small.search({ organizationId: org, kind: 'contact', model: 'm1', vector, limit: 9 }),
          bruteForce(held.get(org)!, vector, 9),
        );
        expectSameMatches(
          await small.search({ organizationId: org, kind: 'contact', model: 'm1', vector, limit: 9 }),
          bruteForce(held.get(org)!, vector, 9),
        );
      }
      expect(small.cacheBytes).to.equal(0);
    } finally {
      await server.close();
    }
  });
});
