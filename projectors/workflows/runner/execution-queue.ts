import type pg from 'pg';
import { AppendBatcher } from '../../../infra/eventstore/postgres/append-batcher.ts';
import { isActive, type Execution } from '../../../domain/workflows/execution.ts';

export interface ClaimedExecution {
  executionId: string;
  organizationId: string;
  /** When the execution became due (a takeover: when it was due before its last runner lost it). */
  dueAt: Date;
  /** The revision of the execution's stream that due time was known at. */
  revision: number;
}

/** How a runner lets an execution go. */
export type Release =
  /** It knows the state it left (it just wrote it): the queue takes its due time at once. */
  | { executionId: string; known: { dueAt: Date | null; revision: number } }
  /** It does not (a conflict, an error): the row stays as the log says, claimable again after `holdMs`. */
  | { executionId: string; known: null; holdMs: number };

/** When an execution is due in the queue, as its state says: never while paused or once ended. */
export function queueDueOf(state: Execution): Date | null {
  return isActive(state) && state.status !== 'paused' ? new Date(state.dueAt) : null;
}

/**
 * The runner's side of workflow_execution_queue (the executions projection writes when each execution is
 * due, from the log). Runners claim due rows with a lease (FOR UPDATE SKIP LOCKED: concurrent runners take
 * different rows), renew the leases they hold together, and release them together, recording the due time
 * of the state they just wrote (newer knowledge wins, by revision). A runner that dies holds its rows until
 * the lease runs out; then any runner takes them over.
 *
 * A row is claimable from GREATEST(due_at, lease_until) on (GREATEST ignores a NULL lease): one indexed
 * expression, so a claim walks only rows that are claimable, never the leased ones.
 */
export class ExecutionQueue {
  /** Releases grouped like appends (the event store's batcher): one statement lets many executions go. */
  private readonly releases = new AppendBatcher<Release, void>(
    async (batch) => {
      try {
        await this.releaseAll(batch.map((entry) => entry.request));
        for (const entry of batch) entry.resolve();
      } catch (err) {
        for (const entry of batch) entry.reject(err);
      }
    },
    1_000,
    1,
  );

  constructor(
    private readonly pool: pg.Pool,
    private readonly owner: string,
  ) {}

  /**
   * Leases due executions (at most `limit`), earliest first. With `ahead`, those due up to then as well (a
   * claim ahead of the due time): never a lease another runner still holds, only one that ran out by `now`.
   * A lease lasts `leaseMs` from now, or from the due time for one claimed ahead of it (held until due
   * without renewals; a runner that dies meanwhile lets it go `leaseMs` after it was due).
   */
  async claim(now: Date, limit: number, leaseMs: number, ahead?: Date): Promise<ClaimedExecution[]> {
    const { rows } = await this.pool.query<{ execution_id: string; organization_id: string; due_at: Date; revision: number }>(
      `UPDATE workflow_execution_queue q
          SET lease_owner = $1, lease_until = GREATEST($2::timestamptz, q.due_at) + make_interval(secs => $4::double precision / 1000)
         FROM (SELECT execution_id FROM workflow_execution_queue
                WHERE due_at IS NOT NULL AND GREATEST(due_at, lease_until) <= COALESCE($5::timestamptz, $2::timestamptz)
                  AND (lease_until IS NULL OR lease_until <= $2::timestamptz)
                ORDER BY GREATEST(due_at, lease_until)
                LIMIT $3
                FOR UPDATE SKIP LOCKED) due
        WHERE q.execution_id = due.execution_id
    RETURNING q.execution_id, q.organization_id, q.due_at, q.revision`,
      [this.owner, now, limit, leaseMs, ahead ?? null],
    );
    return rows.map((row) => ({ executionId: row.execution_id, organizationId: row.organization_id, dueAt: row.due_at, revision: row.revision }));
  }

  /** Keeps the leases while their steps run; answers the executions whose lease was lost (taken over after running out). */
  async renew(executionIds: string[], leaseMs: number): Promise<string[]> {
    if (executionIds.length === 0) return [];
    const { rows } = await this.pool.query<{ execution_id: string }>(
      `UPDATE workflow_execution_queue SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE execution_id = ANY($1::uuid[]) AND lease_owner = $2
    RETURNING execution_id`,
      [executionIds, this.owner, leaseMs],
    );
    const kept = new Set(rows.map((row) => row.execution_id));
    return executionIds.filter((id) => !kept.has(id));
  }

  /**
   * Done for now. Releases that arrive while one is being written go together in the next statement (as
   * appends do in a group commit): under load, one round trip lets many executions go.
   */
  release(release: Release): Promise<void> {
    return this.releases.submit(release, 1);
  }

  private async releaseAll(batch: Release[]): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_execution_queue q
          SET due_at = CASE WHEN r.revision > q.revision THEN r.due_at ELSE q.due_at END,
              revision = GREATEST(q.revision, COALESCE(r.revision, q.revision)),
              lease_owner = NULL,
              lease_until = CASE WHEN r.revision IS NULL THEN now() + make_interval(secs => r.hold_ms / 1000) END
         FROM unnest($1::uuid[], $2::timestamptz[], $3::integer[], $4::double precision[]) AS r(execution_id, due_at, revision, hold_ms)
        WHERE q.execution_id = r.execution_id AND q.lease_owner = $5`,
      [
        batch.map((r) => r.executionId),
        batch.map((r) => r.known?.dueAt ?? null),
        batch.map((r) => r.known?.revision ?? null),
        batch.map((r) => (r.known ? 0 : r.holdMs)),
        this.owner,
      ],
    );
  }

  /**
   * When something becomes claimable next (null: nothing scheduled), leases counted, through the index.
   * Callers sleep until then, or until woken, or a poll.
   */
  async nextDueAt(): Promise<Date | null> {
    const { rows } = await this.pool.query<{ at: Date }>(
      `SELECT GREATEST(due_at, lease_until) AS at FROM workflow_execution_queue
        WHERE due_at IS NOT NULL ORDER BY GREATEST(due_at, lease_until) LIMIT 1`,
    );
    return rows[0]?.at ?? null;
  }

  /** Executions due now that no runner holds (counted up to `cap`, through the index), for the metric. */
  async dueNotClaimed(now: Date, cap = 100_000): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM workflow_execution_queue
        WHERE due_at IS NOT NULL AND GREATEST(due_at, lease_until) <= $1 LIMIT $2) due`,
      [now, cap],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Executions waiting in the queue (for health and the bench). */
  async depth(): Promise<{ due: number; scheduled: number }> {
    const { rows } = await this.pool.query<{ due: string; scheduled: string }>(
      `SELECT count(*) FILTER (WHERE due_at <= now()) AS due, count(*) AS scheduled FROM workflow_execution_queue WHERE due_at IS NOT NULL`,
    );
    return { due: Number(rows[0]?.due ?? 0), scheduled: Number(rows[0]?.scheduled ?? 0) };
  }

  /** Waits for the releases under way (on stop: the pool closes after). */
  async drain(): Promise<void> {
    await this.releases.flushed();
  }
}
