import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import { EmbeddedPostgres } from './embedded-postgres.ts';

const logger = pino({ level: 'silent' });

describe('embedded PostgreSQL (PGlite behind a socket)', function () {
  this.timeout(60_000);

  it('answers many concurrent parameterised queries and transactions from several connections correctly', async () => {
    const database = await EmbeddedPostgres.start('memory://', logger);
    const pools = [1, 2, 3].map(() => new pg.Pool({ connectionString: database.url, max: 6 }));
    try {
      await pools[0]!.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
      const work = pools.flatMap((pool, p) =>
        Array.from({ length: 60 }, async (_, i) => {
          const id = p * 1000 + i;
          if (i % 3 === 0) {
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              await client.query('INSERT INTO t (id, v) VALUES ($1, $2)', [id, `tx-${id}`]);
              const { rows } = await client.query('SELECT v FROM t WHERE id = $1', [id]);
              expect(rows[0].v).to.equal(`tx-${id}`);
              await client.query('COMMIT');
            } finally {
              client.release();
            }
          } else {
            await pool.query('INSERT INTO t (id, v) VALUES ($1, $2)', [id, `q-${id}`]);
            const { rows } = await pool.query('SELECT v FROM t WHERE id = $1', [id]);
            expect(rows[0].v).to.equal(`q-${id}`);
          }
        }),
      );
      await Promise.all(work);
      const { rows } = await pools[1]!.query('SELECT count(*)::int AS n FROM t');
      expect(rows[0].n).to.equal(180);
      // An error in one connection's query does not wedge the others.
      const failed = await pools[2]!.query('SELECT * FROM missing_table WHERE id = $1', [1]).catch((e: Error) => e);
      expect(failed).to.be.instanceOf(Error);
      expect((await pools[0]!.query('SELECT $1::int AS one', [1])).rows[0].one).to.equal(1);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
      await database.stop();
    }
  });

  it('keeps data across restarts and refuses a second process on the same directory', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nf-embedded-'));
    try {
      const first = await EmbeddedPostgres.start(dir, logger);
      const pool = new pg.Pool({ connectionString: first.url, max: 2 });
      await pool.query('CREATE TABLE kept (v text)');
      await pool.query("INSERT INTO kept VALUES ('still here')");
      await pool.end();

      const second = await EmbeddedPostgres.start(dir, logger).catch((e: Error) => e);
      expect(second).to.be.instanceOf(Error);
      expect((second as Error).message).to.match(/in use by another NexusFlow process/);

      await first.stop();
      const reopened = await EmbeddedPostgres.start(dir, logger);
      const again = new pg.Pool({ connectionString: reopened.url, max: 2 });
      expect((await again.query('SELECT v FROM kept')).rows).to.deep.equal([{ v: 'still here' }]);
      await again.end();
      await reopened.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
