import type { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Logger } from 'pino';
import { sleep } from '../../infra/resilience.ts';
import type { GlobalEventLog } from '../ports.ts';
import { lagBetween } from '../projector-host.ts';
import { ProjectionRunner } from '../runner/projection-runner.ts';
import { generationName, type RebuildableReadModel, type ServedGenerations } from './ports.ts';

export interface RebuildProgress {
  readModel: string;
  generation: number;
  phase: 'building' | 'switching' | 'done';
  /** The log position the new generation has reached, and the head of the log now. */
  position: string | null;
  head: string | null;
  eventsApplied: number;
  /** Share of the log done, 0..1, when positions are countable (PostgreSQL store); else null. */
  fraction: number | null;
  lastError: string | null;
}

export interface RebuildResult {
  readModel: string;
  /** The generation that served before, and the one serving now. */
  from: number;
  to: number;
  position: string | null;
  eventsApplied: number;
  parked: number;
  seconds: number;
  eventsPerSecond: number;
}

export class RebuildInProgressError extends Error {
  override name = 'RebuildInProgressError';
}

export interface RebuilderDependencies {
  log: GlobalEventLog;
  orm: MikroORM;
  /** A connection of the read-model database, to hold the rebuild lock on. */
  pool: pg.Pool;
  generations: ServedGenerations;
  logger: Logger;
  batchSize: number;
  /** The read models are on a PostgreSQL server, not the embedded database: see ProjectionRunnerOptions. */
  server?: boolean;
}

/** Rebuilds running in this process (advisory locks are per session, and the embedded database has one). */
const running = new Set<string>();

/**
 * Rebuilds a read model from the log without taking it away from readers: generation g keeps serving (and
 * its projection keeps it current) while generation g+1 is built from the first event into tables of its
 * own, with its own checkpoint. Once the new generation has caught up with the head of the log, the
 * generation pointer switches in one statement: every reader moves to complete data at once, and
 * read-your-writes waits on the new generation's checkpoint from then on. The projector process hears of
 * the switch and carries the new generation on from its checkpoint.
 *
 * The previous generation is kept (a rollback target, and readers that have not heard of the switch yet
 * still find it) and dropped at the start of the next rebuild.
 */
export class ReadModelRebuilder {
  constructor(private readonly deps: RebuilderDependencies) {}

  async rebuild(
    model: RebuildableReadModel,
    options: { onProgress?(progress: RebuildProgress): void; signal?: AbortSignal; progressEveryMs?: number } = {},
  ): Promise<RebuildResult> {
    const { log, orm, generations, logger } = this.deps;
    const lock = await this.lock(model.name);
    const started = Date.now();
    try {
      await generations.refresh();
      const from = generations.generation(model.name);
      const to = from + 1;
      const name = generationName(model.name, to);
      // What an earlier rebuild left: the generation before the served one, and an unfinished next one.
      if (from > 1) await model.store.dropGeneration(from - 1);
      await model.store.dropGeneration(to);
      await orm.em.fork().execute('DELETE FROM projection_checkpoints WHERE name = ?', [name]);
      await orm.em.fork().execute('DELETE FROM parked_events WHERE projection = ?', [name]);
      await model.store.ensureGeneration(to);

      const runner = new ProjectionRunner(model.projection(to), log, orm, logger.child({ rebuild: model.name }), {
        batchSize: this.deps.batchSize,
        server: this.deps.server ?? false,
      });
      const report = async (phase: RebuildProgress['phase']): Promise<RebuildProgress> => {
        const head = await log.headPosition();
        const status = runner.status();
        const progress = {
          readModel: model.name,
          generation: to,
          phase,
          position: status.position,
          head,
          eventsApplied: status.eventsApplied,
          fraction: fractionDone(status.position, head),
          lastError: status.lastError,
        };
        options.onProgress?.(progress);
        return progress;
      };

      await runner.start();
      let promoted = false;
      try {
        for (;;) {
          if (options.signal?.aborted) throw options.signal.reason ?? new Error('rebuild aborted');
          // The head is read before the runner's state: caught up means at or past a head read after it started.
          const head = await log.headPosition();
          const status = runner.status();
          if (status.caughtUp && log.comparePositions(status.position, head) >= 0) break;
          await report('building');
          await sleep(options.progressEveryMs ?? 200);
        }
        await report('switching');
        await model.store.promoteGeneration(to);
        promoted = true;
        await generations.switchTo(model.name, from, to);
      } catch (err) {
        await runner.stop();
        // Store-side pointers (Elasticsearch's aliases) go back before the generation they point at is dropped.
        if (promoted) await model.store.promoteGeneration(from);
        // Not switched: the half-built generation goes, the served one was never touched.
        await model.store.dropGeneration(to).catch((dropErr: unknown) => logger.warn({ err: dropErr }, 'could not drop an unfinished generation'));
        throw err;
      }
      await runner.stop();
      const done = await report('done');
      const status = runner.status();
      const seconds = (Date.now() - started) / 1000;
      logger.info({ readModel: model.name, from, to, eventsApplied: status.eventsApplied, seconds }, 'read model rebuilt and switched');
      return {
        readModel: model.name,
        from,
        to,
        position: done.position,
        eventsApplied: status.eventsApplied,
        parked: status.parked,
        seconds,
        eventsPerSecond: seconds > 0 ? status.eventsApplied / seconds : 0,
      };
    } finally {
      await lock.release();
    }
  }

  /** One rebuild of a read model at a time, across processes (an advisory lock) and in this one. */
  private async lock(readModel: string): Promise<{ release(): Promise<void> }> {
    if (running.has(readModel)) throw new RebuildInProgressError(`${readModel} is being rebuilt already (in this process)`);
    running.add(readModel);
    const client = await this.deps.pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('nf_rebuild:' || $1::text)) AS locked", [
        readModel,
      ]);
      if (!rows[0]?.locked) throw new RebuildInProgressError(`${readModel} is being rebuilt already (by another process)`);
    } catch (err) {
      client.release();
      running.delete(readModel);
      throw err;
    }
    return {
      async release() {
        try {
          await client.query("SELECT pg_advisory_unlock(hashtext('nf_rebuild:' || $1::text))", [readModel]);
        } finally {
          client.release();
          running.delete(readModel);
        }
      },
    };
  }
}

/** Share of the log done when positions count events (PostgreSQL store); null when they do not. */
function fractionDone(position: string | null, head: string | null): number | null {
  const lag = lagBetween(position, head);
  if (lag === null) return null;
  const total = Number(head ?? 0);
  return total === 0 ? 1 : Math.min(1, (total - lag) / total);
}
