import type pg from 'pg';
import { analyticsRow, metrics, type AnalyticsFact, type Metric } from '../../domain/analytics/analytics-facts.ts';
import type { AnalyticsWriter } from '../../projectors/analytics/ports.ts';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { AnalyticsReader, AnalyticsScope, Cohort, Interval, SeriesPoint, WorkflowOutcomes } from '../../query-api/analytics/ports.ts';
import { cohortsFrom } from '../../query-api/analytics/retention.ts';

/** Advisory lock key serializing the analytics schema's migration (see the event store's and the ORM's). */
const ANALYTICS_SCHEMA_LOCK = 7_240_004;

/**
 * Analytics on PostgreSQL: the embedded default and deployments without ClickHouse. One row per event (the
 * event id is the key, so a replay inserts nothing new); every query is parameterized.
 */
export class PostgresAnalytics implements AnalyticsWriter, AnalyticsReader, GenerationalStore<AnalyticsWriter> {
  /**
   * @param generation the generation read and written: the served one (a function, so readers follow a
   *   rebuild's switch), or a fixed one for a rebuild's writer.
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly generation: () => number = () => 1,
  ) {}

  private get table(): string {
    return tableOf(this.generation());
  }

  async migrate(): Promise<void> {
    await this.ensureGeneration(this.generation());
  }

  async drop(): Promise<void> {
    await this.dropGeneration(this.generation());
  }

  async ensureGeneration(generation: number): Promise<void> {
    const table = tableOf(generation);
    // Serialized across processes: two starting at once would race on CREATE TABLE IF NOT EXISTS.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [ANALYTICS_SCHEMA_LOCK]);
      await this.createGeneration(client, table);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async createGeneration(client: pg.PoolClient, table: string): Promise<void> {
    for (const statement of analyticsTableSql(table)) await client.query(statement);
  }

  async dropGeneration(generation: number): Promise<void> {
    await this.pool.query(`DROP TABLE IF EXISTS ${tableOf(generation)}`);
  }

  /** Readers pick the generation's table per query: nothing to move. */
  async promoteGeneration(): Promise<void> {}

  writerFor(generation: number): PostgresAnalytics {
    return new PostgresAnalytics(this.pool, () => generation);
  }

  async insert(facts: readonly AnalyticsFact[]): Promise<void> {
    if (facts.length === 0) return;
    await this.pool.query(
      `INSERT INTO ${this.table} (event_id, tenant_id, type, metric, occurred_at, actor_type, actor_id, user_id, workflow_id,
                                  execution_id, contact_id, step_type, quantity)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(event_id uuid, tenant_id uuid, type text, metric text, occurred_at timestamptz,
            actor_type text, actor_id text, user_id text, workflow_id text, execution_id text, contact_id text, step_type text, quantity bigint)
       ON CONFLICT (event_id) DO NOTHING`,
      [JSON.stringify(facts.map(analyticsRow))],
    );
  }

  private scoped(scope: AnalyticsScope): { where: string; values: unknown[] } {
    return { where: 'tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3', values: [scope.tenantId, scope.from, scope.to] };
  }

  async totals(scope: AnalyticsScope): Promise<Record<Metric, number>> {
    const { where, values } = this.scoped(scope);
    const { rows } = await this.pool.query<{ metric: Metric; value: string }>(
      `SELECT metric, sum(quantity) AS value FROM ${this.table} WHERE ${where} AND metric <> '' GROUP BY metric`,
      values,
    );
    const totals = Object.fromEntries(metrics.map((metric) => [metric, 0])) as Record<Metric, number>;
    for (const row of rows) if (row.metric in totals) totals[row.metric] = Number(row.value);
    return totals;
  }

  async series(scope: AnalyticsScope, metric: Metric | 'events', interval: Interval, timezone: string): Promise<SeriesPoint[]> {
    const { where, values } = this.scoped(scope);
    const filter = metric === 'events' ? '' : ' AND metric = $6';
    const value = metric === 'events' ? 'count(*)' : 'sum(quantity)';
    const { rows } = await this.pool.query<{ bucket: string; value: string }>(
      `SELECT ${bucketOf('$4', '$5')} AS bucket, ${value} AS value FROM ${this.table}
       WHERE ${where}${filter} GROUP BY 1 ORDER BY 1`,
      [...values, interval, timezone, ...(metric === 'events' ? [] : [metric])],
    );
    return rows.map((row) => ({ bucket: row.bucket, value: Number(row.value) }));
  }

