import type pg from 'pg';
import { lagBetween } from '../../projectors/projector-host.ts';
import type { ProjectionStatus } from '../../infra/readmodels/projection-status.ts';

export interface DashboardData {
  generatedAt: string;
  head: string | null;
  /** Events appended per second over the last minute or so (null until two samples exist, or on a store whose positions are not countable). */
  eventsPerSecond: number | null;
  projections: Pick<ProjectionStatus, 'name' | 'lag' | 'parked' | 'served' | 'updatedAt'>[];
  parkedTotal: number;
  queues: { name: string; depth: number; detail: string }[];
  recentFailures: { kind: string; id: string; what: string; error: string; at: string }[];
}

export interface DashboardSources {
  pool: pg.Pool;
  statuses(): Promise<{ head: string | null; projections: ProjectionStatus[] }>;
}

const RATE_WINDOW_MS = 60_000;

/**
 * What the console's dashboard shows: projector lag, parked events, queue depths, the rate of events and
 * recent failures. The rate comes from samples of the head of the log taken on each view (and by a timer
 * while the console runs), over about the last minute.
 */
export class Dashboard {
  private readonly samples: { at: number; head: string | null }[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sources: DashboardSources,
    sampleEveryMs = 5_000,
  ) {
    this.timer = setInterval(() => void this.sample().catch(() => undefined), sampleEveryMs);
    this.timer.unref();
  }

  async data(): Promise<DashboardData> {
    const { head, projections } = await this.sources.statuses();
    this.remember(head);
    const [queue, parked, failures] = await Promise.all([
      this.sources.pool.query<{ ready: string; waiting: string; leased: string }>(
        `SELECT count(*) FILTER (WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())) AS ready,
                count(*) FILTER (WHERE due_at > now()) AS waiting,
                count(*) FILTER (WHERE lease_until >= now()) AS leased
         FROM workflow_execution_queue`,
      ),
      this.sources.pool.query<{ id: string; projection: string; event_type: string; error: string; parked_at: Date }>(
        `SELECT id, projection, event_type, error, parked_at FROM parked_events WHERE resolved_at IS NULL ORDER BY parked_at DESC LIMIT 10`,
      ),
      this.sources.pool.query<{ id: string; organization_id: string; error: { code?: string; message?: string } | null; ended_at: Date }>(
        `SELECT id, organization_id, error, ended_at FROM workflow_executions WHERE status = 'failed' AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT 10`,
      ),
    ]);
    const counts = queue.rows[0] ?? { ready: '0', waiting: '0', leased: '0' };
    const recentFailures = [
      ...parked.rows.map((row) => ({
        kind: 'parked event',
        id: String(row.id),
        what: `${row.projection}: ${row.event_type}`,
        error: row.error,
        at: row.parked_at.toISOString(),
      })),
      ...failures.rows.map((row) => ({
        kind: 'failed execution',
        id: row.id,
        what: `organization ${row.organization_id}`,
        error: row.error ? `${row.error.code ?? ''} ${row.error.message ?? ''}`.trim() : 'failed',
        at: row.ended_at.toISOString(),
      })),
    ]
      .sort((a, b) => (a.at < b.at ? 1 : -1))
      .slice(0, 10);
    return {
      generatedAt: new Date().toISOString(),
      head,
      eventsPerSecond: this.rate(),
      projections: projections.map(({ name, lag, parked: count, served, updatedAt }) => ({ name, lag, parked: count, served, updatedAt })),
      parkedTotal: projections.reduce((sum, p) => sum + p.parked, 0),
      queues: [
        { name: 'workflow executions ready', depth: Number(counts.ready), detail: 'due now, waiting for a runner' },
        { name: 'workflow executions waiting', depth: Number(counts.waiting), detail: 'waits and retries due later' },
        { name: 'workflow executions running', depth: Number(counts.leased), detail: 'leased by a runner' },
      ],
      recentFailures,
    };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const { head } = await this.sources.statuses();
    this.remember(head);
  }

  private remember(head: string | null): void {
    const now = Date.now();
    this.samples.push({ at: now, head });
    while (this.samples.length > 2 && now - this.samples[0]!.at > RATE_WINDOW_MS) this.samples.shift();
  }

  private rate(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 1_000) return null;
    const appended = lagBetween(first.head, last.head);
    if (appended === null) return null;
    return Math.round((appended / ((last.at - first.at) / 1000)) * 10) / 10;
  }
}
