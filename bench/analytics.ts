import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import pg from 'pg';
import pino from 'pino';
import { analyticsFactOf, type AnalyticsFact } from '../domain/analytics/analytics-facts.ts';
import type { Actor, NewEvent, RecordedEvent } from '../domain/events.ts';
import { ClickHouseAnalytics } from '../infra/analytics/clickhouse-analytics.ts';
import { ident, sql } from '../infra/analytics/clickhouse-sql.ts';
import { PostgresAnalytics } from '../infra/analytics/postgres-analytics.ts';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import { migrateReadModels, openReadModels } from '../infra/readmodels/orm.ts';
import { analyticsProjection } from '../projectors/analytics/analytics-projection.ts';
import { readModelEntities } from '../projectors/read-models.ts';
import type { AnalyticsReader, AnalyticsScope } from '../query-api/analytics/ports.ts';
import { catchUp, seededRandom, seededUuid } from './search.ts';
import { closedLoop, mib, note, report } from './stats.ts';

const logger = pino({ level: 'silent' });
const DAY_MS = 86_400_000;

export const clickHouseUrl = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';

/** The server's version; an unreachable server fails the section with how to start it (never a skip). */
async function requireClickHouse(url: string): Promise<string> {
  const client = createClient({ url });
  try {
    const ping = await client.ping();
    if (!ping.success) throw ping.error;
    const result = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
    const rows = await result.json<{ version: string }>();
    return rows[0]?.version ?? 'unknown';
  } catch (err) {
    throw new Error(
      `ClickHouse is not reachable at ${url} (${(err as Error).message}): the analytics bench needs it. ` +
        'Start it with `bash scripts/clickhouse.sh start`, or point CLICKHOUSE_URL at one.',
    );
  } finally {
    await client.close();
  }
}

/** Runs `work` with a fresh ClickHouse database, dropped afterwards whatever happens. */
async function withClickHouseDatabase<T>(url: string, label: string, work: (database: string) => Promise<T>): Promise<T> {
  const database = `nf_bench_${label}_${randomBytes(3).toString('hex')}`;
  try {
    return await work(database);
  } finally {
    const admin = createClient({ url });
    await admin.command({ query: sql`DROP DATABASE IF EXISTS ${ident(database)}`.text }).finally(() => admin.close());
  }
}

async function clickHouseScalar(url: string, query: string): Promise<number> {
  const client = createClient({ url });
  try {
    const result = await client.query({ query, format: 'JSONEachRow' });
    const rows = await result.json<{ n: string | number }>();
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.close();
  }
}

interface Tenant {
  id: string;
  createdMs: number;
  /** Users in the order they joined, as far as the generator's clock has got. */
  users: string[];
  workflows: string[];
}

interface Episode {
  streamId: string;
  events: NewEvent[];
}

const stepTypes = ['send_email', 'send_email', 'send_email', 'ai_compose_email', 'crm_action', 'wait', 'wait', 'add_tag'] as const;

/**
 * A tenant population's activity over [fromMs, toMs), in time order, as the command side records it:
 * workflow executions (started, steps, completed / failed / waiting), contacts created, updated and tagged,
 * sign-ins, API usage meters, users joining (the owner when the organization is created, members later:
 * signup cohorts), a few other user actions. ~`tenants` tenants, one big one holding `bigShare` of the
 * activity, the others on a long tail. Seeded: the same facts on every run and for every store.
 */
class ActivityGenerator {
  private readonly random: () => number;
  readonly tenants: Tenant[];
  private readonly cumulative: number[];
  private readonly joins: { tenant: Tenant; userId: string; at: number; owner: boolean }[];

