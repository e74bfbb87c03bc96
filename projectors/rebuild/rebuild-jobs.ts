import type { Logger } from 'pino';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { RebuildableReadModel } from './ports.ts';
import { RebuildInProgressError, type ReadModelRebuilder, type RebuildProgress, type RebuildResult } from './rebuild.ts';

export interface RebuildJob {
  readModel: string;
  startedAt: Date;
  state: 'running' | 'done' | 'failed';
  progress: RebuildProgress | null;
  result: RebuildResult | null;
  error: string | null;
}

/**
 * Rebuilds started from the console, run in the background of this process; the console polls their
 * progress. One per read model at a time here, and across processes by the rebuilder's advisory lock.
 */
export class RebuildJobs {
  private readonly jobs = new Map<string, RebuildJob>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly aborts = new AbortController();

  constructor(
    private readonly rebuilder: ReadModelRebuilder,
    private readonly readModels: readonly RebuildableReadModel[],
    private readonly logger: Logger,
  ) {}

  names(): string[] {
    return this.readModels.map((model) => model.name);
  }

  /** Refuses a read model that is already being rebuilt here; one rebuilding elsewhere fails the job. */
  requireStartable(readModel: string): RebuildableReadModel {
    const model = this.readModels.find((m) => m.name === readModel);
    if (!model) throw new NotFoundError('Read model');
    if (this.jobs.get(readModel)?.state === 'running') throw new ConflictError(`${readModel} is being rebuilt already`, 'rebuild_in_progress');
    return model;
  }

  start(readModel: string): RebuildJob {
    const model = this.requireStartable(readModel);
    const job: RebuildJob = { readModel, startedAt: new Date(), state: 'running', progress: null, result: null, error: null };
    this.jobs.set(readModel, job);
    const run = this.rebuilder
      .rebuild(model, { signal: this.aborts.signal, onProgress: (progress) => (job.progress = progress) })
      .then((result) => {
        job.state = 'done';
        job.result = result;
        this.logger.info({ readModel, result }, 'rebuild finished');
      })
      .catch((err: unknown) => {
        job.state = 'failed';
        job.error =
          err instanceof RebuildInProgressError
            ? `${readModel} is being rebuilt by another process`
            : err instanceof Error
              ? err.message
              : String(err);
        this.logger.error({ err, readModel }, 'rebuild failed');
      });
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
    return job;
  }

  job(readModel: string): RebuildJob | null {
    return this.jobs.get(readModel) ?? null;
  }

  /** Stops rebuilds in flight (the unfinished generation is dropped by the rebuilder) and waits for them. */
  async stop(): Promise<void> {
    this.aborts.abort();
    await Promise.allSettled([...this.running]);
  }
}
