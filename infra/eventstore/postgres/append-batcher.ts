/**
 * Group commit. While one batch is being written, appends that arrive queue up and go together in the
 * next transaction: one round trip and one fsync for many appends. Under no load a batch is a single
 * append, so latency is not traded for throughput.
 */
export interface PendingAppend<Request, Result> {
  request: Request;
  size: number;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export class AppendBatcher<Request, Result> {
  private queue: PendingAppend<Request, Result>[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => undefined;

  constructor(
    /** Writes one batch and settles every entry in it; must not throw. */
    private readonly write: (batch: PendingAppend<Request, Result>[]) => Promise<void>,
    private readonly maxBatchSize: number,
  ) {}

  submit(request: Request, size: number): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ request, size, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  /** Resolves when everything submitted so far has been written (for graceful shutdown). */
  flushed(): Promise<void> {
    return this.running ? this.idle : Promise.resolve();
  }

  private async drain(): Promise<void> {
    this.running = true;
    this.idle = new Promise((resolve) => (this.markIdle = resolve));
    try {
      while (this.queue.length > 0) {
        let total = 0;
        let take = 0;
        while (take < this.queue.length && (take === 0 || total + this.queue[take]!.size <= this.maxBatchSize)) {
          total += this.queue[take]!.size;
          take++;
        }
        const batch = this.queue.splice(0, take);
        try {
          await this.write(batch);
        } catch (err) {
          for (const entry of batch) entry.reject(err);
        }
      }
    } finally {
      this.running = false;
      this.markIdle();
    }
  }
}
