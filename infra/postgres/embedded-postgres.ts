import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin';
import { fuzzystrmatch } from '@electric-sql/pglite/contrib/fuzzystrmatch';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import lockfile from 'proper-lockfile';
import type { Logger } from 'pino';

/** Shared buffers of the embedded database (see start). */
const EMBEDDED_SHARED_BUFFERS = '16MB';

/**
 * The zero-setup default: PostgreSQL compiled to WebAssembly (PGlite), served on a loopback socket so the
 * stock `pg` driver and MikroORM use the very same code path as against a real server.
 *
 * What differs from a server (see the embedded-postgres brief): one database session shared by every
 * connection (transactions serialize; never wait on a second connection inside a transaction), no
 * LISTEN/NOTIFY across connections (wake-ups go through an in-process emitter), and nothing stops two
 * processes from opening one directory, so we hold a lock file on it.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    private readonly releaseLock: (() => Promise<void>) | null,
    readonly url: string,
  ) {}

  /**
   * `dataDir` holds the data across restarts; 'memory://' keeps it in memory (tests).
   * `options.vector` opens the database with pgvector (the AI index's contract suite runs its pgvector engine
   * on it). The embedded default does without it: it searches with the exact scan, which is faster there
   * (measured: ~40 ms against ~440 ms over 100,000 vectors), and the extension and its column cost memory.
   */
  static async start(dataDir: string, logger: Logger, maxConnections = 64, options: { vector?: boolean } = {}): Promise<EmbeddedPostgres> {
    const inMemory = dataDir.startsWith('memory://');
    let releaseLock: (() => Promise<void>) | null = null;
    let pgDir = dataDir;
    if (!inMemory) {
      // The data (and the signing secret kept beside it) are the operator's alone: 0700, whatever existed.
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      await chmod(dataDir, 0o700);
      try {
        releaseLock = await lockfile.lock(dataDir, {
          lockfilePath: path.join(dataDir, 'nexusflow.lock'),
          stale: 10_000,
          update: 2_000,
          onCompromised: (err) => {
            logger.fatal({ err, dataDir }, 'lost the lock on the data directory; stopping to protect the data');
            process.kill(process.pid, 'SIGTERM');
          },
        });
      } catch (err) {
        if ((err as { code?: string }).code === 'ELOCKED') {
          throw new Error(
            `The data directory ${path.resolve(dataDir)} is in use by another NexusFlow process ` +
              '(or one stopped less than 10 seconds ago). Stop it or set NEXUSFLOW_DATA_DIR to another directory.',
          );
        }
        throw err;
      }
      pgDir = path.join(dataDir, 'pgdata');
      if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
        // First start: initdb in a process of its own (see initdb.mjs); its memory leaves with it.
        await promisify(execFile)(process.execPath, [fileURLToPath(new URL('./initdb.mjs', import.meta.url)), pgDir]);
      }
    }
    try {
      const started = Date.now();
      // Extensions must be named on every open, or tables indexed with them fail even on a plain SELECT.
      // (pg_trgm: data directories of before the search term dictionary still have trigram indexes. vector:
      // pgvector, only when asked; where it is loaded the read-model migration creates it.)
      const db = await PGlite.create(pgDir, {
        extensions: { pg_trgm, fuzzystrmatch, btree_gin, ...(options.vector ? { vector } : {}) },
        // The embedded database lives in this process's memory (WebAssembly): PostgreSQL's default 128 MB of
        // shared buffers would be most of the process. The operating system caches the data files anyway.
        startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`],
      });
      // PGlite's initdb lays the data directory out with the modes of its in-memory file system (0666); files
      // it creates afterwards follow the process umask. The data is the operator's alone: 0600 and 0700.
      if (!inMemory) await restrictTree(pgDir);
      // Every socket connection shares this one session, so session settings are set once, here.
      await db.exec("SET TIME ZONE 'UTC'");
      const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections });
      keepExtendedQueriesTogether(server);
      await server.start();
      const url = `postgres://postgres@${server.getServerConn()}/postgres`;
      logger.info({ dataDir: inMemory ? dataDir : path.resolve(dataDir), ms: Date.now() - started }, 'embedded PostgreSQL ready');
      return new EmbeddedPostgres(db, server, releaseLock, url);
    } catch (err) {
      await releaseLock?.();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
    await this.releaseLock?.();
  }
}

/** Every file under `dir` 0600, every directory 0700 (symlinks left alone). */
async function restrictTree(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await restrictTree(full);
    else if (entry.isFile()) await chmod(full, 0o600);
  }
}

interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  onData(data: Uint8Array): void;
  resolve(bytes: number): void;
  reject(error: unknown): void;
}

interface QueryQueue {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  db: PGlite;
  processQueue(): Promise<void>;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
}

const STARTUP_PROTOCOL = 196_608;
const SYNC_POINTS = new Set(['S', 'Q', 'X']); // Sync, simple Query, Terminate

/** A message after which the connection expects its answer: another connection may go next. */
function isSyncPoint(message: Uint8Array): boolean {
  if (message.length >= 8 && new DataView(message.buffer, message.byteOffset).getInt32(4) === STARTUP_PROTOCOL) return true;
  return SYNC_POINTS.has(String.fromCharCode(message[0]!));
}

/**
 * pglite-socket 0.2.17 queues protocol messages one at a time across all connections. A parameterised query
 * is several messages (Parse, Bind, Describe, Execute, Sync), so two connections querying at once can
 * interleave them and each destroys the other's unnamed statement ("unnamed prepared statement does not
 * exist", "portal does not exist"). It also stops processing for good after any error (its `processing`
 * flag is never reset). This replaces its queue loop: a connection keeps the database from its first message
 * to its next sync point (and for its whole transaction, as before), and errors never wedge the queue.
 * Checked against the pinned version's source; revisit when upgrading pglite-socket.
 */
function keepExtendedQueriesTogether(server: PGLiteSocketServer): void {
  const queue = (server as unknown as { queryQueue: QueryQueue }).queryQueue;
  let midQuery: number | null = null;

  queue.processQueue = async function processQueue(this: QueryQueue): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const owner = midQuery ?? (this.db.isInTransaction() && this.lastHandlerId ? this.lastHandlerId : null);
        const index = owner === null ? 0 : this.queue.findIndex((item) => item.handlerId === owner);
        if (index === -1) break; // the owner's next message has not arrived yet; it restarts the loop
        const [item] = this.queue.splice(index, 1) as [QueuedMessage];
        let bytes = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(item.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
        } catch (err) {
          midQuery = null;
          item.reject(err);
          continue;
        }
        midQuery = isSyncPoint(item.message) ? null : item.handlerId;
        this.lastHandlerId = item.handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  };

  const clearTransaction = queue.clearTransactionIfNeeded.bind(queue);
  queue.clearTransactionIfNeeded = async function (handlerId: number): Promise<void> {
    // A connection that vanished mid-query must not keep the database.
    if (midQuery === handlerId) midQuery = null;
    await clearTransaction(handlerId);
    await queue.processQueue();
  };
}
