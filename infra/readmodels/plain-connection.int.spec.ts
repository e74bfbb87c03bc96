import type { EntityManager } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import type { CopyValue } from '../postgres/copy-format.ts';
import { COPY_FROM_ROWS, copyRows, executeBound, onPlainConnection } from './orm.ts';

describe('A plain connection of the read models: COPY for large batches, statements prepared by name on a server', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let client: pg.Client;
  // The entity manager only keys the plain connection here: copyRows runs no ORM call on it.
  const em = () => ({}) as EntityManager;

  before(async () => {
    database = await createTestDatabase('nf_copy_rows');
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('CREATE TABLE t (id integer PRIMARY KEY, label text, at timestamptz, tags text[], doc jsonb)');
  });
  after(async () => {
    await client?.end();
    await database?.drop();
  });
  beforeEach(() => client.query('TRUNCATE t'));

  it('stores every value as given: nulls, tabs, newlines, backslashes, COPY markers, quotes, arrays and JSON', async () => {
    const labels = ['plain', 'tab\there', 'new\nline', 'return\r', 'back\\slash', '\\N', '\\.', '"quoted", {braces}', 'NULL', 'é ✓ 🚀', ''];
    const rows: CopyValue[][] = labels.map((label, i) => [
      i,
      label,
      new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
      `{"a\\\\b","c d",${label ? 'x' : 'y'}}`,
      JSON.stringify({ label }),
    ]);
    rows.push([labels.length, null, null, null, null]);
    // A batch large enough to go by COPY (smaller ones are declined: see the last case).
    for (let id = rows.length; id < COPY_FROM_ROWS; id++) rows.push([id, 'filler', null, null, null]);
    await client.query('BEGIN');
    expect(await copyRows(onPlainConnection(em(), client, { server: true }), 't', ['id', 'label', 'at', 'tags', 'doc'], rows)).to.equal(true);
    await client.query('COMMIT');
    const { rows: stored } = await client.query<{
      id: number;
      label: string | null;
      at: Date | null;
      tags: string[] | null;
      doc: { label: string } | null;
    }>('SELECT * FROM t WHERE id <= $1 ORDER BY id', [labels.length]);
    expect(stored.map((row) => row.label)).to.deep.equal([...labels, null]);
    expect(stored.map((row) => row.doc?.label ?? null)).to.deep.equal([...labels, null]);
    expect(stored[1]!.at!.toISOString()).to.equal('2026-01-01T00:01:00.000Z');
    expect(stored[0]!.tags).to.deep.equal(['a\\b', 'c d', 'x']);
    expect(stored[labels.length]!.at).to.equal(null);
  });

  it('stores a batch of many chunks whole and in order, escapes and multi-byte characters on every side of a chunk’s edge', async () => {
    // ~2 MB of rows: far more than one chunk of what goes to the connection at a time (about 64 KiB).
    const labelOf = (id: number) => `${'x'.repeat(id % 97)}\t${'é✓'.repeat(id % 13)}\\\n🚀${'"'.repeat(id % 3)}${id}`;
    const rows: CopyValue[][] = Array.from({ length: 12_000 }, (_, id) => [
      id,
      labelOf(id),
      null,
      `{"${id}"}`,
      JSON.stringify({ id, label: labelOf(id) }),
    ]);
    await client.query('BEGIN');
    expect(await copyRows(onPlainConnection(em(), client, { server: true }), 't', ['id', 'label', 'at', 'tags', 'doc'], rows)).to.equal(true);
    await client.query('COMMIT');
    const { rows: stored } = await client.query<{ id: number; label: string; tags: string[]; doc: { id: number; label: string } }>(
      'SELECT id, label, tags, doc FROM t ORDER BY id',
    );
    expect(stored.length).to.equal(rows.length);
    const wrong = stored.filter(
      (row, i) => row.id !== i || row.label !== labelOf(i) || row.tags[0] !== String(i) || row.doc.id !== i || row.doc.label !== labelOf(i),
    );
    expect(wrong).to.deep.equal([]);
  });

  const many = (label: string): CopyValue[][] => Array.from({ length: COPY_FROM_ROWS }, (_, id) => [id, label]);

  it('writes inside the caller’s transaction: a rollback leaves nothing', async () => {
    await client.query('BEGIN');
    expect(await copyRows(onPlainConnection(em(), client, { server: true }), 't', ['id', 'label'], many('gone'))).to.equal(true);
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS n FROM t')).rows[0].n).to.equal(0);
  });

  it('declines (answers false, writes nothing) a small batch, and where the connection may not COPY or is not a plain one', async () => {
    expect(await copyRows(onPlainConnection(em(), client, { server: true }), 't', ['id', 'label'], many('x').slice(1))).to.equal(false);
    expect(await copyRows(onPlainConnection(em(), client), 't', ['id', 'label'], many('x'))).to.equal(false);
    expect(await copyRows(em(), 't', ['id', 'label'], many('x'))).to.equal(false);
    expect((await client.query('SELECT count(*)::int AS n FROM t')).rows[0].n).to.equal(0);
  });

  it('fails the statement on a row the table refuses, like an INSERT would', async () => {
    await client.query('BEGIN');
    const failure = await copyRows(onPlainConnection(em(), client, { server: true }), 't', ['id', 'label'], [...many('a'), [1, 'duplicate']]).catch(
      (err: Error) => err,
    );
    await client.query('ROLLBACK');
    expect(failure).to.be.instanceOf(Error);
    expect((failure as pg.DatabaseError).code).to.equal('23505');
  });

  it('prepares a statement once per connection by name on a server, and none as on the embedded database', async () => {
    const prepared = async () =>
      (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'nf_rm_%'")).rows[0]!.n;
    const before = await prepared();
    const insert = 'INSERT INTO t (id, label) SELECT id, label FROM json_to_recordset(?::json) AS r(id integer, label text)';
    await executeBound(onPlainConnection(em(), client), insert, [JSON.stringify([{ id: 1, label: 'plain' }])]);
    expect(await prepared()).to.equal(before);
    for (const id of [2, 3])
      await executeBound(onPlainConnection(em(), client, { server: true }), insert, [JSON.stringify([{ id, label: 'named' }])]);
    const rows = await executeBound<{ id: number }>(
      onPlainConnection(em(), client, { server: true }),
      'SELECT id FROM t WHERE label = ? ORDER BY id',
      ['named'],
    );
    expect(rows.map((row) => row.id)).to.deep.equal([2, 3]);
    expect(await prepared()).to.equal(before + 2);
  });
});
