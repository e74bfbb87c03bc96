import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The real PostgreSQL server tests run against (CI and every dev machine have one). */
export const SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A fresh database per suite, so suites never see each other's events. A server that cannot be reached
 * is a failure with instructions, never a silent skip.
 */
export async function createTestDatabase(prefix = 'nf_test'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${SERVER_URL} (${(err as Error).message}). ` +
        'Start it (see README, "Running the tests") or set TEST_DATABASE_URL.',
    );
  }
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: SERVER_URL });
      await client.connect();
      try {
        // pg's Pool.end() resolves before its connections have closed: wait (briefly) for them to go, so
        // that FORCE does not kill a closing connection and make its client throw an uncaught error.
        const deadline = Date.now() + 2_000;
        for (;;) {
          const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if (rows[0]!.n === 0 || Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
