import { MikroORM, type EntityManager, type EntitySchema } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { writeCopyRows, type CopyValue } from '../postgres/copy-format.ts';
import { readModelMigrations } from './migrations/index.ts';
import { PipelinedTransaction } from './pipelined-transaction.ts';

const MIGRATION_LOCK = 7_240_002;

/**
 * MikroORM over the read-model database. The global EntityManager is off limits (allowGlobalContext false):
 * every unit of work forks its own, so one request or batch never sees another's identity map.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- every read model's entity, each of its own type
export async function openReadModels(options: { url: string; entities: EntitySchema<any>[]; poolSize: number; logger: Logger }): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: options.url,
    entities: options.entities,
    pool: { min: 0, max: options.poolSize },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    extensions: [Migrator],
    migrations: { migrationsList: readModelMigrations, snapshot: false, transactional: true, allOrNothing: true },
    discovery: { warnWhenNoEntities: false },
    logger: (message) => options.logger.debug({ orm: message }),
    // knex's own warnings ("Connection Error: ..." when the server drops a connection) as structured logs,
    // not bare console lines.
    driverOptions: {
      log: {
        warn: (message: unknown) => options.logger.warn({ knex: String(message) }, 'database driver warning'),
        error: (message: unknown) => options.logger.error({ knex: String(message) }, 'database driver error'),
        deprecate: (message: unknown) => options.logger.debug({ knex: String(message) }, 'database driver deprecation'),
        debug: (message: unknown) => options.logger.debug({ knex: String(message) }),
      },
    },
    debug: false,
  });
}

/** Brings the read-model schema up to date; several processes may start at once, so one at a time. */
export async function migrateReadModels(orm: MikroORM): Promise<void> {
  const connection = orm.em.getConnection();
  const knex = connection.getKnex();
  // A session-level advisory lock held on a dedicated connection while the migrator works on its own.
  const lockClient = await knex.client.acquireConnection();
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await orm.getMigrator().up();
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await knex.client.releaseConnection(lockClient);
  }
}

/** A database connection as the driver (node-postgres) gives it: what a plain transaction runs on. */
export interface PlainConnection {
  query<R extends object>(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: R[] }>;
  /** A submittable such as pg-copy-streams' COPY stream (copyRows). */
  query<S extends pg.Submittable>(submittable: S): S;
}

/** Entity managers standing for a transaction on a plain connection (see onPlainConnection). */
const plainConnections = new WeakMap<EntityManager, { connection: PlainConnection; server: boolean }>();

/**
 * `em`, made to run executeBound on `connection` (inside whatever transaction the caller opened there) instead
 * of through the ORM's query builder. For work that only runs SQL through executeBound (and copyRows): the
 * ORM's own calls on `em` (find, flush) would not run on that connection. `server`: the connection is to a
 * PostgreSQL server, not the embedded database: executeBound then prepares each statement by name (once per
 * connection: measured here, interleaved, an audit batch of one row 193 → 153 µs of server CPU, of five
 * 407 → 213 µs; the statement was parsed and planned at every batch) and copyRows may COPY. The embedded
 * database's socket server takes no COPY, and its connections share one session, where a name one prepared
 * already exists for the next.
 */
export function onPlainConnection(em: EntityManager, connection: PlainConnection, options: { server?: boolean } = {}): EntityManager {
  plainConnections.set(em, { connection, server: options.server ?? false });
  return em;
}

/**
 * Runs SQL with real bound parameters (`?` placeholders), inside `em`'s transaction when it has one. `em.execute`
 * inlines every parameter into the SQL text, escaping it character by character in JavaScript: fine for a few
 * small values, but a batch sent as one large JSON parameter spent more time being escaped than being inserted.
 */
export async function executeBound<T = unknown>(em: EntityManager, sql: string, bindings: unknown[]): Promise<T[]> {
  const plain = plainConnections.get(em);
  if (plain) return (await plain.connection.query<T & object>(statementFor(plain, sql, bindings))).rows;
  const knex = em.getConnection().getKnex();
  const query = knex.raw(sql, bindings as never[]);
  const trx = em.getTransactionContext();
  if (trx) query.transacting(trx);
  const result = (await query) as { rows?: T[] };
  return result.rows ?? [];
}