  constructor(private readonly options: { seed: number; total: number; tenants: number; bigShare: number; fromMs: number; toMs: number }) {
    const random = (this.random = seededRandom(options.seed));
    const scale = options.total / 1_000_000;
    const span = options.toMs - options.fromMs;
    this.tenants = Array.from({ length: options.tenants }, (_, k) => ({
      id: seededUuid(random),
      // The big customer is there from the start; the others signed up during the first two months.
      createdMs: k === 0 ? options.fromMs : options.fromMs + Math.floor(random() * 60 * DAY_MS),
      users: [],
      workflows: Array.from({ length: k === 0 ? 60 : 3 + Math.floor(random() * 15) }, () => seededUuid(random)),
    }));
    const tail = this.tenants.slice(1).map((_, k) => 1 / (k + 1) ** 0.8);
    const tailSum = tail.reduce((a, b) => a + b, 0);
    const weights = [options.bigShare, ...tail.map((w) => (w / tailSum) * (1 - options.bigShare))];
    let sum = 0;
    this.cumulative = weights.map((w) => (sum += w));
    this.joins = [];
    this.tenants.forEach((tenant, k) => {
      const users = k === 0 ? Math.max(10, Math.round(1500 * scale)) : Math.max(2, Math.round((300 * scale) / Math.sqrt(k)));
      for (let u = 0; u < users; u++) {
        const at = u === 0 ? tenant.createdMs : tenant.createdMs + Math.floor(random() * (options.toMs - tenant.createdMs));
        this.joins.push({ tenant, userId: seededUuid(random), at, owner: u === 0 });
      }
    });
    this.joins.sort((a, b) => a.at - b.at);
    if (span <= 0) throw new Error('empty time range');
  }

  get bigTenant(): string {
    return this.tenants[0]!.id;
  }

  private pickTenant(): Tenant {
    const r = this.random();
    const k = this.cumulative.findIndex((c) => r < c);
    const tenant = this.tenants[k === -1 ? this.tenants.length - 1 : k]!;
    return tenant.users.length > 0 ? tenant : this.tenants[0]!;
  }

  private event(tenant: Tenant, type: string, data: Record<string, unknown>, at: number, actor: Actor): NewEvent {
    return {
      id: seededUuid(this.random),
      type,
      version: 1,
      data,
      metadata: {
        tenantId: tenant.id,
        actor,
        correlationId: seededUuid(this.random),
        causationId: seededUuid(this.random),
        occurredAt: new Date(Math.min(at, this.options.toMs - 1)).toISOString(),
      },
    } as NewEvent;
  }

