import type { Logger } from 'pino';

/**
 * Work a request starts but does not wait for (so its answer, and how long it takes, says nothing about the
 * outcome). Failures are logged; a graceful shutdown waits for what is in flight.
 */
export class BackgroundWork {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  run(name: string, work: () => Promise<void>): void {
    const task = (async () => {
      try {
        await work();
      } catch (err) {
        this.logger.error({ err, task: name }, 'background work failed');
      }
    })();
    this.running.add(task);
    void task.finally(() => this.running.delete(task));
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
