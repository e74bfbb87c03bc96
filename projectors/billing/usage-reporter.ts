import type { MikroORM } from '@mikro-orm/postgresql';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import { BillingRequestRejected, type BillingProvider } from '../../command-api/billing/ports.ts';
import { executeBound, pgArray } from '../../infra/readmodels/orm.ts';
import { counterMetrics, type CounterMetric } from './metering-views.ts';
import { PeriodicPass } from '../../infra/periodic.ts';

/**
 * The Stripe meter each counter is reported to (`event_name`). A Stripe price with a meter of that event
 * name bills it; the catalog's plans have flat monthly prices only today, so nothing is charged for usage
 * until an operator adds such a price to a plan's product. Gauges (contacts, workflows, seats) are limits,
 * not usage to bill, and are not reported.
 */
export const METER_EVENT_NAMES: Readonly<Record<CounterMetric, string>> = {
  executions: 'nexusflow_executions',
  ai_tokens: 'nexusflow_ai_tokens',
};

export interface UsageReporterOptions {
  /** Between two passes. */
  intervalMs: number;
  /**
   * How long after a day ended (at midnight in the organization's zone) its bucket is first reported: room
   * for the projection's lag, so that most days go out once, without corrections.
   */
  settleMs: number;
  /**
   * How far back a day is still reported. Stripe takes meter events timestamped up to 35 calendar days back;
   * a day older than this is left as it is (its period was invoiced long ago).
   */
  maxAgeDays: number;
  /** Meter events sent per pass at most (the rest wait for the next one). */
  batch: number;
}

export const defaultUsageReporterOptions: Omit<UsageReporterOptions, 'intervalMs'> = { settleMs: 3_600_000, maxAgeDays: 34, batch: 500 };

export interface UsagePass {
  /** Meter events recorded in the outbox this pass (a day's first report or a correction). */
  planned: number;
  sent: number;
  /** Refused by Stripe for good (kept with Stripe's message, not sent again). */
  rejected: number;
}

interface Bucket {
  organization_id: string;
  metric: CounterMetric;
  day: string;
  quantity: string;
  reported: string;
  revisions: number;
  customer_id: string;
  timezone: string;
}

interface MeterEventRow {
  identifier: string;
  metric: CounterMetric;
  value: string;
  customer_id: string;
  timestamp: string;
}

/**
 * Reports metered usage to Stripe from the metering read model: per organization with a Stripe customer, each
 * closed day of executions and AI tokens is one meter event with the identifier `<org>-<metric>-<day>`. A day
 * that grew after it was reported (late usage, a projection that lagged) gets a correction with the difference
 * and the identifier `<org>-<metric>-<day>-r<n>`. Every event is timestamped at the day's midnight in the
 * organization's zone, so Stripe puts a correction in the day's billing period, the one GET /billing/usage
 * counts the day in.
 *
 * Each event is written to an outbox (usage_meter_events) before it is sent, then marked sent: a retry after a
 * crash or a Stripe outage sends the same identifier with the same value (Stripe counts an identifier once),
 * whatever the day became meanwhile; the day's later growth is a correction of its own. Two reporters at once
 * (two projector processes) plan the same identifiers, one row each, and send the same events: counted once.
 */
export class UsageReporter {
  private readonly periodic: PeriodicPass;

