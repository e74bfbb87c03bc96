import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ReadModelProgress } from '../../query-api/ports.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import { CHANNEL_CHECKPOINTS, CHANNEL_READ_WAITING, type Notifications } from '../notifications/notifications.ts';

interface Waiter {
  projections: readonly string[];
  position: string;
  resolve(satisfied: boolean): void;
}

/**
 * While someone waits, the checkpoint table is also read this often, a safety net only: announcements
 * (in-process, or NOTIFY at each checkpoint commit) are what wakes waiters, and a listener that reconnects
 * (notifications may have been lost meanwhile) makes the watcher read the table at once. Reading on every
 * wait instead cost a query per request and a tenth of a core under load.
 */
const POLL_MS = 250;

/**
 * A read that has waited this long tells the projector processes which read models it waits on (they may be
 * holding back for a backlogged workflow runner: projectors/backlog.ts ReadModelPace), at most once per this
 * interval for the same read models. Well above the live delay, so an ordinary wait announces nothing.
 */
const ANNOUNCE_WAIT_AFTER_MS = 100;

/**
 * Tracks projection checkpoints for read-your-writes. Projectors announce each committed checkpoint (in
 * this process or, through PostgreSQL NOTIFY, in another); the table is the source of truth and is polled
 * only while requests are waiting.
 */
export class CheckpointWatcher implements ReadModelProgress {
  private readonly positions = new Map<string, string | null>();
  private readonly waiters = new Set<Waiter>();
  private pollTimer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  /** When the checkpoint table was last read (ms since epoch; 0: never). */
  private refreshedAt = 0;
  private readonly stopListening: () => void;
  private readonly advanceListeners = new Set<(projection: string, position: string, committed: boolean) => void>();
  /** When each set of read models was last announced as waited on (performance.now()). */
  private readonly waitAnnounced = new Map<string, number>();

  constructor(
    private readonly orm: MikroORM,
    private readonly log: Pick<GlobalEventLog, 'comparePositions' | 'isValidPosition' | 'headPosition'>,
    private readonly notifications: Notifications,
    private readonly logger: Logger,
    private readonly announceWaitAfterMs = ANNOUNCE_WAIT_AFTER_MS,
  ) {
    this.stopListening = notifications.listen(CHANNEL_CHECKPOINTS, (payload) => this.onAnnouncement(payload));
  }

  isValidPosition(value: string): boolean {
    return this.log.isValidPosition(value);
  }

  async isBeyondHead(position: string): Promise<boolean> {
    return this.log.comparePositions(position, await this.log.headPosition()) > 0;
  }

  /**
   * Called by projectors in this process after each checkpoint move: `committed` (the default) when a batch
   * committed it, false when the projection only skipped events of other types (it wrote nothing).
   */
  announce(projection: string, position: string, committed = true): void {
    this.advance(projection, position, committed);
    this.settle();
  }

