import type { Logger } from 'pino';
import type { HealthCheck } from '../../infra/http/health.ts';
import type { ProjectorHost } from '../projector-host.ts';
import type { Projection } from '../runner/projection.ts';
import type { RebuildableReadModel, ServedGenerations } from './ports.ts';

/**
 * Keeps the served generation of a rebuildable read model current: runs its projection, and when a rebuild
 * switches the generation (in this process or another), stops that projection and carries the new
 * generation on from the checkpoint the rebuild left.
 */
export class GenerationalProjector {
  private host: ProjectorHost | null = null;
  private generation = 0;
  private stopped = false;
  /** Switches happen one after the other, never two hosts at once. */
  private switching: Promise<void> = Promise.resolve();
  private unlisten: (() => void) | null = null;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly model: RebuildableReadModel,
    private readonly generations: ServedGenerations,
    private readonly hostFor: (projection: Projection) => ProjectorHost,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = this.generations.onSwitch((readModel) => {
      if (readModel === this.model.name) this.follow();
    });
    await this.run(this.generations.generation(this.model.name));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unlisten?.();
    if (this.retry) clearTimeout(this.retry);
    await this.switching;
    await this.host?.stop();
    this.host = null;
  }

  healthCheck(): HealthCheck {
    return {
      name: `${this.model.name}Projection`,
      check: async () => {
        if (!this.host) return { ok: this.stopped, detail: 'not running' };
        const result = await this.host.healthCheck().check();
        return { ...result, detail: { generation: this.generation, projections: result.detail } };
      },
    };
  }

  /** Moves to the served generation; a failure (its store unreachable) is retried until it works. */
  private follow(): void {
    this.switching = this.switching
      .then(() => this.run(this.generations.generation(this.model.name)))
      .catch((err: unknown) => {
        this.logger.error({ err, readModel: this.model.name }, 'could not move to the served generation; retrying in 5 s');
        this.retry = setTimeout(() => this.follow(), 5_000);
        this.retry.unref();
      });
  }

  private async run(generation: number): Promise<void> {
    if (this.stopped || generation === this.generation) return;
    await this.model.store.ensureGeneration(generation);
    await this.host?.stop();
    this.host = this.hostFor(this.model.projection(generation));
    this.generation = generation;
    await this.host.start();
    this.logger.info({ readModel: this.model.name, generation }, 'projecting the served generation');
  }
}
