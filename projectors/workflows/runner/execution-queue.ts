import type pg from 'pg';

export interface ClaimedExecution {
  executionId: string;
  organizationId: string;
  dueAt: Date;
}

/**
 * The runner's side of workflow_execution_queue (the executions projection writes when each execution is
 * due). Runners claim due rows with a lease (FOR UPDATE SKIP LOCKED: concurrent runners take different
 * rows), renew it while they work, and release it. A runner that dies holds its rows until the lease runs
 * out; then any runner takes them over.
 */
export class ExecutionQueue {
  constructor(private readonly pool: pg.Pool) {}

  async claim(owner: string, now: Date, limit: number, leaseMs: number): Promise<ClaimedExecution[]> {
    const { rows } = await this.pool.query<{ execution_id: string; organization_id: string; due_at: Date }>(
      `UPDATE workflow_execution_queue q
          SET lease_owner = $1, lease_until = $2::timestamptz + make_interval(secs => $4::double precision / 1000)
        WHERE q.execution_id IN (
              SELECT execution_id FROM workflow_execution_queue
               WHERE due_at IS NOT NULL AND due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
               ORDER BY due_at
               LIMIT $3
               FOR UPDATE SKIP LOCKED)
    RETURNING q.execution_id, q.organization_id, q.due_at`,
      [owner, now, limit, leaseMs],
    );
    return rows.map((row) => ({ executionId: row.execution_id, organizationId: row.organization_id, dueAt: row.due_at }));
  }

  /** Keeps the lease while a step runs; false when it was lost (taken over after running out). */
  async renew(executionId: string, owner: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE workflow_execution_queue SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE execution_id = $1 AND lease_owner = $2`,
      [executionId, owner, leaseMs],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Done for now. The row stays leased a moment (`holdMs`) so the projection can record the execution's
   * new due time before anyone looks again; a row due again sooner is picked up after that.
   */
  async release(executionId: string, owner: string, holdMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_execution_queue SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE execution_id = $1 AND lease_owner = $2`,
      [executionId, owner, holdMs],
    );
  }

  /**
   * About when something becomes claimable next (null: nothing scheduled): the earliest among the first rows
   * by due time (through the index), leases counted. Callers sleep until then, or until woken, or a poll.
   */
  async nextDueAt(): Promise<Date | null> {
    const { rows } = await this.pool.query<{ due_at: Date; lease_until: Date | null }>(
      `SELECT due_at, lease_until FROM workflow_execution_queue WHERE due_at IS NOT NULL ORDER BY due_at LIMIT 64`,
    );
    let next: number | null = null;
    for (const row of rows) {
      const at = Math.max(row.due_at.getTime(), row.lease_until?.getTime() ?? 0);
      next = next === null ? at : Math.min(next, at);
    }
    return next === null ? null : new Date(next);
  }

  /** Executions waiting in the queue (for health and the bench). */
  async depth(): Promise<{ due: number; scheduled: number }> {
    const { rows } = await this.pool.query<{ due: string; scheduled: string }>(
      `SELECT count(*) FILTER (WHERE due_at <= now()) AS due, count(*) AS scheduled FROM workflow_execution_queue WHERE due_at IS NOT NULL`,
    );
    return { due: Number(rows[0]?.due ?? 0), scheduled: Number(rows[0]?.scheduled ?? 0) };
  }
}
