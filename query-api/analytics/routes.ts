import { Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { stringify } from 'csv-stringify';
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import { ValidationError } from '../../domain/errors.ts';
import { analyticsRow, metrics, type AnalyticsFact, type Metric } from '../../domain/analytics/analytics-facts.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { OrganizationViewSchema } from '../../projectors/organizations/organization-view.ts';
import { WorkflowViewSchema } from '../../projectors/workflows/workflow-views.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';
import type { AnalyticsReader, AnalyticsScope, Interval } from './ports.ts';
import type Koa from 'koa';

const DAY_MS = 86_400_000;
/** The longest range one request may cover (a bit over a year: year-on-year dashboards). */
const MAX_RANGE_DAYS = 400;

const instant = (name: string) => z.iso.datetime({ offset: true, error: `must be an ISO 8601 date-time (${name})` });
const rangeQuery = {
  from: instant('from').optional().describe('Start (inclusive). Default: 30 days before `to`'),
  to: instant('to').optional().describe('End (exclusive). Default: now'),
};
const timezoneQuery = {
  timezone: z
    .string()
    .max(64)
    .refine((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone such as Europe/Paris')
    .optional()
    .describe("Buckets in this IANA zone. Default: the organization's time zone"),
};
const intervals = ['day', 'week', 'month'] as const;

const rangeSchema = { from: z.string(), to: z.string() };
const metricValues = z.object(Object.fromEntries(metrics.map((metric) => [metric, z.number().int()])) as Record<Metric, z.ZodNumber>);

/** The caller's range: defaults, order and span checked, each problem named by its parameter. */
function rangeOf(tenantId: string, query: { from?: string | undefined; to?: string | undefined }): AnalyticsScope {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
  if (from.getTime() >= to.getTime()) throw new ValidationError([{ name: query.to ? 'to' : 'from', reason: 'must be after from' }]);
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) {
    throw new ValidationError([{ name: 'from', reason: `the range may span at most ${MAX_RANGE_DAYS} days` }]);
  }
  return { tenantId, from: from.toISOString(), to: to.toISOString() };
}

/** Every bucket the range touches, in order (the stores only give buckets that have data). */
function bucketsOf(scope: AnalyticsScope, interval: Interval, timezone: string): string[] {
  let bucket = DateTime.fromISO(scope.from, { zone: timezone }).startOf(interval);
  const end = DateTime.fromISO(scope.to, { zone: timezone });
  const buckets: string[] = [];
  // At most MAX_RANGE_DAYS + 1 buckets.
  while (bucket < end) {
    buckets.push(bucket.toISODate()!);
    bucket = bucket.plus({ [`${interval}s`]: 1 });
  }
  return buckets;
}

const successRate = (completed: number, failed: number) => (completed + failed === 0 ? null : round(completed / (completed + failed)));
const round = (value: number) => Math.round(value * 10_000) / 10_000;

const exportColumns = [
  'event_id',
  'occurred_at',
  'type',
  'metric',
  'quantity',
  'actor_type',
  'actor_id',
  'user_id',
  'workflow_id',
  'execution_id',
  'contact_id',
  'step_type',
] as const;

/** The export's row: the analytics row without the tenant (every row is the caller's). */
function exportRow(fact: AnalyticsFact): Record<(typeof exportColumns)[number], string | number> {
  const { tenant_id: _tenant, ...row } = analyticsRow(fact);
  return row;
}

/**
 * Dashboards, usage metrics and exports of the caller's organization, from the analytics read model
 * (ClickHouse, or PostgreSQL tables). Every number counts each event once; ranges are [from, to).
 */
export function analyticsQueryRoutes(analytics: AnalyticsReader, orm: MikroORM): AnyRoute[] {
  /** The organization's own time zone, the default for buckets. */
  async function organizationZone(ctx: Koa.ParameterizedContext): Promise<string> {
    const org = await scopedEntityManager(orm, ctx).findOne(OrganizationViewSchema, { id: authOf(ctx).organizationId }, { fields: ['timezone'] });
    return org?.timezone && IANAZone.isValidZone(org.timezone) ? org.timezone : 'UTC';
  }

  return [
    defineRoute({
      method: 'get',
      path: '/analytics/usage',
      operationId: 'getUsage',
      summary: 'Usage metrics over a range: executions, emails sent, API calls, AI tokens, integration syncs, logins, users joined',
      tag: 'Analytics',
      auth: 'bearer',
      permission: 'analytics:read',
      readModels: ['analytics'],
      query: z.strictObject(rangeQuery),
      responses: {
        200: {
          description: 'Totals per metric, and the share of finished executions that completed',
          schema: z.object({
            ...rangeSchema,
            metrics: metricValues,
            successRate: z.number().nullable().describe('completed / (completed + failed); null when none finished'),
          }),
        },
        400: { description: 'Invalid range (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const scope = rangeOf(authOf(ctx).organizationId, query);
        const totals = await analytics.totals(scope);
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          from: scope.from,
          to: scope.to,
          metrics: totals,
          successRate: successRate(totals.executions_completed, totals.executions_failed),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/analytics/series',
      operationId: 'getSeries',
      summary: "One metric (or every event) per day, week or month, in the organization's time zone; every bucket of the range, zeros included",
      tag: 'Analytics',
      auth: 'bearer',
      permission: 'analytics:read',
      readModels: ['analytics'],
      query: z.strictObject({
        metric: z.enum([...metrics, 'events'], { error: `must be one of ${[...metrics, 'events'].join(', ')}` }).default('executions'),
        interval: z.enum(intervals, { error: 'must be day, week or month' }).default('day').describe('Weeks start on Monday'),
        ...rangeQuery,
        ...timezoneQuery,
      }),
      responses: {
        200: {
          description: 'The series',
          schema: z.object({
            metric: z.string(),
            interval: z.enum(intervals),
            timezone: z.string(),
            ...rangeSchema,
            points: z.array(z.object({ bucket: z.string().describe("The bucket's first local date (YYYY-MM-DD)"), value: z.number().int() })),
          }),
        },
        400: { description: 'Invalid parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const scope = rangeOf(authOf(ctx).organizationId, query);
        const timezone = query.timezone ?? (await organizationZone(ctx));
        const buckets = bucketsOf(scope, query.interval, timezone);
        const values = new Map((await analytics.series(scope, query.metric, query.interval, timezone)).map((point) => [point.bucket, point.value]));
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          metric: query.metric,
          interval: query.interval,
          timezone,
          from: scope.from,
          to: scope.to,
          points: buckets.map((bucket) => ({ bucket, value: values.get(bucket) ?? 0 })),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/analytics/workflows',
      operationId: 'getTopWorkflows',
      summary: 'Top workflows by executions started in the range, with completions, failures and success rate',
      tag: 'Analytics',
      auth: 'bearer',
      permission: 'analytics:read',
      readModels: ['analytics'],
      query: z.strictObject({
        ...rangeQuery,
        limit: z.coerce
          .number({ error: 'must be a number' })
          .int('must be an integer')
          .min(1, 'must be at least 1')
          .max(100, 'must be at most 100')
          .default(10),
      }),
      responses: {
        200: {
          description: 'Most started first',
          schema: z.object({
            ...rangeSchema,
            data: z.array(
              z.object({
                workflowId: z.string(),
                name: z.string().nullable().describe('Null once the workflow is deleted'),
                started: z.number().int(),
                completed: z.number().int(),
                failed: z.number().int(),
                successRate: z.number().nullable(),
              }),
            ),
          }),
        },
        400: { description: 'Invalid parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const scope = rangeOf(authOf(ctx).organizationId, query);
        const outcomes = await analytics.workflowOutcomes(scope, query.limit);
        const ids = outcomes.map((row) => row.workflowId).filter((id) => /^[0-9a-f-]{36}$/i.test(id));
        const names = new Map<string, string>();
        if (ids.length > 0) {
          for (const workflow of await scopedEntityManager(orm, ctx).find(WorkflowViewSchema, { id: { $in: ids } }, { fields: ['id', 'name'] })) {
            names.set(workflow.id, workflow.name);
          }
        }
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          from: scope.from,
          to: scope.to,
          data: outcomes.map((row) => ({ ...row, name: names.get(row.workflowId) ?? null, successRate: successRate(row.completed, row.failed) })),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/analytics/events',
      operationId: 'getEventCounts',
      summary: 'Event tracking: how many events of each type the organization recorded in the range',
      tag: 'Analytics',
      auth: 'bearer',
      permission: 'analytics:read',
      readModels: ['analytics'],
      query: z.strictObject(rangeQuery),
      responses: {
        200: {
          description: 'Most frequent first',
          schema: z.object({ ...rangeSchema, total: z.number().int(), data: z.array(z.object({ type: z.string(), count: z.number().int() })) }),
        },
        400: { description: 'Invalid range (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const scope = rangeOf(authOf(ctx).organizationId, query);
        const counts = await analytics.eventCounts(scope);
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = { from: scope.from, to: scope.to, total: counts.reduce((sum, row) => sum + row.count, 0), data: counts };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/analytics/retention',
      operationId: 'getRetention',
      summary: 'Sign-up cohorts: users by the period they joined, and how many of them were active in each later period',
      tag: 'Analytics',
      auth: 'bearer',
      permission: 'analytics:read',
      readModels: ['analytics'],
      query: z.strictObject({
        interval: z.enum(intervals, { error: 'must be day, week or month' }).default('week'),
        ...rangeQuery,
        ...timezoneQuery,
      }),
      responses: {
        200: {
          description: 'One row per cohort, oldest first',
          schema: z.object({
            interval: z.enum(intervals),
            timezone: z.string(),
            ...rangeSchema,
            cohorts: z.array(
              z.object({
                cohort: z.string().describe('The first local date of the period they joined in'),
                size: z.number().int(),
                active: z.array(z.number().int()).describe('active[k]: members of the cohort active k periods after joining'),
                rates: z.array(z.number()).describe('active[k] / size'),
              }),
            ),
          }),
        },
        400: { description: 'Invalid parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const scope = rangeOf(authOf(ctx).organizationId, query);
        const timezone = query.timezone ?? (await organizationZone(ctx));
        const cohorts = await analytics.retention(scope, query.interval, timezone);
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          interval: query.interval,
          timezone,
          from: scope.from,
          to: scope.to,
          cohorts: cohorts.map((cohort) => ({ ...cohort, rates: cohort.active.map((n) => (cohort.size === 0 ? 0 : round(n / cohort.size))) })),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/analytics/export',
      operationId: 'exportAnalytics',
      summary: 'Every analytics fact of the range, oldest first, as CSV (or JSON lines), streamed',
      tag: 'Analytics',
      auth: 'bearer',
      permission: 'analytics:read',
      readModels: ['analytics'],
      query: z.strictObject({ ...rangeQuery, format: z.enum(['csv', 'jsonl'], { error: 'must be csv or jsonl' }).default('csv') }),
      responses: {
        200: { description: `One row per event: ${exportColumns.join(', ')}`, contentType: 'text/csv' },
        400: { description: 'Invalid parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const scope = rangeOf(authOf(ctx).organizationId, query);
        // The first fact is read before answering: a store that is down is a 503, not a 200 cut short.
        const facts = analytics.facts(scope)[Symbol.asyncIterator]();
        const first = await facts.next();
        const format = query.format;
        const lines = Readable.from(
          (async function* () {
            for (let next = first; !next.done; next = await facts.next()) {
              yield format === 'csv' ? exportRow(next.value) : `${JSON.stringify(exportRow(next.value))}\n`;
            }
          })(),
        );
        const name = `nexusflow-analytics-${scope.from.slice(0, 10)}-${scope.to.slice(0, 10)}.${query.format}`;
        ctx.set('Content-Disposition', `attachment; filename="${name}"`);
        ctx.set('Cache-Control', 'private, no-store');
        if (format === 'csv') {
          ctx.type = 'text/csv; charset=utf-8';
          ctx.body = lines.pipe(stringify({ header: true, columns: [...exportColumns] }));
        } else {
          ctx.type = 'application/x-ndjson; charset=utf-8';
          ctx.body = lines;
        }
      },
    }),
  ];
}
