import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { analyticsRow, metrics, type AnalyticsFact, type Metric } from '../../domain/analytics/analytics-facts.ts';
import type { AnalyticsWriter } from '../../projectors/analytics/ports.ts';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { AnalyticsReader, AnalyticsScope, Cohort, Interval, SeriesPoint, WorkflowOutcomes } from '../../query-api/analytics/ports.ts';
import { cohortsFrom } from '../../query-api/analytics/retention.ts';
import { DependencyUnavailableError } from '../resilience.ts';
import { ident, raw, sql, type Sql } from './clickhouse-sql.ts';

/**
 * Analytics on ClickHouse, within what both Debian's 18.16 (CI) and current servers accept: one
 * ReplacingMergeTree keyed by the event id (ORDER BY ends with it), so a fact inserted twice is one row once
 * merged, and reads count by event id so they count it once before that too. No query parameters on 18.16: every
 * value goes through the `sql` helper. Instants are kept as DateTime (seconds, for partitions and buckets)
 * and as UInt64 milliseconds (for exact range bounds).
 */
export class ClickHouseAnalytics implements AnalyticsWriter, AnalyticsReader, GenerationalStore<AnalyticsWriter> {
  private readonly client: ClickHouseClient;

  /**
   * @param generation the generation read and written: the served one (a function, so readers follow a
   *   rebuild's switch), or a fixed one for a rebuild's writer.
   */
  constructor(
    url: string | ClickHouseClient,
    private readonly database: string,
    private readonly generation: () => number = () => 1,
  ) {
    this.client =
      typeof url === 'string'
        ? createClient({
            url,
            request_timeout: 60_000,
            // Without it an error half-way through a result arrives as a truncated stream, not an error.
            clickhouse_settings: { wait_end_of_query: 1 },
          })
        : url;
    ident(database);
  }

  private get table(): Sql {
    return this.tableOf(this.generation());
  }

  /** Generation 1 keeps the original name; later generations (rebuilds) get a suffix. */
  private tableOf(generation: number): Sql {
    if (!Number.isInteger(generation) || generation < 1) throw new TypeError(`not a generation: ${generation}`);
    return sql`${ident(this.database)}.${ident(generation === 1 ? 'analytics_events' : `analytics_events_g${generation}`)}`;
  }

  async migrate(): Promise<void> {
    await this.ensureGeneration(this.generation());
  }

  async drop(): Promise<void> {
    await this.dropGeneration(this.generation());
  }

  async dropGeneration(generation: number): Promise<void> {
    await this.command(sql`DROP TABLE IF EXISTS ${this.tableOf(generation)}`);
  }

  /** Readers pick the generation's table per query: nothing to move. */
  async promoteGeneration(): Promise<void> {}

  writerFor(generation: number): ClickHouseAnalytics {
    return new ClickHouseAnalytics(this.client, this.database, () => generation);
  }

  async ensureGeneration(generation: number): Promise<void> {
    await this.command(sql`CREATE DATABASE IF NOT EXISTS ${ident(this.database)}`);
    await this.command(sql`
      CREATE TABLE IF NOT EXISTS ${this.tableOf(generation)} (
        event_id String, tenant_id String, type String, metric String,
        occurred_at DateTime, occurred_ms UInt64,
        actor_type String, actor_id String, user_id String,
        workflow_id String, execution_id String, contact_id String, step_type String,
        quantity UInt64
      ) ENGINE = ReplacingMergeTree()
      PARTITION BY toYYYYMM(occurred_at)
      ORDER BY (tenant_id, occurred_at, event_id)`);
  }

