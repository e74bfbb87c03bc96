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

  constructor(
    private readonly onsetMs = 1_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Told by the runner after each claim: whether it filled every free slot. */
  set(backlogged: boolean): void {
    if (!backlogged) this.since = null;
    else this.since ??= this.clock();
  }

  get active(): boolean {
    return this.since !== null && this.clock() - this.since >= this.onsetMs;
  }
}
