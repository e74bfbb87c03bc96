/**
 * Group commit. While a batch is being written, appends that arrive queue up and go together in the next
 * transaction: one round trip and one fsync for many appends. Under no load a batch is a single append, so
 * latency is not traded for throughput.
 *
 * Up to `maxInFlight` batches are written at once. They still commit one after the other (the log head
 * row lock in the database orders them), but the next batch is already waiting at the lock when the
 * previous one commits, instead of starting its round trip only then. Not always in the order sent, though:
 * a batch sent second can take the lock first. A request that builds on one in flight (`dependencies`: it
 * names a predecessor another request provides) therefore goes beside it only on approval: it is marked
 * `speculative`, and if its batch went first the writer hands it back ("not yet": its predecessor was not
 * stored yet), with every request that builds on it. Handed back, it goes at the head of the queue, in order,
 * and waits for the batch it builds on to finish (it is not sent ahead of it twice). The usual order costs
 * nothing; the other one costs the requests handed back a transaction more.
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
  /**
   * Sent beside the batch that writes what it builds on (or behind such a request in its own batch): the
   * writer may hand it back, neither resolved nor rejected, when that batch had not committed yet.
   */
  speculative?: boolean;
  /** Handed back once: it now waits for what it builds on to be written. */
  handedBack?: boolean;
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
    /**
     * Writes one batch and settles every entry in it, except speculative ones it hands back (the requests
     * they build on were not stored yet), in batch order; must not throw.
     */
    private readonly write: (batch: PendingAppend<Request, Result>[]) => Promise<readonly PendingAppend<Request, Result>[] | void>,
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
      .then(
        (handedBack) => {
          if (handedBack && handedBack.length > 0) this.putBack(handedBack);
        },
        (err: unknown) => {
          for (const entry of batch) entry.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.flying.delete(batch);
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  /**
   * Requests a speculative batch went ahead of their predecessors with: first in the queue again, in their
   * order. Nothing queued is one they build on (a request queued behind its predecessor stays behind it).
   */
  private putBack(entries: readonly PendingAppend<Request, Result>[]): void {
    for (const entry of entries) {
      entry.speculative = false;
      entry.handedBack = true;
      this.queuedSize += entry.size;
    }
    this.queue = [...entries, ...this.queue];
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
   * Beside a batch in flight: the queue's requests in order, up to the batch size. One that builds on a
   * request in flight goes as speculative, and so does one that builds on a speculative one; one handed back
   * before stays queued until what it builds on is written, and so does every one that builds on it.
   */
  private takeIndependent(): PendingAppend<Request, Result>[] {
    const dependencies = this.dependencies!;
    // Ids written by a batch in flight or by a speculative request of this batch; ids of requests left queued.
    let unwritten: Set<string> | null = null;
    let leftIds: Set<string> | null = null;
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
      let speculative = false;
      if (needs.length > 0) {
        const waits = (entry.handedBack && needs.some((id) => unwrittenIds().has(id))) || (leftIds !== null && needs.some((id) => leftIds!.has(id)));
        if (waits) {
          left.push(entry);
          leftIds ??= new Set<string>();
          for (const id of dependencies.provides(entry.request)) leftIds.add(id);
          continue;
        }
        speculative = needs.some((id) => unwrittenIds().has(id));
      }
      if (batch.length > 0 && total + entry.size > this.maxBatchSize) break;
      if (speculative) {
        entry.speculative = true;
        for (const id of dependencies.provides(entry.request)) unwrittenIds().add(id);
      }
      batch.push(entry);
      total += entry.size;
      // A later request may build on this one: it goes in this batch with it (they are written in order).
    }
    this.queue = [...left, ...this.queue.slice(i)];
    this.queuedSize -= total;
    return batch;
  }
}
