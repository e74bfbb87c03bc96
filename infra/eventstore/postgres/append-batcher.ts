/**
 * Group commit. While a batch is being written, appends that arrive queue up and go together in the next
 * transaction: one round trip and one fsync for many appends. Under no load a batch is a single append, so
 * latency is not traded for throughput.
 *
 * Up to `maxInFlight` batches are written at once. They still commit one after the other (the log head
 * row lock in the database orders them), but the next batch is already waiting at the lock when the
 * previous one commits, instead of starting its round trip only then. Not always in the order sent, though:
 * a batch sent second can take the lock first. A request that builds on one in flight (`dependencies`: it
 * names a predecessor another request provides) therefore never goes in a batch beside it; it waits for the
 * next batch, and so does every request that builds on it.
 */

/** What a request builds on, and what later requests can build on (ids; StreamAppend.predecessorId). */
export interface BatchDependencies<Request> {
  /** The ids the request needs written before it (none: it can go in any batch). */
  needs(request: Request): readonly string[];
  /** The ids that writing the request writes. */
  provides(request: Request): readonly string[];
}
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
  /** The batches being written (only kept with dependencies). */
  private readonly flying = new Set<PendingAppend<Request, Result>[]>();
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
    private readonly dependencies?: BatchDependencies<Request>,
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
    const batch = this.inFlight > 0 && this.dependencies ? this.takeIndependent() : this.takePrefix();
    // Everything queued builds on what is in flight: it goes when that is written.
    if (batch.length === 0) return;
    this.inFlight++;
    if (this.dependencies) this.flying.add(batch);
    this.write(batch)
      .catch((err: unknown) => {
        for (const entry of batch) entry.reject(err);
      })
      .finally(() => {
        this.inFlight--;
        this.flying.delete(batch);
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  /** The queue's first requests, up to the batch size (at least one). */
  private takePrefix(): PendingAppend<Request, Result>[] {
    let total = 0;
    let take = 0;
    while (take < this.queue.length && (take === 0 || total + this.queue[take]!.size <= this.maxBatchSize)) {
      total += this.queue[take]!.size;
      take++;
    }
    this.queuedSize -= total;
    return this.queue.splice(0, take);
  }

  /**
   * Beside a batch in flight: the queue's requests in order, up to the batch size, leaving queued those that
   * build on a request in flight or on one left queued.
   */
  private takeIndependent(): PendingAppend<Request, Result>[] {
    const dependencies = this.dependencies!;
    let unwritten: Set<string> | null = null;
    const unwrittenIds = () => {
      if (unwritten) return unwritten;
      unwritten = new Set<string>();
      for (const flying of this.flying) for (const entry of flying) for (const id of dependencies.provides(entry.request)) unwritten.add(id);
      return unwritten;
    };
    const batch: PendingAppend<Request, Result>[] = [];
    const left: PendingAppend<Request, Result>[] = [];
    let total = 0;
    let i = 0;
    for (; i < this.queue.length; i++) {
      const entry = this.queue[i]!;
      const needs = dependencies.needs(entry.request);
      if (needs.length > 0 && needs.some((id) => unwrittenIds().has(id))) {
        left.push(entry);
        for (const id of dependencies.provides(entry.request)) unwrittenIds().add(id);
        continue;
      }
      if (batch.length > 0 && total + entry.size > this.maxBatchSize) break;
      batch.push(entry);
      total += entry.size;
      // A later request may build on this one: it goes in this batch with it (they are written in order).
    }
    this.queue = [...left, ...this.queue.slice(i)];
    this.queuedSize -= total;
    return batch;
  }
}
