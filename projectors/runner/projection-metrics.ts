import type { Metrics } from '../../infra/observability/metrics.ts';

/** How far one projection is behind the head of the log, as its host sees it at a scrape. */
export interface ProjectionLag {
  projection: string;
  /** Events between its checkpoint and the head (null when the store's positions are not countable). */
  events: number | null;
  /** Age of the oldest event it has not applied yet; 0 when caught up. */
  seconds: number;
}

type LagSource = () => Promise<ProjectionLag[]>;

/**
 * The projection series of the process's Metrics: counters recorded as batches commit, the parked gauge as
 * events are parked, and the lag gauges computed when Prometheus scrapes (from every host that runs
 * projections here, generations of rebuildable read models included).
 */
export class ProjectionMetrics {
  private readonly sources = new Set<LagSource>();
  /** One computation serves both lag gauges of a scrape (prom-client collects them concurrently). */
  private collecting: Promise<void> | null = null;

  constructor(private readonly metrics: Metrics) {
    // prom-client calls a gauge's `collect` (its constructor option, kept as a property) before it reads the
    // gauge's values at every scrape.
    const collect = () => this.collectLag();
    Object.assign(metrics.projectionLagEvents, { collect });
    Object.assign(metrics.projectionLagSeconds, { collect });
  }

  /** A batch committed with its checkpoint in `seconds`; `applied` of its events were the projection's. */
  committed(projection: string, applied: number, seconds: number): void {
    this.metrics.projectionBatches.inc({ projection });
    this.metrics.projectionBatchDuration.observe({ projection }, seconds);
    // By zero too: the series exists from the first batch on, so a rate over it reads 0 rather than nothing.
    this.metrics.projectionEvents.inc({ projection }, applied);
  }

  /** Events the projection parked that nobody resolved yet. */
  parked(projection: string, count: number): void {
    this.metrics.projectionParked.set({ projection }, count);
  }

  /** Lag of a host's projections at each scrape; returns the function that stops it (the host stopped). */
  lagFrom(source: LagSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  private collectLag(): Promise<void> {
    this.collecting ??= this.readLag().finally(() => {
      this.collecting = null;
    });
    return this.collecting;
  }

  private async readLag(): Promise<void> {
    const lags = (await Promise.all([...this.sources].map((source) => source().catch(() => [])))).flat();
    // Reset first: a projection no longer run here (a generation switched) leaves no stale series behind.
    this.metrics.projectionLagEvents.reset();
    this.metrics.projectionLagSeconds.reset();
    for (const lag of lags) {
      if (lag.events !== null) this.metrics.projectionLagEvents.set({ projection: lag.projection }, lag.events);
      this.metrics.projectionLagSeconds.set({ projection: lag.projection }, lag.seconds);
    }
  }
}