/**
 * A statement whose rows nobody reads (an insert, an update, a delete): on a pipelined transaction (see
 * PipelinedTransaction) it goes out with whatever follows it, COMMIT included, without waiting for its answer,
 * and its failure fails the commit; elsewhere it runs as executeBound. A projection's last write of a batch is
 * then in the same round trip as the commit.
 */
export async function writeBound(em: EntityManager, sql: string, bindings: unknown[]): Promise<void> {
  const plain = plainConnections.get(em);
  if (plain?.connection instanceof PipelinedTransaction) {
    plain.connection.send(statementFor(plain, sql, bindings));
    return;
  }
  await executeBound(em, sql, bindings);
}

/**
 * From this many rows a read model's batch is worth loading by COPY (copyRows). Measured here, interleaved on
 * one connection against one INSERT unpacking a JSON parameter into the audit log: ~20 % less server CPU per
 * row in batches of 1,000. But COPY waits for the server's go-ahead before the rows go (a second round trip),
 * and with the machine saturated that wait cost more than it saved on a live projection's small batches
 * (visibility lag p99 at 500 commands/s 185–257 → 374–613 ms with COPY at every size): it is for catch-ups
 * and the large batches after a burst.
 */
export const COPY_FROM_ROWS = 250;

/**
 * Rows into `table` with COPY (the server's bulk load), inside the transaction of `em`'s plain connection.
 * For a large batch (COPY_FROM_ROWS): the server reads COPY's text format at a fraction of what unpacking one
 * JSON parameter costs per row (json_to_recordset, measured here: ~6 µs of a 20–24 µs row), at the price of a
 * second round trip. Answers false, having written nothing, when the batch is smaller or `em` is not on a
 * plain connection to a server (onPlainConnection's `server`; the embedded database's socket server takes no
 * COPY FROM STDIN): the caller inserts as usual.
 */
export async function copyRows(
  em: EntityManager,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly CopyValue[])[],
): Promise<boolean> {
  if (!canCopy(em) || rows.length < COPY_FROM_ROWS) return false;
  const copy = plainConnections.get(em)!.connection.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  const done = finished(copy);
  writeCopyRows(copy, rows);
  await done;
  return true;
}

/**
 * Whether copyRows may COPY on `em` (a batch large enough aside): a plain connection to a server that is not a
 * pipelined transaction (which takes no COPY; its batches are smaller than COPY_FROM_ROWS anyway). For a
 * caller that reads something first only when it will COPY.
 */
export function canCopy(em: EntityManager): boolean {
  const plain = plainConnections.get(em);
  return plain !== undefined && plain.server && !(plain.connection instanceof PipelinedTransaction);
}

/**
 * An array parameter as PostgreSQL's array literal, every element quoted. Sent as one text value, so it
 * binds the same through the plain connection and through the ORM's query builder (which would spread a
 * JavaScript array into a list of placeholders).
 */
export function pgArray(values: readonly string[]): string {
  // Built by appending, each element escaped only where it needs it: a quarter of the cost of a template per
  // element (these arrays carry a batch's thousands of ids).
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    literal += (i === 0 ? '"' : ',"') + (ARRAY_SPECIAL.test(value) ? value.replace(ARRAY_SPECIALS, '\\$&') : value) + '"';
  }
  return literal + '}';
}
const ARRAY_SPECIAL = /["\\]/;
const ARRAY_SPECIALS = /["\\]/g;

/** `sql` for the driver: prepared by name on a server (see onPlainConnection). */
function statementFor(plain: { server: boolean }, sql: string, bindings: unknown[]): { name?: string; text: string; values: unknown[] } {
  const { text, name } = numberedPlaceholders(sql);
  return plain.server ? { name, text, values: bindings } : { text, values: bindings };
}

const numbered = new Map<string, { text: string; name: string }>();

/**
 * `?` placeholders as the driver's `$1, $2…` (those in quoted strings and identifiers left alone), and the
 * name the statement is prepared under (from its text: one text, one name). The texts are a few fixed
 * statements: each is converted once.
 */
function numberedPlaceholders(sql: string): { text: string; name: string } {
  let statement = numbered.get(sql);
  if (statement === undefined) {
    let n = 0;
    const text = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (match) => (match === '?' ? `$${++n}` : match));
    statement = { text, name: `nf_rm_${createHash('sha1').update(text).digest('hex').slice(0, 24)}` };
    if (numbered.size > 1_000) numbered.clear();
    numbered.set(sql, statement);
  }
  return statement;
}
