/**
 * Group commit. While a batch is being written, appends that arrive queue up and go together in the next
 * transaction: one round trip and one fsync for many appends. Under no load a batch is a single append, so
 * latency is not traded for throughput.
 *
 * Up to `maxInFlight` batches are written at once. They still commit one after the other (the log head
 * row lock in the database orders them), but the next batch is already waiting at the lock when the
 * previous one commits, instead of starting its round trip only then.
 */
export interface PendingAppend<Request, Result> {
  request: Request;
  size: number;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export class AppendBatcher<Request, Result> {
  private queue: PendingAppend<Request, Result>[] = [];
  /** The sizes of what is queued, summed. */
  private queuedSize = 0;
  private inFlight = 0;
  private scheduled = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    /** Writes one batch and settles every entry in it; must not throw. */
    private readonly write: (batch: PendingAppend<Request, Result>[]) => Promise<void>,
    private readonly maxBatchSize: number,
    private readonly maxInFlight = 2,
    /**
     * A batch starts beside one in flight only once this much is queued; less waits for the one in flight to
     * finish and goes in the next. Under a moderate load (appends arriving one by one) overlapping made every
     * append a transaction of its own; under a heavy one the queue fills and batches overlap as before.
     */
    private readonly overlapFrom = 1,
  ) {}

  submit(request: Request, size: number): Promise<Result> {
    return new Promise<Result>((resolve, reject) => this.enqueue(request, size, resolve, reject));
  }

  /**
   * Like submit, settling through the caller's own callbacks. A caller that reshapes the result does it here
   * rather than in a `.then` after submit: every extra promise hop delays the caller's next append past the
   * moment the batch finishes, so fewer appends find company and batches shrink (measured: -30% appends/s).
   */
  enqueue(request: Request, size: number, resolve: (result: Result) => void, reject: (error: unknown) => void): void {
    this.queue.push({ request, size, resolve, reject });
    this.queuedSize += size;
    if (this.inFlight === 0) {
      // Idle: write at once, a lone append should not wait for company.
      this.startBatch();
    } else {
      this.schedule();
    }
  }

  /** Resolves when everything submitted so far has been written (for graceful shutdown). */
  flushed(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts the next batch once the current turn of the event loop is over: the callers just answered
   * usually append again a few promise hops later, and waiting for them keeps them in one batch.
   */
  private schedule(): void {
    if (this.scheduled || !this.mayStart()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.queue.length > 0 && this.mayStart()) this.startBatch();
    });
  }

  private mayStart(): boolean {
    return this.inFlight === 0 || (this.inFlight < this.maxInFlight && this.queuedSize >= this.overlapFrom);
  }

  private startBatch(): void {
    let total = 0;
    let take = 0;
    while (take < this.queue.length && (take === 0 || total + this.queue[take]!.size <= this.maxBatchSize)) {
      total += this.queue[take]!.size;
      take++;
    }
    const batch = this.queue.splice(0, take);
    this.queuedSize -= total;
    this.inFlight++;
    this.write(batch)
      .catch((err: unknown) => {
        for (const entry of batch) entry.reject(err);
      })
      .finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }
}
