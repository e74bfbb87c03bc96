import type pg from 'pg';
import type { Logger } from 'pino';
import { generationName, type ServedGenerations } from '../../projectors/rebuild/ports.ts';
import type { ReadModelProgress } from '../../query-api/ports.ts';
import type { Notifications } from '../notifications/notifications.ts';

export const CHANNEL_GENERATIONS = 'nf_generations';

/** Another rebuild switched the read model first; this one's generation was not made active. */
export class GenerationConflictError extends Error {
  override name = 'GenerationConflictError';
}

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Which generation of each rebuildable read model is served. A rebuild fills generation g+1 beside the
 * served generation g and then switches this pointer in one statement; readers pick their tables (or index,
 * or ClickHouse table) and the checkpoint they wait on from here. Every process keeps the pointers in
 * memory: a switch is announced (NOTIFY across processes, in-process on the embedded database), and the
 * table is read again every `pollMs` in case an announcement was lost.
 */
export class ReadModelGenerations implements ServedGenerations {
  private readonly active = new Map<string, number>();
  private readonly listeners = new Set<(readModel: string, generation: number) => void>();
  private readonly stopListening: () => void;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly db: Queryable,
    private readonly notifications: Notifications,
    private readonly logger: Logger,
    pollMs: number,
  ) {
    this.stopListening = notifications.listen(CHANNEL_GENERATIONS, () => {
      this.refresh().catch((err: unknown) => logger.warn({ err }, 'could not read read-model generations; will retry'));
    });
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => logger.debug({ err }, 'could not read read-model generations; will retry'));
    }, pollMs);
    this.timer.unref();
  }

  /** Reads the pointers (the read-model migrations must have run) and keeps them current. */
  static async open(db: Queryable, notifications: Notifications, logger: Logger, pollMs = 5_000): Promise<ReadModelGenerations> {
    const generations = new ReadModelGenerations(db, notifications, logger, pollMs);
    await generations.refresh();
    return generations;
  }

  /** The generation served now (1 until a rebuild switched it). */
  generation(readModel: string): number {
    return this.active.get(readModel) ?? 1;
  }

  /** The projection name readers of `readModel` wait on (read-your-writes) now. */
  projectionName(readModel: string): string {
    return generationName(readModel, this.generation(readModel));
  }

  /** Called after each switch, in this process, whoever made it. Returns a function that stops listening. */
  onSwitch(listener: (readModel: string, generation: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Makes `to` the served generation, if `from` still is (two rebuilds never both win). One statement:
   * concurrent readers see either the old pointer or the new one.
   */
  async switchTo(readModel: string, from: number, to: number): Promise<void> {
    const { rows } = await this.db.query<{ generation: number }>(
      `INSERT INTO read_model_generations (name, generation)
       SELECT $1::text, $3::int WHERE coalesce((SELECT generation FROM read_model_generations WHERE name = $1::text), 1) = $2::int
       ON CONFLICT (name) DO UPDATE SET generation = EXCLUDED.generation, switched_at = now()
         WHERE read_model_generations.generation = $2::int
       RETURNING generation`,
      [readModel, from, to],
    );
    if (rows.length === 0) {
      await this.refresh();
      throw new GenerationConflictError(`${readModel} is at generation ${this.generation(readModel)}, not ${from}: another rebuild switched it`);
    }
    await this.notifications
      .notify(CHANNEL_GENERATIONS, JSON.stringify({ readModel, generation: to }))
      .catch((err: unknown) => this.logger.warn({ err }, 'could not announce a generation switch; other processes poll'));
    this.set(readModel, to);
  }

  async refresh(): Promise<void> {
    const { rows } = await this.db.query<{ name: string; generation: number }>('SELECT name, generation FROM read_model_generations');
    for (const row of rows) this.set(row.name, row.generation);
  }

  close(): void {
    this.stopListening();
    clearInterval(this.timer);
  }

  private set(readModel: string, generation: number): void {
    const changed = this.generation(readModel) !== generation;
    this.active.set(readModel, generation);
    if (!changed) return;
    this.logger.info({ readModel, generation }, 'read model generation switched');
    for (const listener of this.listeners) listener(readModel, generation);
  }
}

/**
 * Read-your-writes over generational read models: a route names the read model ('search'), and waits on the
 * checkpoint of the generation served now ('search@2' after a rebuild).
 */
export function generationalProgress(progress: ReadModelProgress, generations: Pick<ReadModelGenerations, 'projectionName'>): ReadModelProgress {
  return {
    isValidPosition: (value) => progress.isValidPosition(value),
    isBeyondHead: (position) => progress.isBeyondHead(position),
    waitFor: (projections, position, timeoutMs) =>
      progress.waitFor(
        projections.map((name) => generations.projectionName(name)),
        position,
        timeoutMs,
      ),
  };
}
