/**
 * A background pass run now and then every `intervalMs` after the previous one ended (never two at once),
 * until stopped; stop waits for the pass under way. What a pass throws goes to `failed` and the next pass
 * runs as planned. Its timer does not keep the process alive.
 */
export class PeriodicPass {
  private timer: NodeJS.Timeout | null = null;
  private passing: Promise<unknown> | null = null;
  private stopping = false;

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

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.passing = this.pass()
        .catch(this.failed)
        .finally(() => {
          this.passing = null;
          this.schedule(this.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
