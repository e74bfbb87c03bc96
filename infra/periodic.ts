/**
 * A background pass run now and then every `intervalMs` after the previous one ended (never two at once),
 * until stopped; stop waits for the pass under way. What a pass throws goes to `failed` and the next pass
 * runs as planned. Its timer does not keep the process alive.
 */
export class PeriodicPass {
  private timer: NodeJS.Timeout | null = null;
  private passing: Promise<unknown> | null = null;
  private stopping = false;
  private again = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly failed: (err: unknown) => void,
  ) {}

  start(): void {
    this.stopping = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.passing;
  }

  /** Runs a pass now (or right after the one under way), instead of at the next interval. */
  wake(): void {
    if (this.stopping) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.passing = this.pass()
        .catch(this.failed)
        .finally(() => {
          this.passing = null;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 0 : this.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
