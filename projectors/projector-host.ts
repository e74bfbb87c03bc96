import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { HealthCheck } from '../infra/http/health.ts';
import type { GlobalEventLog } from './ports.ts';
import type { Projection } from './runner/projection.ts';
import type { ProjectionLag } from './runner/projection-metrics.ts';
import { SharedPageReader } from './runner/shared-page-reader.ts';
import { ProjectionRunner, type ProjectionRunnerOptions, type ProjectionStatus } from './runner/projection-runner.ts';

/** A projection failing this long without progress (an unreachable database) makes the process not ready. */
const STALLED_AFTER_MS = 30_000;

/** Runs every projection of the process, each with its own runner (they progress independently). */
export class ProjectorHost {
  private readonly runners: ProjectionRunner[];
  private readonly releases: (() => void)[] = [];
  private stopLag: (() => void) | null = null;

  constructor(
    projections: Projection[],
    private readonly log: GlobalEventLog,
    orm: MikroORM,
    logger: Logger,
    private readonly options: ProjectionRunnerOptions,
  ) {
    // Two pages per projection: the one it handles and the one it reads ahead (of batchSize events: a catch-up's
    // larger pages count as several).
    const types = projections.some((p) => p.eventTypes === 'all')
      ? undefined
      : projections.flatMap((p) => [...(p.eventTypes as ReadonlySet<string>)]);
    const shared = new SharedPageReader(log, types, projections.length * 2, undefined, options.batchSize);
    this.runners = projections.map((projection) => {
      const view = shared.view();
      this.releases.push(view.release);
      return new ProjectionRunner(projection, view, orm, logger, options);
    });
  }

  async start(): Promise<void> {
    for (const runner of this.runners) await runner.start();
    this.stopLag = this.options.metrics?.lagFrom(() => this.lag()) ?? null;
  }

  async stop(): Promise<void> {
    this.stopLag?.();
    this.stopLag = null;
    await Promise.all(this.runners.map((runner) => runner.stop()));
    for (const release of this.releases) release();
  }

  statuses(): ProjectionStatus[] {
    return this.runners.map((runner) => runner.status());
  }

  /** How far each projection is behind the head now (for the lag gauges, read at a scrape). */
  async lag(): Promise<ProjectionLag[]> {
    const head = await this.log.headPosition();
    return Promise.all(
      this.statuses().map(async ({ name, position }) => {
        const events = lagBetween(position, head);
        if (this.log.comparePositions(position, head) >= 0) return { projection: name, events, seconds: 0 };
        // The oldest event it has not applied: the one right after its checkpoint.
        const [next] = await this.log.readAll({ after: position, maxCount: 1 });
        const seconds = next ? Math.max(0, (Date.now() - Date.parse(next.recordedAt)) / 1000) : 0;
        return { projection: name, events, seconds };
      }),
    );
  }

  healthCheck(): HealthCheck {
    return {
      name: 'projections',
      check: async () => {
        const head = await this.log.headPosition();
        const statuses = this.statuses();
        const stalled = (s: ProjectionStatus) => s.failingSince !== null && Date.now() - Date.parse(s.failingSince) > STALLED_AFTER_MS;
        return {
          // Not ready while a projection cannot progress: its read-your-writes reads would only time out.
          ok: statuses.every((s) => s.running && !stalled(s)),
          detail: Object.fromEntries(
            statuses.map((s) => [
              s.name,
              {
                position: s.position,
                behind: this.log.comparePositions(s.position, head) < 0,
                lag: lagBetween(s.position, head),
                caughtUp: s.caughtUp,
                eventsApplied: s.eventsApplied,
                parked: s.parked,
                recentlyParked: s.recentlyParked,
                stalled: stalled(s),
                failingSince: s.failingSince,
                lastError: s.lastError,
                lastErrorAt: s.lastErrorAt,
              },
            ]),
          ),
        };
      },
    };
  }
}

/** Events behind the head when positions are integers (PostgreSQL store); null when not countable. */
export function lagBetween(position: string | null, head: string | null): number | null {
  if (head === null) return 0;
  if (!/^\d+$/.test(head) || (position !== null && !/^\d+$/.test(position))) return null;
  return Number(BigInt(head) - BigInt(position ?? '0'));
}