  /** Episodes (the events of one stream at once) adding up to exactly `total` events. */
  *episodes(): Generator<Episode> {
    const { total, fromMs, toMs } = this.options;
    const random = this.random;
    let emitted = 0;
    let nextJoin = 0;
    while (emitted < total) {
      const t = fromMs + Math.floor((emitted / total) * (toMs - fromMs));
      let episode: Episode;
      const join = this.joins[nextJoin];
      if (join && join.at <= t) {
        nextJoin++;
        const { tenant, userId } = join;
        tenant.users.push(userId);
        const actor: Actor = { type: 'user', id: userId };
        episode = {
          streamId: `organization-${tenant.id}`,
          events: [
            join.owner
              ? this.event(
                  tenant,
                  'OrganizationCreated',
                  { organizationId: tenant.id, name: 'Bench org', ownerUserId: userId, timezone: 'Europe/Paris' },
                  join.at,
                  actor,
                )
              : this.event(
                  tenant,
                  'MemberJoined',
                  { organizationId: tenant.id, invitationId: seededUuid(random), userId, email: `${userId}@bench.example`, role: 'member' },
                  join.at,
                  actor,
                ),
          ],
        };
      } else {
        const tenant = this.pickTenant();
        // Recent users are the active ones, mostly.
        const user = tenant.users[Math.floor(tenant.users.length * (1 - random() ** 2))] ?? tenant.users[0]!;
        const userActor: Actor = { type: 'user', id: user };
        const kind = random();
        if (kind < 0.22) {
          const executionId = seededUuid(random);
          const workflowId = tenant.workflows[Math.floor(tenant.workflows.length * random() ** 2)]!;
          const runner: Actor = { type: 'system', id: 'workflow-runner' };
          let at = t;
          const later = () => (at += 1_000 + Math.floor(random() * 120_000));
          const events = [
            this.event(
              tenant,
              'ExecutionStarted',
              {
                executionId,
                organizationId: tenant.id,
                workflowId,
                version: 1,
                contactId: seededUuid(random),
                cause: { type: 'event', id: seededUuid(random) },
                entryStepId: 's1',
                startedAt: new Date(at).toISOString(),
              },
              at,
              runner,
            ),
          ];
          const steps = 1 + Math.floor(random() * 4);
          for (let s = 1; s <= steps; s++) {
            const stepType = stepTypes[Math.floor(random() * stepTypes.length)]!;
            events.push(
              this.event(
                tenant,
                'StepStarted',
                { executionId, stepId: `s${s}`, stepType, attempt: 1, startedAt: new Date(later()).toISOString() },
                at,
                runner,
              ),
            );
            const output = stepType === 'ai_compose_email' ? { tokens: 150 + Math.floor(random() * 1_500) } : {};
            events.push(
              this.event(
                tenant,
                'StepCompleted',
                {
                  executionId,
                  workflowId,
                  stepId: `s${s}`,
                  stepType,
                  attempt: 1,
                  output,
                  nextStepId: s < steps ? `s${s + 1}` : null,
                  completedAt: new Date(later()).toISOString(),
                },
                at,
                runner,
              ),
            );
          }
          const end = random();
          if (end < 0.85)
            events.push(
              this.event(tenant, 'ExecutionCompleted', { executionId, workflowId, completedAt: new Date(later()).toISOString() }, at, runner),
            );
          else if (end < 0.95)
            events.push(
              this.event(
                tenant,
                'ExecutionFailed',
                {
                  executionId,
                  workflowId,
                  stepId: `s${steps}`,
                  error: { code: 'provider_error', message: 'The mail provider refused the message' },
                  failedAt: new Date(later()).toISOString(),
                },
                at,
                runner,
              ),
            );
          else
            events.push(
              this.event(
                tenant,
                'ExecutionWaiting',
                { executionId, stepId: `s${steps}`, until: new Date(at + 3 * DAY_MS).toISOString(), reason: 'wait' },
                later(),
                runner,
              ),
            );
          episode = { streamId: `execution-${executionId}`, events };
        } else if (kind < 0.5) {
          const contactId = seededUuid(random);
          const events = [
            this.event(
              tenant,
              'ContactCreated',
              {
                contactId,
                organizationId: tenant.id,
                email: `${contactId}@bench.example`,
                firstName: 'Ada',
                lastName: 'Lovelace',
                phone: null,
                company: null,
                title: null,
                timezone: null,
                customFields: {},
                tags: [],
              },
              t,
              userActor,
            ),
          ];
          if (random() < 0.3) events.push(this.event(tenant, 'ContactUpdated', { contactId, changes: { title: 'CTO' } }, t + 60_000, userActor));
          if (random() < 0.2) events.push(this.event(tenant, 'ContactTagged', { contactId, tag: 'vip' }, t + 120_000, userActor));
          episode = { streamId: `contact-${contactId}`, events };
        } else if (kind < 0.72) {
          const sessionId = seededUuid(random);
          episode = {
            streamId: `session-${sessionId}`,
            events: [
              this.event(
                tenant,
                'SessionStarted',
                {
                  sessionId,
                  userId: user,
                  organizationId: tenant.id,
                  tokenId: seededUuid(random),
                  expiresAt: new Date(t + 30 * DAY_MS).toISOString(),
                  startedAt: new Date(t).toISOString(),
                },
                t,
                { type: 'anonymous', id: '203.0.113.7' },
              ),
            ],
          };
        } else if (kind < 0.9) {
          const calls = 1 + Math.floor(random() ** 3 * 2_000);
          episode = {
            streamId: `apiUsage-${tenant.id}`,
            events: [this.event(tenant, 'ApiCallsCounted', { organizationId: tenant.id, calls }, t, { type: 'system', id: 'api-meter' })],
          };
        } else {
          const workflowId = tenant.workflows[Math.floor(random() * tenant.workflows.length)]!;
          const type = random() < 0.5 ? 'WorkflowPaused' : 'WorkflowResumed';
          episode = {
            streamId: `workflow-${workflowId}`,
            events: [this.event(tenant, type, { workflowId, organizationId: tenant.id }, t, userActor)],
          };
        }
      }
      if (emitted + episode.events.length > total) episode = { ...episode, events: episode.events.slice(0, total - emitted) };
      emitted += episode.events.length;
      yield episode;
    }
  }

