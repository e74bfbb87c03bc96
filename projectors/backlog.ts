import { sleep } from '../infra/resilience.ts';

/**
 * Whether this process's workflow runner has had more due work than free slots for a while (every claim for
 * `onsetMs` filled every free slot, so more was waiting). Work that can wait yields meanwhile: the read
 * models' batches are taken less often (larger, so cheaper per event; never stopped), and the embedder is not
 * woken by every batch (its periodic pass goes on). At 09:00, 10,000 due steps go first; the read models
 * follow within a second or so. A short spell (a few executions more than slots) changes nothing: a
 * read-your-writes read waits on those read models.
 *
 * Measured on this machine (2 cores, `npm run bench -- --only workflows`): during 10,000 waits due at one
 * instant, PostgreSQL spent two thirds of its time on the read models' batches, and the runner's process close
 * to half of its own. One per process, made by the projectors' core module.
 */
export class WorkflowBacklog {
  private since: number | null = null;
  private readonly endListeners = new Set<() => void>();

  constructor(
    private readonly onsetMs = 1_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Told by the runner after each claim: whether it filled every free slot. */
  set(backlogged: boolean): void {
    if (backlogged) {
      this.since ??= this.clock();
      return;
    }
    if (this.since === null) return;
    this.since = null;
    for (const listener of [...this.endListeners]) listener();
  }

  /** Resolves when the spell under way ends (at once when there is none), or when `signal` aborts. */
  ended(signal: AbortSignal): Promise<void> {
    return untilCalled(this.endListeners, signal, this.since === null);
  }

  get active(): boolean {
    return this.since !== null && this.clock() - this.since >= this.onsetMs;
  }
}

/**
 * How a process's read models yield to its workflow runner while the runner is backlogged (see
 * WorkflowBacklog): a batch is applied no sooner than `holdMs` after its oldest event was recorded, so the read
 * models trail by about that much and the due steps have the machine (they then take the events in large
 * batches, which cost less each). Never longer: under a backlog that lasts they still follow the log. A hold ends
 * early:
 * - for every read model when the spell ends (nothing is left for it to wait for), and
 * - for one read model when a read-your-writes read waits on it (`hurry`, told through the nf_read_waiting
 *   announcement by CheckpointWatcher): it applies what it holds at once and is not held for `hurryMs`, so a
 *   user's read during a burst is not held back.
 */
export class ReadModelPace {
  private readonly hurriedUntil = new Map<string, number>();
  private readonly hurryListeners = new Map<string, Set<() => void>>();

  constructor(
    private readonly backlog: Pick<WorkflowBacklog, 'active' | 'ended'>,
    private readonly holdMs: number,
    private readonly hurryMs = 2_000,
    private readonly clock: () => number = () => performance.now(),
    private readonly wallClock: () => number = () => Date.now(),
  ) {}

  /** Resolves when a batch of `projection` whose oldest event was recorded at `recordedAt` may be applied. */
  async hold(projection: string, recordedAt: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted || !this.backlog.active || this.isHurried(projection)) return;
    const waitMs = Math.min(this.holdMs, this.holdMs - (this.wallClock() - Date.parse(recordedAt)));
    if (!(waitMs > 0)) return;
    const listeners = this.listenersOf(projection);
    const pause = new AbortController();
    const stop = () => pause.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([sleep(waitMs, pause.signal), this.backlog.ended(pause.signal), untilCalled(listeners, pause.signal, false)]);
    } finally {
      pause.abort();
      signal.removeEventListener('abort', stop);
    }
  }

  /**
   * Resolves when a reader waits on `projection` (at once if one did within hurryMs), or `signal` aborts: a
   * background projection's pause between batches ends then (see Projection `background`).
   */
  hurried(projection: string, signal: AbortSignal): Promise<void> {
    if (this.isHurried(projection)) return Promise.resolve();
    return untilCalled(this.listenersOf(projection), signal, false);
  }

  /** A reader waits on `projection`: what it holds goes now, and it is not held for a while. */
  hurry(projection: string): void {
    this.hurriedUntil.set(projection, this.clock() + this.hurryMs);
    for (const listener of [...(this.hurryListeners.get(projection) ?? [])]) listener();
  }

  /** Who waits for a reader on `projection` (held batches, paused background projections). */
  private listenersOf(projection: string): Set<() => void> {
    let listeners = this.hurryListeners.get(projection);
    if (!listeners) this.hurryListeners.set(projection, (listeners = new Set()));
    return listeners;
  }

  private isHurried(projection: string): boolean {
    const until = this.hurriedUntil.get(projection);
    return until !== undefined && until > this.clock();
  }
}

/** Resolves when one of `listeners` is called (the promise's own listener is then removed), or `signal` aborts. */
function untilCalled(listeners: Set<() => void>, signal: AbortSignal, already: boolean): Promise<void> {
  if (already || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      listeners.delete(done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    listeners.add(done);
    signal.addEventListener('abort', done, { once: true });
  });
}
