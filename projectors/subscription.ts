import type { Logger } from 'pino';
import type { RecordedEvent } from '../domain/events.ts';
import { sleep } from '../infra/resilience.ts';
import { retryPolicies, retrying } from '../infra/retry.ts';
import type { EventPage, GlobalEventLog } from './ports.ts';

export interface CatchUpSubscriptionOptions {
  /** Position of the last event already handled; null to start at the beginning. */
  from: string | null;
  /** Events handed to the handler at once (and the most held in memory), but for catchUpBatchSize. */
  batchSize: number;
  /**
   * The page size once the subscription is well behind (two pages in a row short of the head): a cold
   * catch-up or a long backlog. Fewer, larger batches: each batch costs its handler a transaction, a checkpoint
   * and the statements that load and write its rows whatever it holds. Back to batchSize at the head. Default:
   * batchSize.
   */
  catchUpBatchSize?: number;
  /** The event types wanted (all when absent); the others are skipped by the store, never read. */
  types?: readonly string[];
  /**
   * Handles one batch: the events of the wanted types up to `end`, possibly none (the log moved on with
   * other types only). The next batch is read only after this resolves, so a subscription never runs two
   * handlers at once. If it throws, the same batch is offered again after a backoff.
   */
  handle(events: RecordedEvent[], end: string): Promise<void>;
  /**
   * Once live, the least time from the start of one batch's read to the next: under a steady stream of small
   * appends the events of that time make one batch, while an append after a quiet spell is read at once.
   */
  liveDelayMs?: number;
  /** Ends the pause of liveDelayMs early when it resolves (a reader waits on this projection). */
  wakeEarly?(signal: AbortSignal): Promise<void>;
  /**
   * Asked before each batch of events is handled, with the batch's oldest event: the batch waits until it
   * resolves (a process lets other work go first: see ReadModelPace). Given a signal that aborts on stop.
   */
  holdBatch?(oldest: RecordedEvent, signal: AbortSignal): Promise<void>;
  logger: Logger;
  /** How long to wait for a wake-up before polling anyway, once caught up. */
  idlePollMs?: number;
  /** Called after each handled batch or error, for metrics and health. */
  onProgress?(state: { position: string | null; caughtUp: boolean; error?: unknown }): void;
}

/** See catchUpBatchSize: a subscription one page behind is usually about to catch up, two pages is a backlog. */
const CATCH_UP_AFTER_PAGES = 2;

export interface Subscription {
  /** Position of the last event handled. */
  readonly position: string | null;
  readonly caughtUp: boolean;
  /** Stops after the batch in hand (if any) is handled. */
  stop(): Promise<void>;
}

/**
 * A catch-up subscription to the global log: reads pages from the checkpoint, then turns live by waiting
 * for wake-ups (with a poll as a safety net). Memory stays bounded: one page at a time, and wake-ups are a
 * flag, never a queue of events. Errors (a dropped connection, a failing handler) are retried under the outage
 * policy (bounded exponential backoff) from the last handled position, so nothing is skipped or handled twice.
 */
export function subscribeToAll(log: GlobalEventLog, options: CatchUpSubscriptionOptions): Subscription {
  const controller = new AbortController();
  const idlePollMs = options.idlePollMs ?? 1_000;
  let position = options.from;
  let caughtUp = false;

  /** Pages in a row that ended short of the head; from CATCH_UP_AFTER_PAGES on, pages are read at catchUpBatchSize. */
  let pagesBehind = 0;
  const pageSize = () => (pagesBehind >= CATCH_UP_AFTER_PAGES ? (options.catchUpBatchSize ?? options.batchSize) : options.batchSize);
  const read = (after: string | null) => log.readPage({ after, maxCount: pageSize(), types: options.types });

  /** The page after the one being handled, read meanwhile; at most one, so memory stays at two pages. */
  let next: Promise<EventPage> | null = null;
  /** When the latest read of a page began (performance.now()). */
  let readAt = Number.NEGATIVE_INFINITY;

  /**
   * Live: waits for an append, then for liveDelayMs to have passed since the previous read. Under a steady
   * stream a batch so holds what arrived in that time (without a pause every batch would hold the events of
   * one handler's run time only, and the fixed cost per batch would eat the process); a handler slower than
   * the delay is not held back at all, and the first append after a quiet spell is read at once. A pause
   * ends on the process's next multiple of liveDelayMs: the subscriptions that pause wake together and share
   * one read of the page (see SharedPageReader, sharingReads) instead of each reading it at its own moment.
   */
  const waitLive = async (): Promise<void> => {
    await log.waitForAppends(position, idlePollMs, controller.signal);
    const delay = options.liveDelayMs ?? 0;
    const now = performance.now();
    if (delay <= 0 || now - readAt >= delay) return;
    const pauseMs = Math.ceil((readAt + delay) / delay) * delay - now;
    if (!options.wakeEarly) return sleep(pauseMs, controller.signal);
    const pause = new AbortController();
    const stop = () => pause.abort();
    controller.signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([sleep(pauseMs, pause.signal), options.wakeEarly(pause.signal)]);
    } finally {
      pause.abort();
      controller.signal.removeEventListener('abort', stop);
    }
  };

  /** Reads a page (or waits for one) and hands it to the handler. */
  const step = async (): Promise<void> => {
    if (!next) readAt = performance.now();
    const page = await (next ?? read(position));
    next = null;
    if (page.end === null || log.comparePositions(page.end, position) <= 0) {
      pagesBehind = 0;
      caughtUp = true;
      options.onProgress?.({ position, caughtUp });
      await waitLive();
      return;
    }
    caughtUp = false;
    pagesBehind = page.atHead ? 0 : pagesBehind + 1;
    if (!page.atHead) {
      // Behind: read the next page while this one is handled, so a catch-up reads and writes at once.
      next = read(page.end);
      next.catch(() => undefined); // a failed read-ahead is read again, not reported as unhandled
    }
    const oldest = page.events[0];
    if (oldest && options.holdBatch && !controller.signal.aborted) await options.holdBatch(oldest, controller.signal);
    await options.handle(page.events, page.end);
    position = page.end;
    caughtUp = page.atHead;
    options.onProgress?.({ position, caughtUp });
    if (caughtUp) await waitLive();
  };

  const attempt = () =>
    step().catch((error: unknown) => {
      next = null; // read from the last handled position again
      throw error;
    });

  const loop = (async () => {
    while (!controller.signal.aborted) {
      const failed = await attempt().then(
        () => null,
        (error: unknown) => ({ error }),
      );
      if (!failed || controller.signal.aborted) continue;
      // A failed step is tried again from the last handled position until it succeeds; only stopping ends the
      // tries. (The retry policy is entered on a failure only: set up for every step, it cost more than a live
      // step itself.) Its first try is the failure already seen.
      await retrying(
        retryPolicies.outage,
        (tries) => {
          if (tries === 1) throw failed.error;
          return attempt();
        },
        {
          signal: controller.signal,
          retryIf: () => !controller.signal.aborted,
          onRetry: (error, failures) => {
            options.logger.warn({ err: error, position, failures }, 'subscription error; retrying');
            options.onProgress?.({ position, caughtUp: false, error });
          },
        },
      ).catch((error: unknown) => {
        if (!controller.signal.aborted) throw error;
      });
    }
  })();

  return {
    get position() {
      return position;
    },
    get caughtUp() {
      return caughtUp;
    },
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
