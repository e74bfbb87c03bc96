import type pg from 'pg';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../../command-api/command-handling.ts';
import { nextOccurrence, occurrences } from '../../../domain/workflows/schedule.ts';
import { workflowDecider, workflowStream, type Workflow, type WorkflowEvent } from '../../../domain/workflows/workflow.ts';
import { sleep } from '../../../infra/resilience.ts';
import { retryPolicies, retrying } from '../../../infra/retry.ts';
import type { ScheduleFirer } from './schedule-firer.ts';

export interface SchedulerOptions {
  /** The longest the scheduler sleeps between looks. */
  pollMs: number;
  /** How long a scheduler holds a schedule it is firing (another takes over if it dies). */
  leaseMs: number;
}

/**
 * Fires scheduled workflows. Due schedules are claimed with a lease (autocommit: no transaction is held
 * while executions start), fired, and moved to their next firing after now. Firings missed while nothing ran
 * (downtime) are made late if they fall within the workflow's catch-up window, and skipped (logged) beyond it.
 * Several schedulers may run; each firing starts each execution once whatever happens (see ScheduleFirer).
 */
export class Scheduler {
  private readonly controller = new AbortController();
  private loop: Promise<void> | null = null;
  readonly stats = { fired: 0, missed: 0 };

  constructor(
    private readonly pool: pg.Pool,
    private readonly handler: CommandHandler,
    private readonly firer: ScheduleFirer,
    private readonly logger: Logger,
    private readonly options: SchedulerOptions,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    this.loop ??= (async () => {
      const signal = this.controller.signal;
      while (!signal.aborted) {
        // A failed look (the database unreachable) is waited out under the outage policy, until stopped.
        await retrying(retryPolicies.outage, () => this.fireDueOrWait(), {
          signal,
          retryIf: () => !signal.aborted,
          onRetry: (err) => this.logger.warn({ err }, 'scheduler: tick failed; retrying'),
        }).catch((err: unknown) => {
          if (!signal.aborted) throw err;
        });
      }
    })();
  }

  /** Fires what is due; when nothing was, sleeps until the next firing is due (at most pollMs). */
  private async fireDueOrWait(): Promise<void> {
    const fired = await this.tick();
    if (fired > 0) return;
    const { rows } = await this.pool.query<{ next: Date | null }>("SELECT min(next_fire_at) AS next FROM workflow_schedules WHERE status = 'active'");
    const next = rows[0]?.next;
    const wait = next ? Math.max(0, next.getTime() - this.now().getTime()) : this.options.pollMs;
    await sleep(Math.min(this.options.pollMs, Math.max(wait, 10)), this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  /** Fires what is due now; answers how many schedules it handled. */
  async tick(now = this.now()): Promise<number> {
    const { rows } = await this.pool.query<{ workflow_id: string; organization_id: string; next_fire_at: Date }>(
      `UPDATE workflow_schedules s SET lease_until = $1::timestamptz + make_interval(secs => $2::double precision / 1000)
        WHERE s.workflow_id IN (
              SELECT workflow_id FROM workflow_schedules
               WHERE status = 'active' AND next_fire_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
               ORDER BY next_fire_at LIMIT 20 FOR UPDATE SKIP LOCKED)
    RETURNING s.workflow_id, s.organization_id, s.next_fire_at`,
      [now, this.options.leaseMs],
    );
    for (const row of rows) {
      const { state } = await this.handler.load<Workflow, WorkflowEvent>(workflowStream(row.workflow_id), workflowDecider);
      const trigger = state.status === 'active' ? state.versions[state.version]!.trigger : null;
      if (!trigger || trigger.type !== 'schedule') {
        // Paused, deleted or no longer scheduled: the projection records that; leave the row to it.
        await this.pool.query('UPDATE workflow_schedules SET lease_until = NULL WHERE workflow_id = $1', [row.workflow_id]);
        continue;
      }
      const due = [row.next_fire_at, ...occurrences(trigger.cron, trigger.timezone, row.next_fire_at, now, 10_000)];
      const windowStart = now.getTime() - trigger.catchUpWindowMinutes * 60_000;
      let last: Date | null = null;
      let missed = 0;
      for (const fireAt of due) {
        if (fireAt.getTime() < windowStart) {
          missed++;
          continue;
        }
        await this.firer.fire({ id: row.workflow_id, organizationId: row.organization_id }, trigger, fireAt);
        this.stats.fired++;
        last = fireAt;
      }
      if (missed > 0) {
        this.stats.missed += missed;
        this.logger.warn(
          { workflowId: row.workflow_id, missed, catchUpWindowMinutes: trigger.catchUpWindowMinutes },
          'scheduler: firings missed beyond the catch-up window were skipped (POST /workflows/{id}/backfill makes them)',
        );
      }
      await this.pool.query(
        'UPDATE workflow_schedules SET next_fire_at = $2, last_fired_at = coalesce($3, last_fired_at), lease_until = NULL WHERE workflow_id = $1',
        [row.workflow_id, nextOccurrence(trigger.cron, trigger.timezone, now), last],
      );
    }
    return rows.length;
  }
}
