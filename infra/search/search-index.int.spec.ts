import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase } from '../../test/support/postgres.ts';
import { silentLogger } from '../../test/support/stores.ts';
import { EmbeddedPostgres } from '../postgres/embedded-postgres.ts';
import { ElasticsearchSearchIndex } from './elasticsearch-search-index.ts';
import { PostgresSearchIndex } from './postgres-search-index.ts';
import { searchIndexContract } from './search-index.contract.ts';

searchIndexContract('PostgreSQL server (term dictionary + GIN)', async (served) => {
  const database = await createTestDatabase('nf_search');
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  await PostgresSearchIndex.migrate(pool);
  return {
    index: new PostgresSearchIndex(pool, served),
    async close() {
      await pool.end();
      await database.drop();
    },
  };
});

searchIndexContract('embedded PostgreSQL (PGlite, the default without servers)', async (served) => {
  const database = await EmbeddedPostgres.start('memory://', silentLogger);
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  await PostgresSearchIndex.migrate(pool);
  return {
    index: new PostgresSearchIndex(pool, served),
    async close() {
      await pool.end();
      await database.stop();
    },
  };
});

const elasticsearchUrl = process.env.ELASTICSEARCH_URL;
if (elasticsearchUrl) {
  searchIndexContract(`Elasticsearch at ${elasticsearchUrl.replace(/\/\/[^@]*@/, '//***@')}`, async (served) => {
    // Indexes of this run only (a random prefix), written with refresh=wait_for so reads see them at once.
    const prefix = `nf-test-${randomBytes(4).toString('hex')}-`;
    const index = new ElasticsearchSearchIndex(elasticsearchUrl, prefix, 'wait_for', served);
    await index.ensureIndexes();
    return {
      index,
      async close() {
        for (let generation = 1; generation <= served(); generation++) await index.dropGeneration(generation);
        await index.close();
      },
    };
  });
} else {
  describe.skip('search index contract: Elasticsearch — skipped: ELASTICSEARCH_URL is not set (Elasticsearch cannot run on this machine)', () => {
    it('runs the whole contract against Elasticsearch', () => undefined);
  });
}
