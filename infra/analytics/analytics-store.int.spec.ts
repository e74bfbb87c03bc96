import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { expect } from 'chai';
import pg from 'pg';
import { CLICKHOUSE_URL, reachableClickHouse } from '../../test/support/clickhouse.ts';
import { createTestDatabase } from '../../test/support/postgres.ts';
import { silentLogger } from '../../test/support/stores.ts';
import { EmbeddedPostgres } from '../postgres/embedded-postgres.ts';
import { analyticsStoreContract } from './analytics-store.contract.ts';
import { ClickHouseAnalytics } from './clickhouse-analytics.ts';
import { ident, sql } from './clickhouse-sql.ts';
import { PostgresAnalytics } from './postgres-analytics.ts';

analyticsStoreContract('PostgreSQL server', async (served) => {
  const database = await createTestDatabase('nf_analytics');
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  const store = new PostgresAnalytics(pool, served);
  await store.migrate();
  return {
    store,
    async close() {
      await pool.end();
      await database.drop();
    },
  };
});

analyticsStoreContract('embedded PostgreSQL (PGlite, the default without servers)', async (served) => {
  const database = await EmbeddedPostgres.start('memory://', silentLogger);
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  const store = new PostgresAnalytics(pool, served);
  await store.migrate();
  return {
    store,
    async close() {
      await pool.end();
      await database.stop();
    },
  };
});

const testDatabase = () => `nf_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

analyticsStoreContract(`ClickHouse at ${CLICKHOUSE_URL}`, async (served) => {
  await reachableClickHouse();
  const database = testDatabase();
  const store = new ClickHouseAnalytics(CLICKHOUSE_URL, database, served);
  await store.migrate();
  return {
    store,
    async close() {
      const admin = createClient({ url: CLICKHOUSE_URL });
      await admin.command({ query: sql`DROP DATABASE IF EXISTS ${ident(database)}`.text });
      await admin.close();
      await store.close();
    },
  };
});

describe('ClickHouse SQL values against a real server: injection attempts stay values', function () {
  this.timeout(30_000);
  const client = createClient({ url: CLICKHOUSE_URL, clickhouse_settings: { wait_end_of_query: 1 } });
  const database = testDatabase();
  const table = sql`${ident(database)}.${ident('facts')}`;
  const nasty = [
    "x' OR '1'='1",
    "x'; DROP TABLE facts; --",
    'back\\slash',
    "\\' OR 1=1 --",
    'trailing backslash \\',
    'new\nline and\r\ttabs',
    'null\0byte',
    '`backtick` "double"',
    '雪 ☃ 🙂',
    "/* comment */ ' UNION ALL SELECT 1 --",
  ];

  before(async () => {
    await reachableClickHouse();
    await client.command({ query: sql`CREATE DATABASE IF NOT EXISTS ${ident(database)}`.text });
    await client.command({ query: sql`CREATE TABLE ${table} (tenant_id String, n UInt64) ENGINE = MergeTree() ORDER BY tenant_id`.text });
    await client.insert({
      table: table.text,
      values: [{ tenant_id: 'a', n: 1 }, { tenant_id: 'b', n: 2 }, ...nasty.map((t, i) => ({ tenant_id: t, n: 100 + i }))],
      format: 'JSONEachRow',
    });
  });
  after(async () => {
    await client.command({ query: sql`DROP DATABASE IF EXISTS ${ident(database)}`.text });
    await client.close();
  });

  const select = async (text: string) => await (await client.query({ query: text, format: 'JSONEachRow' })).json<Record<string, string>>();

  it('round-trips every nasty string unchanged as a literal', async () => {
    for (const value of nasty) {
      const [row] = await select(sql`SELECT ${value} AS v`.text);
      expect(row!.v, JSON.stringify(value)).to.equal(value);
    }
  });

  it('matches a nasty tenant id as exactly that tenant, never as SQL', async () => {
    for (const [i, value] of nasty.entries()) {
      const rows = await select(sql`SELECT tenant_id, n FROM ${table} WHERE tenant_id = ${value}`.text);
      expect(rows, JSON.stringify(value)).to.deep.equal([{ tenant_id: value, n: String(100 + i) }]);
    }
    const none = await select(sql`SELECT count() AS c FROM ${table} WHERE tenant_id = ${"nobody' OR tenant_id != '"}`.text);
    expect(none[0]!.c).to.equal('0');
    // The table is still there, with every row.
    expect((await select(sql`SELECT count() AS c FROM ${table}`.text))[0]!.c).to.equal(String(2 + nasty.length));
  });

  it('renders lists, numbers and instants as values', async () => {
    const rows = await select(sql`SELECT tenant_id FROM ${table} WHERE tenant_id IN ${['a', "b' OR '1'='1"]} AND n < ${1e9} ORDER BY tenant_id`.text);
    expect(rows.map((r) => r.tenant_id)).to.deep.equal(['a']);
    const [time] = await select(sql`SELECT toUnixTimestamp(${new Date('2026-11-02T10:00:00.900Z')}) AS t`.text);
    expect(Number(time!.t)).to.equal(Date.parse('2026-11-02T10:00:00Z') / 1000);
  });
});