  constructor(
    private readonly deps: { billing: BillingProvider; orm: MikroORM; logger: Logger },
    private readonly options: UsageReporterOptions,
  ) {
    this.periodic = new PeriodicPass(
      () => this.pass(new Date()),
      options.intervalMs,
      (err) => deps.logger.error({ err }, 'usage report failed; the next pass tries again'),
    );
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One pass at `now`: plans what closed days owe Stripe, then sends the outbox (tests call it directly). */
  async pass(now: Date): Promise<UsagePass> {
    const planned = await this.plan(now);
    const { sent, rejected } = await this.send();
    const result = { planned, sent, rejected };
    if (planned > 0 || sent > 0 || rejected > 0) this.deps.logger.info(result, 'usage reported to Stripe');
    return result;
  }

  /** Records a meter event for each closed day whose quantity is above what its events so far carried. */
  private async plan(now: Date): Promise<number> {
    const em = this.deps.orm.em.fork();
    // Every zone's days that may qualify: a day of margin either side of the UTC dates, then each row checked in its zone.
    const from = DateTime.fromJSDate(now, { zone: 'UTC' })
      .minus({ days: this.options.maxAgeDays + 1 })
      .toISODate()!;
    const to = DateTime.fromJSDate(now, { zone: 'UTC' }).plus({ days: 1 }).toISODate()!;
    const buckets = await executeBound<Bucket>(
      em,
      `SELECT d.organization_id, d.metric, d.day::text AS day, d.quantity::text AS quantity,
              coalesce(r.reported, 0)::text AS reported, coalesce(r.revisions, 0)::int AS revisions,
              a.customer_id, coalesce(o.timezone, 'UTC') AS timezone
         FROM usage_daily d
         JOIN billing_accounts a ON a.organization_id = d.organization_id AND a.mode = 'stripe' AND a.customer_id IS NOT NULL
         LEFT JOIN usage_organizations o ON o.organization_id = d.organization_id
         LEFT JOIN (SELECT organization_id, metric, day, sum(value) AS reported, count(*) AS revisions
                      FROM usage_meter_events WHERE day >= ?::date AND day < ?::date
                     GROUP BY organization_id, metric, day) r
                ON r.organization_id = d.organization_id AND r.metric = d.metric AND r.day = d.day
        WHERE d.metric = ANY(?::text[]) AND d.day >= ?::date AND d.day < ?::date AND d.quantity > coalesce(r.reported, 0)
          -- Closed and settled, and recent enough, in the organization's zone: only days due fill the page.
          AND (d.day + 1)::timestamp AT TIME ZONE coalesce(o.timezone, 'UTC') <= ?::timestamptz
          AND d.day::timestamp AT TIME ZONE coalesce(o.timezone, 'UTC') >= ?::timestamptz
        ORDER BY d.day, d.organization_id, d.metric
        LIMIT ${this.options.batch}`,
      [
        from,
        to,
        pgArray(counterMetrics),
        from,
        to,
        new Date(now.getTime() - this.options.settleMs).toISOString(),
        new Date(now.getTime() - this.options.maxAgeDays * 86_400_000).toISOString(),
      ],
    );
    // The zone's rules as the runtime knows them decide (the database's agreed above; they differ only on a zone's edge case).
    const due = buckets.map((bucket) => ({ bucket, ...this.window(bucket, now) })).filter((b) => b.closed && b.recent);
    if (due.length === 0) return 0;
    const rows = due.map(({ bucket, midnight }) => ({
      identifier: identifierOf(bucket.organization_id, bucket.metric, bucket.day, bucket.revisions),
      organizationId: bucket.organization_id,
      metric: bucket.metric,
      day: bucket.day,
      revision: String(bucket.revisions),
      value: String(BigInt(bucket.quantity) - BigInt(bucket.reported)),
      customerId: bucket.customer_id,
      timestamp: midnight.toISOString(),
    }));
    // Another reporter may have planned the same revision meanwhile: its row stands, ours is dropped.
    const inserted = await executeBound(
      em,
      `INSERT INTO usage_meter_events (identifier, organization_id, metric, day, revision, value, customer_id, timestamp)
       SELECT * FROM unnest(?::text[], ?::uuid[], ?::text[], ?::date[], ?::int[], ?::bigint[], ?::text[], ?::timestamptz[])
       ON CONFLICT DO NOTHING
       RETURNING identifier`,
      (['identifier', 'organizationId', 'metric', 'day', 'revision', 'value', 'customerId', 'timestamp'] as const).map((column) =>
        pgArray(rows.map((row) => row[column])),
      ),
    );
    return inserted.length;
  }

  /** Whether the bucket's day has ended long enough ago, and is recent enough for Stripe; its midnight. */
  private window(bucket: Bucket, now: Date): { closed: boolean; recent: boolean; midnight: Date } {
    const start = DateTime.fromISO(bucket.day, { zone: bucket.timezone }).startOf('day');
    const end = start.plus({ days: 1 });
    return {
      closed: end.toMillis() + this.options.settleMs <= now.getTime(),
      recent: start.toMillis() >= now.getTime() - this.options.maxAgeDays * 86_400_000,
      midnight: start.toJSDate(),
    };
  }

  /**
   * Sends the outbox, oldest first. A refusal (Stripe answered 4xx: an unknown customer, a timestamp out of
   * range) is kept with its message and not sent again; anything else (Stripe unreachable, rate limited)
   * ends the pass, and the next one sends the same events again.
   */
  private async send(): Promise<{ sent: number; rejected: number }> {
    const em = this.deps.orm.em.fork();
    const outbox = await executeBound<MeterEventRow>(
      em,
      `SELECT identifier, metric, value::text AS value, customer_id, to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS timestamp
         FROM usage_meter_events WHERE sent_at IS NULL AND rejected IS NULL
        ORDER BY created_at, identifier LIMIT ${this.options.batch}`,
      [],
    );
    let sent = 0;
    let rejected = 0;
    for (const row of outbox) {
      try {
        await this.deps.billing.reportUsage({
          meterEventName: METER_EVENT_NAMES[row.metric],
          customerId: row.customer_id,
          value: Number(row.value),
          identifier: row.identifier,
          timestamp: row.timestamp,
        });
        await executeBound(em, 'UPDATE usage_meter_events SET sent_at = now() WHERE identifier = ?', [row.identifier]);
        sent++;
      } catch (err) {
        if (!(err instanceof BillingRequestRejected)) throw err;
        this.deps.logger.error({ err, identifier: row.identifier }, 'Stripe refused a meter event; it is kept and not sent again');
        await executeBound(em, 'UPDATE usage_meter_events SET rejected = ? WHERE identifier = ?', [err.message, row.identifier]);
        rejected++;
      }
    }
    return { sent, rejected };
  }
}

/** The meter event's identifier: the day's first report, then its corrections `-r1`, `-r2`… */
export function identifierOf(organizationId: string, metric: CounterMetric, day: string, revision: number): string {
  const base = `${organizationId}-${metric}-${day}`;
  return revision === 0 ? base : `${base}-r${revision}`;
}
