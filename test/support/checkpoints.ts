import type pg from 'pg';
import { eventually } from './events.ts';

/**
 * Resolves once projection `name` has handled the log up to `position` (a PostgreSQL store's position), as
 * its stored checkpoint says. For a reactor this proves more than time passing: it appends what an event
 * makes it do BEFORE its checkpoint moves past that event, so every effect of the events up to `position` is
 * in the log by then. (A checkpoint moved over events of other types only is stored within a second.)
 */
export async function handledUpTo(pool: pg.Pool, name: string, position: string, timeoutMs = 10_000): Promise<void> {
  await eventually(
    async () =>
      (await pool.query<{ position: string | null }>('SELECT position FROM projection_checkpoints WHERE name = $1', [name])).rows[0]?.position ??
      null,
    (stored) => stored !== null && BigInt(stored) >= BigInt(position),
    timeoutMs,
  );
}
