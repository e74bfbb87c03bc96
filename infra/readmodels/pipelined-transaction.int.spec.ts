import type { EntityManager } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { COPY_FROM_ROWS, copyRows, executeBound, onPlainConnection, writeBound } from './orm.ts';
import { PipelinedTransaction } from './pipelined-transaction.ts';

describe('A pipelined read-model transaction: statements sent without waiting, all or nothing, the cause of a failure reported', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let client: pg.Client;
  // The entity manager only keys the plain connection here: no ORM call runs on it.
  const em = (transaction: PipelinedTransaction) => onPlainConnection({} as EntityManager, transaction, { server: true });
  const labels = async () => (await client.query<{ label: string }>('SELECT label FROM t ORDER BY id')).rows.map((row) => row.label);

  before(async () => {
    database = await createTestDatabase('nf_pipelined');
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('CREATE TABLE t (id integer PRIMARY KEY, label text NOT NULL)');
  });
  after(async () => {
    await client?.end();
    await database?.drop();
  });
  beforeEach(() => client.query('TRUNCATE t'));

  it('commits what was sent, in order; a read sees the writes sent before it; answers come back to whoever asked', async () => {
    const transaction = PipelinedTransaction.begin(client);
    const work = em(transaction);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [1, 'one']);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [2, 'two']);
    const [seen, counted] = await Promise.all([
      executeBound<{ label: string }>(work, 'SELECT label FROM t WHERE id = ?', [2]),
      executeBound<{ n: number }>(work, 'SELECT count(*)::int AS n FROM t', []),
    ]);
    await writeBound(work, 'UPDATE t SET label = ? WHERE id = ?', ['uno', 1]);
    await transaction.commit();
    expect(seen).to.deep.equal([{ label: 'two' }]);
    expect(counted).to.deep.equal([{ n: 2 }]);
    expect(await labels()).to.deep.equal(['uno', 'two']);
    // The connection is back to one statement at a time, in no transaction.
    expect((await client.query('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);
    expect((client as unknown as { pipeline: boolean }).pipeline).to.equal(false);
  });

  it('a write that fails fails the commit with its own error (not the aborted statements behind it), and nothing is stored', async () => {
    const transaction = PipelinedTransaction.begin(client);
    const work = em(transaction);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [1, 'one']);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [1, 'duplicate']);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [3, 'three']);
    const failure = await transaction.commit().then(
      () => null,
      (err: unknown) => err as { code?: string },
    );
    expect(failure?.code, 'unique_violation').to.equal('23505');
    expect(await labels()).to.deep.equal([]);
    expect((await client.query('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);
  });

  it('when the caller’s own code fails midway, the rollback names the statement that failed before it', async () => {
    const transaction = PipelinedTransaction.begin(client);
    const work = em(transaction);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [1, null]);
    // The read behind it fails too ("current transaction is aborted"), and the caller's code stops there.
    const echo = await executeBound(work, 'SELECT label FROM t', []).then(
      () => null,
      (err: unknown) => err as { code?: string },
    );
    expect(echo?.code).to.equal('25P02');
    const cause = (await transaction.rollbackWithCause()) as { code?: string };
    expect(cause.code, 'not_null_violation').to.equal('23502');
    expect(await labels()).to.deep.equal([]);
  });

  it('refuses a value the driver could fail to encode before anything of its statement is sent (a COMMIT behind it would commit the rest)', async () => {
    const transaction = PipelinedTransaction.begin(client);
    const work = em(transaction);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [1, 'one']);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    const refused = await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [2, loop]).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(TypeError);
    // Arrays of plain values are fine (the driver writes them as array literals).
    expect(await executeBound<{ n: number }>(work, 'SELECT cardinality(?::text[]) AS n', [['a', 'b', null]])).to.deep.equal([{ n: 3 }]);
    expect(await transaction.rollbackWithCause()).to.equal(undefined);
    expect(await labels()).to.deep.equal([]);
  });

  it('a rollback of a transaction nothing failed in stores nothing, and takes no COPY meanwhile', async () => {
    const transaction = PipelinedTransaction.begin(client);
    const work = em(transaction);
    await writeBound(work, 'INSERT INTO t VALUES (?, ?)', [1, 'one']);
    const rows = Array.from({ length: COPY_FROM_ROWS }, (_, id) => [id + 10, 'copied']);
    expect(await copyRows(work, 't', ['id', 'label'], rows), 'declined: the caller inserts as usual').to.equal(false);
    expect(await transaction.rollbackWithCause()).to.equal(undefined);
    expect(await labels()).to.deep.equal([]);
  });
});