  /** Throws (DependencyUnavailableError when unreachable) unless the server answers. */
  async ping(): Promise<void> {
    const result = await this.client.ping();
    if (!result.success) throw new DependencyUnavailableError('clickhouse', String((result as { error?: Error }).error?.message ?? 'no answer'));
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async insert(facts: readonly AnalyticsFact[]): Promise<void> {
    if (facts.length === 0) return;
    const values = facts.map((fact) => {
      const ms = Date.parse(fact.occurredAt);
      // Seconds for the DateTime column (partitions, buckets), milliseconds for exact range bounds.
      return { ...analyticsRow(fact), occurred_at: Math.floor(ms / 1000), occurred_ms: ms };
    });
    await this.call(() => this.client.insert({ table: this.table.text, values, format: 'JSONEachRow' }));
  }

  // Reads count each event once however often it was inserted (a replay, a retried batch), before merges
  // collapse the copies: by event id. On 18.16, FINAL merges on one thread and costs several times more than
  // grouping by the id (or counting distinct ids); DISTINCT and min() need neither.

  async totals(scope: AnalyticsScope): Promise<Record<Metric, number>> {
    const rows = await this.rows<{ m: Metric; value: string }>(sql`
      SELECT m, sum(q) AS value FROM (
        SELECT event_id, any(metric) AS m, any(quantity) AS q FROM ${this.table}
        WHERE ${this.where(scope)} AND metric != '' GROUP BY event_id
      ) GROUP BY m`);
    const totals = Object.fromEntries(metrics.map((metric) => [metric, 0])) as Record<Metric, number>;
    for (const row of rows) if (row.m in totals) totals[row.m] = Number(row.value);
    return totals;
  }

  async series(scope: AnalyticsScope, metric: Metric | 'events', interval: Interval, timezone: string): Promise<SeriesPoint[]> {
    const rows = await this.rows<{ bucket: string; value: string }>(
      metric === 'events'
        ? sql`
          SELECT toString(${bucketOf(interval, timezone, 'occurred_at')}) AS bucket, uniqExact(event_id) AS value FROM ${this.table}
          WHERE ${this.where(scope)} GROUP BY bucket ORDER BY bucket`
        : sql`
          SELECT toString(${bucketOf(interval, timezone, 'at')}) AS bucket, sum(q) AS value FROM (
            SELECT event_id, any(occurred_at) AS at, any(quantity) AS q FROM ${this.table}
            WHERE ${this.where(scope)} AND metric = ${metric} GROUP BY event_id
          ) GROUP BY bucket ORDER BY bucket`,
    );
    return rows.map((row) => ({ bucket: row.bucket, value: Number(row.value) }));
  }

  async workflowOutcomes(scope: AnalyticsScope, limit: number): Promise<WorkflowOutcomes[]> {
    const rows = await this.rows<{ workflow: string; started: string; completed: string; failed: string }>(sql`
      SELECT workflow,
             sumIf(q, m = 'executions') AS started,
             sumIf(q, m = 'executions_completed') AS completed,
             sumIf(q, m = 'executions_failed') AS failed
      FROM (
        SELECT event_id, any(workflow_id) AS workflow, any(metric) AS m, any(quantity) AS q FROM ${this.table}
        WHERE ${this.where(scope)} AND metric IN ${['executions', 'executions_completed', 'executions_failed']} AND workflow_id != ''
        GROUP BY event_id
      )
      GROUP BY workflow ORDER BY started DESC, workflow LIMIT ${Math.trunc(limit)}`);
    return rows.map((row) => ({
      workflowId: row.workflow,
      started: Number(row.started),
      completed: Number(row.completed),
      failed: Number(row.failed),
    }));
  }

  async eventCounts(scope: AnalyticsScope): Promise<{ type: string; count: number }[]> {
    const rows = await this.rows<{ type: string; count: string }>(sql`
      SELECT type, uniqExact(event_id) AS count FROM ${this.table} WHERE ${this.where(scope)} GROUP BY type ORDER BY count DESC, type`);
    return rows.map((row) => ({ type: row.type, count: Number(row.count) }));
  }

  async retention(scope: AnalyticsScope, interval: Interval, timezone: string): Promise<Cohort[]> {
    const bucket = bucketOf(interval, timezone, 'occurred_at');
    const table = this.table;
    const joined = await this.rows<{ user_id: string; bucket: string }>(sql`
      SELECT user_id, toString(min(${bucket})) AS bucket FROM ${table}
      WHERE ${this.where(scope)} AND metric = 'users_joined' AND user_id != '' GROUP BY user_id`);
    const active = await this.rows<{ user_id: string; bucket: string }>(sql`
      SELECT DISTINCT user_id, toString(${bucket}) AS bucket FROM ${table}
      WHERE ${this.where(scope)} AND user_id != ''`);
    return cohortsFrom(
      joined.map((row) => ({ userId: row.user_id, bucket: row.bucket })),
      active.map((row) => ({ userId: row.user_id, bucket: row.bucket })),
      interval,
    );
  }

  async *facts(scope: AnalyticsScope): AsyncIterable<AnalyticsFact> {
    const result = await this.call(() =>
      this.client.query({
        query: sql`
          SELECT event_id, tenant_id, type, metric, occurred_ms, actor_type, actor_id, user_id, workflow_id, execution_id,
                 contact_id, step_type, quantity
          FROM ${this.table} FINAL WHERE ${this.where(scope)} ORDER BY occurred_at, occurred_ms, event_id`.text,
        format: 'JSONEachRow',
      }),
    );
    for await (const rows of result.stream()) {
      for (const row of rows) {
        const r = row.json<Record<string, string>>();
        yield {
          eventId: r.event_id!,
          tenantId: r.tenant_id!,
          type: r.type!,
          metric: r.metric as Metric | '',
          occurredAt: new Date(Number(r.occurred_ms)).toISOString(),
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
    }
  }

  /** The tenant and the range: seconds for partition pruning, milliseconds for the exact bounds. */
  private where(scope: AnalyticsScope): Sql {
    const from = Date.parse(scope.from);
    const to = Date.parse(scope.to);
    return sql`tenant_id = ${scope.tenantId}
      AND occurred_at >= ${new Date(from)} AND occurred_at <= ${new Date(to)}
      AND occurred_ms >= ${from} AND occurred_ms < ${to}`;
  }

  private async rows<T>(query: Sql): Promise<T[]> {
    const result = await this.call(() => this.client.query({ query: query.text, format: 'JSONEachRow' }));
    return result.json<T>();
  }

  private async command(query: Sql): Promise<void> {
    await this.call(() => this.client.command({ query: query.text }));
  }

  /** Unreachable server: an outage (the projector backs off, the query side answers 503), not a bad event. */
  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (
        code === 'ECONNREFUSED' ||
        code === 'ECONNRESET' ||
        code === 'ETIMEDOUT' ||
        /socket hang up|Timeout error/i.test(String((err as Error).message))
      ) {
        throw new DependencyUnavailableError('clickhouse', (err as Error).message);
      }
      throw err;
    }
  }
}

/** The bucket's first local date in `timezone` of the DateTime `column`, as a Date (weeks start on Monday). */
function bucketOf(interval: Interval, timezone: string, column: 'occurred_at' | 'at'): Sql {
  const at = raw(column);
  switch (interval) {
    case 'day':
      return sql`toDate(${at}, ${timezone})`;
    case 'week':
      return sql`toMonday(${at}, ${timezone})`;
    case 'month':
      return sql`toStartOfMonth(${at}, ${timezone})`;
  }
}