  async workflowOutcomes(scope: AnalyticsScope, limit: number): Promise<WorkflowOutcomes[]> {
    const { where, values } = this.scoped(scope);
    const { rows } = await this.pool.query<{ workflow_id: string; started: string; completed: string; failed: string }>(
      `SELECT workflow_id,
              coalesce(sum(quantity) FILTER (WHERE metric = 'executions'), 0) AS started,
              coalesce(sum(quantity) FILTER (WHERE metric = 'executions_completed'), 0) AS completed,
              coalesce(sum(quantity) FILTER (WHERE metric = 'executions_failed'), 0) AS failed
       FROM ${this.table}
       WHERE ${where} AND metric IN ('executions', 'executions_completed', 'executions_failed') AND workflow_id <> ''
       GROUP BY workflow_id ORDER BY started DESC, workflow_id LIMIT $4`,
      [...values, limit],
    );
    return rows.map((row) => ({
      workflowId: row.workflow_id,
      started: Number(row.started),
      completed: Number(row.completed),
      failed: Number(row.failed),
    }));
  }

  async eventCounts(scope: AnalyticsScope): Promise<{ type: string; count: number }[]> {
    const { where, values } = this.scoped(scope);
    const { rows } = await this.pool.query<{ type: string; count: string }>(
      `SELECT type, count(*) AS count FROM ${this.table} WHERE ${where} GROUP BY type ORDER BY count(*) DESC, type`,
      values,
    );
    return rows.map((row) => ({ type: row.type, count: Number(row.count) }));
  }

  async retention(scope: AnalyticsScope, interval: Interval, timezone: string): Promise<Cohort[]> {
    const { where, values } = this.scoped(scope);
    const table = this.table;
    const joined = await this.pool.query<{ user_id: string; bucket: string }>(
      `SELECT user_id, min(${bucketOf('$4', '$5')}) AS bucket FROM ${table}
       WHERE ${where} AND metric = 'users_joined' AND user_id <> '' GROUP BY user_id`,
      [...values, interval, timezone],
    );
    const active = await this.pool.query<{ user_id: string; bucket: string }>(
      `SELECT DISTINCT user_id, ${bucketOf('$4', '$5')} AS bucket FROM ${table} WHERE ${where} AND user_id <> ''`,
      [...values, interval, timezone],
    );
    return cohortsFrom(
      joined.rows.map((row) => ({ userId: row.user_id, bucket: row.bucket })),
      active.rows.map((row) => ({ userId: row.user_id, bucket: row.bucket })),
      interval,
    );
  }

  /** Keyset pages of 5,000: constant memory however long the range. */
  async *facts(scope: AnalyticsScope): AsyncIterable<AnalyticsFact> {
    const table = this.table;
    let after: { at: string; id: string } | null = null;
    for (;;) {
      const result: pg.QueryResult<Record<string, string>> = await this.pool.query<Record<string, string>>(
        `SELECT event_id, tenant_id, type, metric, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS occurred_at,
                occurred_at AS at, actor_type, actor_id, user_id, workflow_id, execution_id, contact_id, step_type, quantity
         FROM ${table}
         WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 ${after ? 'AND (occurred_at, event_id) > ($4::timestamptz, $5::uuid)' : ''}
         ORDER BY occurred_at, event_id LIMIT 5000`,
        [scope.tenantId, scope.from, scope.to, ...(after ? [after.at, after.id] : [])],
      );
      const rows = result.rows;
      for (const r of rows) {
        yield {
          eventId: r.event_id!,
          tenantId: r.tenant_id!,
          type: r.type!,
          metric: r.metric as Metric | '',
          occurredAt: r.occurred_at!,
          actorType: r.actor_type!,
          actorId: r.actor_id!,
          userId: r.user_id!,
          workflowId: r.workflow_id!,
          executionId: r.execution_id!,
          contactId: r.contact_id!,
          stepType: r.step_type!,
          quantity: Number(r.quantity),
        };
      }
      if (rows.length < 5000) return;
      const last: Record<string, string> = rows[rows.length - 1]!;
      after = { at: (last.at as unknown as Date).toISOString(), id: last.event_id! };
    }
  }
}

/** Generation 1 keeps the original name; later generations (rebuilds) get a suffix. */
function tableOf(generation: number): string {
  if (!Number.isInteger(generation) || generation < 1) throw new TypeError(`not a generation: ${generation}`);
  return generation === 1 ? 'analytics_events' : `analytics_events_g${generation}`;
}

/** The bucket's first local date (YYYY-MM-DD) in the zone; date_trunc('week') starts on Monday, as toMonday. */
function bucketOf(intervalParam: string, zoneParam: string): string {
  return `to_char(date_trunc(${intervalParam}::text, occurred_at AT TIME ZONE ${zoneParam}::text), 'YYYY-MM-DD')`;
}

/** The statements that create one generation's table (also part of the schema version: infra/migrations). */
export function analyticsTableSql(table: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
        event_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, type text NOT NULL, metric text NOT NULL,
        occurred_at timestamptz NOT NULL, actor_type text NOT NULL, actor_id text NOT NULL, user_id text NOT NULL,
        workflow_id text NOT NULL, execution_id text NOT NULL, contact_id text NOT NULL, step_type text NOT NULL,
        quantity bigint NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS ${table}_tenant_time ON ${table} (tenant_id, occurred_at)`,
    `CREATE INDEX IF NOT EXISTS ${table}_tenant_metric ON ${table} (tenant_id, metric, occurred_at)`,
  ];
}