  async waitFor(projections: readonly string[], position: string, timeoutMs: number): Promise<boolean> {
    if (this.satisfied(projections, position)) return true;
    // Announcements keep the positions current; the table is read again only when what we know may be
    // stale (never read, or not for a poll interval), and one read serves every request waiting meanwhile.
    const stale = Date.now() - this.refreshedAt > POLL_MS;
    if (timeoutMs <= 0) {
      // A look, not a wait: with what the table says if that may be newer.
      if (stale) await this.refresh();
      return this.satisfied(projections, position);
    }
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const announcing = timeoutMs > this.announceWaitAfterMs ? setTimeout(() => this.announceWait(projections), this.announceWaitAfterMs) : null;
      const waiter: Waiter = { projections, position, resolve: (ok) => finish(ok) };
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        if (announcing) clearTimeout(announcing);
        if (!this.waiters.delete(waiter)) return;
        if (this.waiters.size === 0) this.stopPolling();
        resolve(ok);
      };
      // Waiting from now on, so the announcement of the commit wakes it whenever it comes; the table is read
      // meanwhile when stale, never in front of the wait.
      this.waiters.add(waiter);
      this.startPolling();
      if (stale) void this.refresh().then(() => this.settle());
    });
  }

  /** Tells the projector processes that a read waits on `projections` (see ANNOUNCE_WAIT_AFTER_MS). */
  private announceWait(projections: readonly string[]): void {
    const key = projections.join(',');
    const now = performance.now();
    const last = this.waitAnnounced.get(key);
    if (last !== undefined && now - last < this.announceWaitAfterMs) return;
    if (this.waitAnnounced.size > 1_000) this.waitAnnounced.clear();
    this.waitAnnounced.set(key, now);
    this.notifications.notify(CHANNEL_READ_WAITING, JSON.stringify({ projections })).catch((err: unknown) => {
      this.logger.debug({ err }, 'could not announce a waiting read; the read models catch up within their hold');
    });
  }

  close(): void {
    this.stopListening();
    this.stopPolling();
    for (const waiter of [...this.waiters]) waiter.resolve(false);
  }

  private onAnnouncement(payload: string): void {
    try {
      // One projection's commit, or the skips of several at once ({positions: {name: position}}).
      const { projection, position, positions } = JSON.parse(payload) as { projection?: unknown; position?: unknown; positions?: unknown };
      if (typeof projection === 'string' && typeof position === 'string') this.advance(projection, position, true);
      if (typeof positions === 'object' && positions !== null) {
        for (const [name, at] of Object.entries(positions)) if (typeof at === 'string') this.advance(name, at, false);
      }
    } catch {
      // An empty payload (the listener reconnected: announcements may have been lost) or junk: read the table.
      void this.refresh().then(() => this.settle());
      return;
    }
    this.settle();
  }

  /**
   * Told whenever a projection's known position moves (here or, through NOTIFY, in another process); `committed`
   * is false for a move past events of other types only (its read model did not change), true otherwise (and
   * for what a read of the table finds, which may cover commits whose announcement was lost).
   */
  onAdvance(listener: (projection: string, position: string, committed: boolean) => void): () => void {
    this.advanceListeners.add(listener);
    return () => this.advanceListeners.delete(listener);
  }

  /** Told when a batch of `projection` committed (here or in another process), not when it only moved past other events. */
  onCommit(projection: string, listener: () => void): () => void {
    return this.onAdvance((name, _position, committed) => {
      if (name === projection && committed) listener();
    });
  }

  private advance(projection: string, position: string | null, committed: boolean): void {
    const known = this.positions.get(projection) ?? null;
    if (position === null || this.log.comparePositions(position, known) <= 0) return;
    this.positions.set(projection, position);
    for (const listener of this.advanceListeners) listener(projection, position, committed);
  }

  private satisfied(projections: readonly string[], position: string): boolean {
    return projections.every((name) => this.log.comparePositions(this.positions.get(name) ?? null, position) >= 0);
  }

  private settle(): void {
    for (const waiter of [...this.waiters]) {
      if (this.satisfied(waiter.projections, waiter.position)) waiter.resolve(true);
    }
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.readCheckpoints().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async readCheckpoints(): Promise<void> {
    const startedAt = Date.now();
    try {
      const rows = await this.orm.em.fork().execute<{ name: string; position: string | null }[]>('SELECT name, position FROM projection_checkpoints');
      for (const row of rows) this.advance(row.name, row.position, true);
      this.refreshedAt = startedAt;
    } catch (err) {
      this.logger.warn({ err }, 'could not read projection checkpoints');
    }
  }

  private startPolling(): void {
    if (this.pollTimer) return;
    const tick = async () => {
      await this.refresh();
      this.settle();
      if (this.waiters.size > 0) this.pollTimer = setTimeout(tick, POLL_MS);
      else this.pollTimer = null;
    };
    this.pollTimer = setTimeout(tick, POLL_MS);
  }

  private stopPolling(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }
}
