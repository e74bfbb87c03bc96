import type { Logger } from 'pino';

/**
 * What the container built and must start and stop. A component registers its stop when it is made, so
 * stopping runs in the reverse order of making: what uses a pool stops before the pool closes. Starts run
 * in registration order once the process is assembled (projections before the HTTP server listens).
 */
export class Lifecycle {
  private readonly starts: { name: string; run: () => Promise<void> | void }[] = [];
  private readonly stops: { name: string; run: () => Promise<unknown> | unknown }[] = [];
  private stopping: Promise<void> | null = null;
  private started = false;

  constructor(private readonly logger: Logger) {}

  /** Runs at start, after every earlier start (start order is registration order). */
  onStart(name: string, run: () => Promise<void> | void): void {
    if (this.started) throw new Error(`${name} registered a start after the process started`);
    this.starts.push({ name, run });
  }

  /** Runs at stop, before every stop registered earlier. */
  onStop(name: string, run: () => Promise<unknown> | unknown): void {
    this.stops.push({ name, run });
  }

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  async start(): Promise<void> {
    this.started = true;
    for (const { name, run } of this.starts) {
      this.logger.debug({ component: name }, 'starting');
      await run();
    }
  }

  /** Stops everything once (later calls wait for the first); a failing stop is logged and the rest go on. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const { name, run } of [...this.stops].reverse()) {
        try {
          await run();
        } catch (err) {
          this.logger.warn({ err, component: name }, 'error while stopping');
        }
      }
    })();
    return this.stopping;
  }
}

/** The checks /health/ready runs: each component that can fail registers its own when it is made. */
export class HealthChecks {
  private readonly checks: import('../http/health.ts').HealthCheck[] = [];

  add(check: import('../http/health.ts').HealthCheck): void {
    this.checks.push(check);
  }

  all(): import('../http/health.ts').HealthCheck[] {
    return [...this.checks];
  }
}