  /** The analytics facts of the episodes' events, `size` at a time. */
  *factBatches(size: number): Generator<AnalyticsFact[]> {
    let batch: AnalyticsFact[] = [];
    for (const episode of this.episodes()) {
      for (const event of episode.events) {
        const fact = analyticsFactOf({
          ...event,
          streamId: episode.streamId,
          revision: 0,
          position: '0',
          recordedAt: event.metadata.occurredAt,
        } as RecordedEvent);
        if (!fact) throw new Error(`generated event ${event.type} has no tenant`);
        batch.push(fact);
        if (batch.length === size) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length > 0) yield batch;
  }
}

/** 13 months of data up to today (UTC midnight). */
function dataRange(): { fromMs: number; toMs: number } {
  const toMs = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  return { fromMs: toMs - 395 * DAY_MS, toMs };
}

/**
 * ClickHouse projection rows/s (and the same into PostgreSQL): `events` events of ~50 tenants appended to the
 * PostgreSQL event store, then the analytics projection alone, from zero to the head, through its runner
 * (one insert per batch, the checkpoint after it) into each store in turn.
 */
export async function benchAnalyticsProjection(databaseUrl: string, options: { events: number; batchSize: number }): Promise<void> {
  const version = await requireClickHouse(clickHouseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(databaseUrl, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  const orm = await openReadModels({ url: databaseUrl, entities: readModelEntities, poolSize: 8, logger });
  await migrateReadModels(orm);
  try {
    const generator = new ActivityGenerator({ seed: 42, total: options.events, tenants: 50, bigShare: 0.3, ...dataRange() });
    let appended = 0;
    let chunk: Promise<unknown>[] = [];
    const appendStarted = performance.now();
    for (const episode of generator.episodes()) {
      chunk.push(store.append(episode.streamId, episode.events, 'any'));
      appended += episode.events.length;
      if (chunk.length === 500) {
        await Promise.all(chunk);
        chunk = [];
      }
    }
    await Promise.all(chunk);
    const { rows: typeRows } = await pool.query<{ type: string; n: string }>(
      'SELECT type, count(*) AS n FROM nf_events GROUP BY type ORDER BY 2 DESC',
    );
    note(
      `analytics projection: ${appended} events of 50 tenants (30% in one) over 13 months appended in ${((performance.now() - appendStarted) / 1000).toFixed(1)} s: ` +
        typeRows.map((row) => `${row.type} ${row.n}`).join(', '),
    );

    let peakRss = 0;
    await withClickHouseDatabase(clickHouseUrl, 'analytics', async (database) => {
      const clickhouse = new ClickHouseAnalytics(clickHouseUrl, database);
      try {
        await clickhouse.migrate();
        const caught = await catchUp(analyticsProjection(clickhouse, 'analytics_clickhouse'), store, orm, options.batchSize);
        peakRss = Math.max(peakRss, caught.peakRss);
        const rows = await clickHouseScalar(clickHouseUrl, sql`SELECT count() AS n FROM ${ident(database)}.${ident('analytics_events')}`.text);
        if (rows < appended) throw new Error(`ClickHouse holds ${rows} analytics rows after the catch-up, expected ${appended}`);
        const parts = await clickHouseScalar(
          clickHouseUrl,
          sql`SELECT count() AS n FROM system.parts WHERE database = ${database} AND table = 'analytics_events' AND active`.text,
        );
        note(
          `into ClickHouse ${version} at ${new URL(clickHouseUrl).host} (ReplacingMergeTree, one insert per batch of ${options.batchSize}): ` +
            `${(caught.elapsedMs / 1000).toFixed(2)} s, ${rows} rows${rows > appended ? ` (${rows - appended} re-sent, kept once by FINAL)` : ''}, ${parts} active parts after`,
        );
        report('analytics.projection.clickhouse', (appended / caught.elapsedMs) * 1000, 'rows/s');
      } finally {
        await clickhouse.close();
      }
    });

    const postgres = new PostgresAnalytics(pool);
    await postgres.migrate();
    const caught = await catchUp(analyticsProjection(postgres, 'analytics_postgres'), store, orm, options.batchSize);
    peakRss = Math.max(peakRss, caught.peakRss);
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM analytics_events');
    if (Number(rows[0]!.n) !== appended) throw new Error(`PostgreSQL holds ${rows[0]!.n} analytics rows after the catch-up, expected ${appended}`);
    note(
      `into PostgreSQL (the same server as the event store; one INSERT … ON CONFLICT DO NOTHING per batch of ${options.batchSize}): ${(caught.elapsedMs / 1000).toFixed(2)} s`,
    );
    report('analytics.projection.postgres', (appended / caught.elapsedMs) * 1000, 'rows/s');
    report('analytics.projection.rss_peak', mib(peakRss), 'MiB');
  } finally {
    await orm.close();
    await store.close();
    await notifications.close();
    await pool.end();
  }
}

type DashboardStore = AnalyticsReader & { insert(facts: readonly AnalyticsFact[]): Promise<void> };

const timezone = 'Europe/Paris';
const dashboardQueries = {
  totals: (store: AnalyticsReader, scope: AnalyticsScope) => store.totals(scope),
  series_day: (store: AnalyticsReader, scope: AnalyticsScope) => store.series(scope, 'executions', 'day', timezone),
  series_week: (store: AnalyticsReader, scope: AnalyticsScope) => store.series(scope, 'events', 'week', timezone),
  workflow_outcomes: (store: AnalyticsReader, scope: AnalyticsScope) => store.workflowOutcomes(scope, 10),
  event_counts: (store: AnalyticsReader, scope: AnalyticsScope) => store.eventCounts(scope),
  retention_week: (store: AnalyticsReader, scope: AnalyticsScope) => store.retention(scope, 'week', timezone),
} satisfies Record<string, (store: AnalyticsReader, scope: AnalyticsScope) => Promise<unknown>>;
type DashboardQuery = keyof typeof dashboardQueries;
const queryNames = Object.keys(dashboardQueries) as DashboardQuery[];

/** `rows` facts straight into the store, 10,000 per insert, one insert at a time; insert time only. */
async function load(
  store: DashboardStore,
  rows: number,
  range: { fromMs: number; toMs: number },
): Promise<{ elapsedMs: number; generator: ActivityGenerator }> {
  const generator = new ActivityGenerator({ seed: 7, total: rows, tenants: 50, bigShare: 0.3, ...range });
  let elapsedMs = 0;
  let loaded = 0;
  for (const batch of generator.factBatches(10_000)) {
    const started = performance.now();
    await store.insert(batch);
    elapsedMs += performance.now() - started;
    loaded += batch.length;
  }
  if (loaded !== rows) throw new Error(`loaded ${loaded} facts, expected ${rows}`);
  return { elapsedMs, generator };
}

/** Each dashboard read closed-loop (concurrency 1), and the whole dashboard (all of them at once). */
async function benchDashboard(store: AnalyticsReader, name: string, scopes: AnalyticsScope[], durationMs: number): Promise<void> {
  const run = async (kind: string, operation: (scope: AnalyticsScope) => Promise<unknown>) => {
    let next = 0;
    const result = await closedLoop({
      concurrency: 1,
      durationMs,
      warmupMs: Math.min(1_000, durationMs / 5),
      operation: async () => {
        await operation(scopes[next++ % scopes.length]!);
      },
    });
    if (result.errors > 0)
      throw new Error(`analytics dashboard ${name} ${kind}: ${result.errors} failed queries; first: ${String(result.firstError)}`);
    report(`analytics.dashboard.${name}.${kind}.p50`, result.latencies.percentile(50), 'ms');
    report(`analytics.dashboard.${name}.${kind}.p99`, result.latencies.percentile(99), 'ms');
    return result.latencies.count;
  };
  const counts: string[] = [];
  for (const kind of queryNames) counts.push(`${kind} ${await run(kind, (scope) => dashboardQueries[kind](store, scope))}`);
  counts.push(`page ${await run('page', (scope) => Promise.all(queryNames.map((kind) => dashboardQueries[kind](store, scope))))}`);
  note(`${name}: samples per kind: ${counts.join(', ')}`);
}

/**
 * Dashboard reads on `rows` analytics rows (issue: "dashboard query p99 on 1,000,000 analytics rows"): the
 * same seeded facts inserted straight into ClickHouse and into PostgreSQL, 10,000 per insert (insert rows/s),
 * then the big tenant's dashboard over 90 days (the range's end moving back a day at a time over a week of
 * ranges) read in a closed loop: totals, executions per day and events per week in Europe/Paris, top 10
 * workflow outcomes, event counts, weekly signup retention; and the whole page (all six at once).
 */
export async function benchAnalyticsDashboard(databaseUrl: string, options: { rows: number; durationMs: number }): Promise<void> {
  const version = await requireClickHouse(clickHouseUrl);
  const range = dataRange();
  const { toMs } = range;
  const scopes = (tenantId: string): AnalyticsScope[] =>
    Array.from({ length: 7 }, (_, k) => ({
      tenantId,
      from: new Date(toMs - (k + 90) * DAY_MS).toISOString(),
      to: new Date(toMs - k * DAY_MS).toISOString(),
    }));
  const answers = new Map<string, string>();
  const sample = async (store: AnalyticsReader, scope: AnalyticsScope) =>
    Object.fromEntries(
      await Promise.all(queryNames.map(async (kind) => [kind, JSON.stringify(await dashboardQueries[kind](store, scope))] as const)),
    );

  await withClickHouseDatabase(clickHouseUrl, 'dashboard', async (database) => {
    const clickhouse = new ClickHouseAnalytics(clickHouseUrl, database);
    try {
      await clickhouse.migrate();
      const { elapsedMs, generator } = await load(clickhouse, options.rows, range);
      const big = generator.bigTenant;
      const bigRows = await clickHouseScalar(
        clickHouseUrl,
        sql`SELECT count() AS n FROM ${ident(database)}.${ident('analytics_events')} WHERE tenant_id = ${big}`.text,
      );
      const inRange = await clickHouseScalar(
        clickHouseUrl,
        sql`SELECT count() AS n FROM ${ident(database)}.${ident('analytics_events')} WHERE tenant_id = ${big} AND occurred_ms >= ${Date.parse(scopes(big)[0]!.from)}`
          .text,
      );
      const parts = await clickHouseScalar(
        clickHouseUrl,
        sql`SELECT count() AS n FROM system.parts WHERE database = ${database} AND table = 'analytics_events' AND active`.text,
      );
      note(
        `analytics dashboard: ${options.rows} facts of 50 tenants over 13 months (the big tenant: ${bigRows}, ${inRange} in its last 90 days), ` +
          `inserted 10,000 per insert (generation not timed); ClickHouse ${version}: ${(elapsedMs / 1000).toFixed(2)} s, ${parts} active parts when the reads start`,
      );
      report('analytics.load.clickhouse', (options.rows / elapsedMs) * 1000, 'rows/s');
      const first = await sample(clickhouse, scopes(big)[0]!);
      for (const [kind, answer] of Object.entries(first)) answers.set(kind, answer);
      await benchDashboard(clickhouse, 'clickhouse', scopes(big), options.durationMs);
    } finally {
      await clickhouse.close();
    }
  });

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  try {
    const postgres = new PostgresAnalytics(pool);
    await postgres.migrate();
    const { elapsedMs, generator } = await load(postgres, options.rows, range);
    // The state autovacuum would leave a table in: planner statistics and the visibility map.
    await pool.query('VACUUM ANALYZE analytics_events');
    const { rows } = await pool.query<{ bytes: string }>("SELECT pg_total_relation_size('analytics_events') AS bytes");
    note(
      `PostgreSQL: ${(elapsedMs / 1000).toFixed(2)} s (then VACUUM ANALYZE), table with its indexes ${mib(Number(rows[0]!.bytes)).toFixed(0)} MiB`,
    );
    report('analytics.load.postgres', (options.rows / elapsedMs) * 1000, 'rows/s');
    const big = generator.bigTenant;
    // Both stores were given the same facts: their answers must agree.
    const second = await sample(postgres, scopes(big)[0]!);
    const differing = queryNames.filter((kind) => second[kind] !== answers.get(kind));
    if (differing.length > 0) {
      for (const kind of differing)
        note(`ANSWERS DIFFER for ${kind}: ClickHouse ${answers.get(kind)!.slice(0, 300)} — PostgreSQL ${second[kind]!.slice(0, 300)}`);
      throw new Error(`ClickHouse and PostgreSQL answer differently on the same facts: ${differing.join(', ')}`);
    }
    const parsed = Object.fromEntries(queryNames.map((kind) => [kind, JSON.parse(second[kind]!) as unknown]));
    note(
      `both stores give the same answers on the first range; its sizes: series_day ${(parsed.series_day as unknown[]).length} points, ` +
        `series_week ${(parsed.series_week as unknown[]).length}, workflow_outcomes ${(parsed.workflow_outcomes as unknown[]).length}, ` +
        `event_counts ${(parsed.event_counts as unknown[]).length} types, retention_week ${(parsed.retention_week as unknown[]).length} cohorts`,
    );
    await benchDashboard(postgres, 'postgres', scopes(big), options.durationMs);
  } finally {
    await pool.end();
  }
}
