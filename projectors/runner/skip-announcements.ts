/**
 * Checkpoints moved by skipping (the log moved on with events of other types only) live in memory until
 * they are stored, so other processes (a separate query API waiting for read-your-writes) hear of them
 * through a NOTIFY. Live, every append makes most projections skip: one NOTIFY each was a database round trip
 * per projection and append, more than the projectors' real work. Announced together instead: the newest
 * position of every projection that skipped, in one NOTIFY, sent at once when none is in flight, else as
 * soon as the one in flight is done (so they batch under load and wait for nothing when quiet).
 */
export class SkipAnnouncements {
  private readonly pending = new Map<string, string>();
  private sending = false;

  constructor(
    private readonly notify: (payload: string) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** `projection` skipped to `position` (positions of one projection only grow). */
  add(projection: string, position: string): void {
    this.pending.set(projection, position);
    if (!this.sending) this.send();
  }

  private send(): void {
    this.sending = true;
    // Once the caller's turn is over: the projections that skipped on the same page announce together.
    setImmediate(() => {
      const positions = Object.fromEntries(this.pending);
      this.pending.clear();
      this.notify(JSON.stringify({ positions }))
        .catch(this.onError)
        .finally(() => {
          if (this.pending.size > 0) this.send();
          else this.sending = false;
        });
    });
  }
}
