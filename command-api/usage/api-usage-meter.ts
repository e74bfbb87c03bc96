import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { apiUsageStream, type ApiCallsCounted } from '../../domain/analytics/api-usage.ts';
import type { NewEvent } from '../../domain/events.ts';
import { DuplicateEventIdError, WrongExpectedRevisionError, type EventStreams, type StreamAppend } from '../ports.ts';

/**
 * Counts authenticated API requests per organization in memory and records them every `flushMs` as
 * ApiCallsCounted events (usage metrics and, later, usage-based billing read them). Counting in memory keeps
 * requests free of an extra round trip; a process that dies loses at most its current window.
 *
 * Each window's events go to streams named after the window with 'no_stream' as the expectation, and keep
 * their ids across retries: an append that failed after committing is refused on retry instead of counting
 * the window twice.
 */
export class ApiUsageMeter {
  private readonly meterId = randomUUID();
  private counts = new Map<string, number>();
  private windowStart = new Date();
  private window = 0;
  /** Windows not recorded yet (an append failed): retried first, in order. */
  private readonly unsent: StreamAppend[][] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly streams: EventStreams,
    private readonly logger: Logger,
    private readonly flushMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** One authenticated request of `organizationId`. */
  count(organizationId: string): void {
    this.counts.set(organizationId, (this.counts.get(organizationId) ?? 0) + 1);
  }

  start(): void {
    this.timer = setInterval(() => {
      this.flush().catch((err: unknown) => this.logger.warn({ err }, 'could not record API usage; will retry'));
    }, this.flushMs);
    this.timer.unref();
  }

  /** Records the current window (and any earlier one not recorded yet). */
  flush(): Promise<void> {
    this.flushing ??= this.record().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Records what was counted; on shutdown, after the last request was answered. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flushing?.catch(() => undefined);
    await this.flush().catch((err: unknown) =>
      this.logger.error({ err, windows: this.unsent.length }, 'API usage of the last window(s) could not be recorded'),
    );
  }

  private async record(): Promise<void> {
    this.closeWindow();
    while (this.unsent.length > 0) {
      const appends = this.unsent[0]!;
      await this.append(appends);
      this.unsent.shift();
    }
  }

  /** Turns the counts so far into the appends of one window. */
  private closeWindow(): void {
    const counts = this.counts;
    if (counts.size === 0) return;
    const from = this.windowStart;
    const to = this.now();
    this.counts = new Map();
    this.windowStart = to;
    const window = this.window++;
    const appends: StreamAppend[] = [...counts].map(([organizationId, calls]) => {
      const event: NewEvent<ApiCallsCounted> = {
        id: randomUUID(),
        type: 'ApiCallsCounted',
        version: 1,
        data: { organizationId, calls, from: from.toISOString(), to: to.toISOString() },
        metadata: {
          tenantId: organizationId,
          actor: { type: 'system', id: 'api-usage-meter' },
          correlationId: this.meterId,
          causationId: this.meterId,
          occurredAt: to.toISOString(),
        },
      };
      return { streamId: apiUsageStream(organizationId, this.meterId, window), events: [event], expectedRevision: 'no_stream' };
    });
    this.unsent.push(appends);
  }

  private async append(appends: StreamAppend[]): Promise<void> {
    if (this.streams.appendAtomically) {
      try {
        await this.streams.appendAtomically(appends);
        return;
      } catch (err) {
        // An earlier try committed (all or nothing): the window is recorded.
        if (alreadyRecorded(err)) return;
        throw err;
      }
    }
    for (const { streamId, events, expectedRevision } of appends) {
      try {
        await this.streams.append(streamId, events, expectedRevision);
      } catch (err) {
        if (!alreadyRecorded(err)) throw err;
      }
    }
  }
}

/** What a retry of an append that had committed meets: its stream exists, or its event ids are stored. */
function alreadyRecorded(err: unknown): boolean {
  return err instanceof WrongExpectedRevisionError || err instanceof DuplicateEventIdError;
}
