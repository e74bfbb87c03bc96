import { createClient } from '@clickhouse/client';

/** The real ClickHouse every dev machine and CI runs (scripts/clickhouse.sh). */
export const CLICKHOUSE_URL = process.env.TEST_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';

/** Unreachable is a failure with instructions, never a skip. */
export async function reachableClickHouse(): Promise<void> {
  const client = createClient({ url: CLICKHOUSE_URL });
  try {
    const ping = await client.ping();
    if (!ping.success) throw ping.error;
  } catch (err) {
    throw new Error(
      `ClickHouse is not reachable at ${CLICKHOUSE_URL} (${(err as Error).message}). Start it with \`scripts/clickhouse.sh start\` or set TEST_CLICKHOUSE_URL.`,
    );
  } finally {
    await client.close();
  }
}
