import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { billingPeriodAt, type BillingMode } from '../../domain/billing/billing-account.ts';
import { ValidationError } from '../../domain/errors.ts';
import type { PlanLimits } from '../../domain/plans/plan.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { executeBound, pgArray } from '../../infra/readmodels/orm.ts';
import { BillingAccountViewSchema, BillingInvoiceViewSchema, type BillingAccountView } from '../../projectors/billing/billing-views.ts';
import { daysOfPeriod } from '../../projectors/billing/metering-projection.ts';
import { gaugeMetrics, type Metric } from '../../projectors/billing/metering-views.ts';
import { OrganizationViewSchema } from '../../projectors/organizations/organization-view.ts';
import { PlanViewSchema } from '../../projectors/plans/plan-view.ts';
import { pageQuery, pageSchema } from '../paging.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';
import {
  accountSchema,
  invoiceSchema,
  modeFields,
  modeOf,
  planSchema,
  toAccount,
  toInvoice,
  toPlan,
  usageLineOf,
  usageSchema,
  type UsageLine,
} from './schemas.ts';

const TAG = 'Billing';

/**
 * The organization's billing from the billing read model, its usage against its plan from the metering read
 * model, and the plans it can choose from the catalog's.
 * `mode` is the deployment's (the query API never reaches the payment provider): every answer says it, so a
 * client shows "nothing is charged" wherever billing runs offline.
 */
export function billingQueryRoutes(orm: MikroORM, mode: BillingMode): AnyRoute[] {
  const labelled = modeOf(mode);
  return [
    defineRoute({
      method: 'get',
      path: '/billing/subscription',
      operationId: 'getBillingSubscription',
      summary: "Your organization's subscription, the plan change waiting for the period end, and its standing",
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:read',
      readModels: ['billing'],
      responses: {
        200: { description: 'The billing account (also before any billing event: no subscription, good standing)', schema: accountSchema },
      },
      async handler(ctx) {
        const row = await scopedEntityManager(orm, ctx).findOne(BillingAccountViewSchema, { organizationId: authOf(ctx).organizationId });
        if (row) ctx.set('ETag', `"${row.revision}"`);
        ctx.body = { ...labelled, ...toAccount(row) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/billing/invoices',
      operationId: 'listBillingInvoices',
      summary: "Your organization's invoices, newest first, with their links (the provider's page and the PDF)",
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:read',
      readModels: ['billing'],
      query: z.strictObject({ ...pageQuery }),
      responses: {
        200: { description: 'A page of invoices', schema: z.object({ ...modeFields, data: z.array(invoiceSchema), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const { items, page } = await invoicesPage(scopedEntityManager(orm, ctx), query);
        ctx.body = { ...labelled, data: items.map(toInvoice), page };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/billing/usage',
      operationId: 'getBillingUsage',
      summary: "Your organization's usage in its current billing period, against its plan's limits",
      description:
        "The period is the live subscription's current one, else the calendar month in the organization's time zone. " +
        'Contacts, active workflows and seats are counted as they are now; executions are those started within the period, ' +
        "counted per day of the organization's calendar: a day belongs to the period its midnight falls in (as Stripe bills the day's meter event). " +
        'Seats are active members: a pending invitation takes a seat once accepted. AI tokens are those the AI service recorded, by day like executions ' +
        '(GET /ai/usage gives the exact count of the current period, the one its allowance is kept on). ' +
        'Without a plan (a trial) every limit is null: nothing is enforced.',
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:read',
      readModels: ['billing', 'organizations', 'plans', 'metering'],
      responses: { 200: { description: 'Usage against the limits, per line', schema: usageSchema } },
      async handler(ctx) {
        ctx.body = { ...labelled, ...(await usageOf(scopedEntityManager(orm, ctx), authOf(ctx).organizationId, new Date())) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/billing/plans',
      operationId: 'listBillingPlans',
      summary: 'The plans you can subscribe to, cheapest first, with their price per billing interval and their limits',
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:read',
      readModels: ['plans'],
      responses: { 200: { description: 'The active plans of the catalog', schema: z.object({ ...modeFields, data: z.array(planSchema) }) } },
      async handler(ctx) {
        // The catalog belongs to no tenant (no tenant filter): every organization sees the same plans.
        const plans = await scopedEntityManager(orm, ctx).find(
          PlanViewSchema,
          { status: 'active' },
          { orderBy: { monthlyPriceCents: 'asc', name: 'asc', id: 'asc' } },
        );
        ctx.body = { ...labelled, data: plans.map(toPlan) };
      },
    }),
  ];
}

const invoiceCursorSchema = z.object({ t: z.iso.datetime(), id: z.string().min(1).max(255) });

/**
 * Invoices newest first by (first reported, invoice id), with an opaque keyset cursor as paging.ts makes
 * them; an invoice id is the provider's (`in_…`), not a UUID, so the cursor takes any id.
 */
async function invoicesPage(em: EntityManager, request: { limit: number; cursor?: string | undefined }) {
  let after: { createdAt: Date; invoiceId: string } | undefined;
  if (request.cursor) {
    try {
      const parsed = invoiceCursorSchema.parse(JSON.parse(Buffer.from(request.cursor, 'base64url').toString('utf8')));
      after = { createdAt: new Date(parsed.t), invoiceId: parsed.id };
    } catch {
      throw new ValidationError([{ name: 'cursor', reason: 'is not a cursor this API returned' }]);
    }
  }
  const found = await em.findByCursor(
    BillingInvoiceViewSchema,
    {},
    { first: request.limit, ...(after ? { after } : {}), orderBy: { createdAt: 'desc', invoiceId: 'desc' }, includeCount: false },
  );
  const last = found.items[found.items.length - 1];
  const nextCursor =
    found.hasNextPage && last ? Buffer.from(JSON.stringify({ t: last.createdAt.toISOString(), id: last.invoiceId })).toString('base64url') : null;
  return { items: found.items, page: { limit: request.limit, hasMore: found.hasNextPage, nextCursor } };
}

type Usage = Omit<z.infer<typeof usageSchema>, 'mode' | 'offline'>;

/**
 * Read from the metering read model (projectors/billing/metering-projection.ts), counted from the log and
 * rebuilt the same: gauges as the sum of every day's change so far, counters as the sum of the period's
 * days; one indexed query over the organization's buckets. The plan is the organization's (a subscription
 * puts it on its plan, staff may put it on one without): with none, or one the catalog's read model does not hold yet,
 * nothing is enforced.
 */
export async function usageOf(em: EntityManager, organizationId: string, now: Date): Promise<Usage> {
  const [organization, account] = await Promise.all([
    em.findOne(OrganizationViewSchema, { id: organizationId }, { fields: ['timezone', 'planId'] }),
    em.findOne(BillingAccountViewSchema, { organizationId }),
  ]);
  // As the analytics routes do: a zone the runtime does not know counts in UTC rather than failing the read.
  const timezone = organization?.timezone && IANAZone.isValidZone(organization.timezone) ? organization.timezone : 'UTC';
  const period = periodOf(account, timezone, now);
  const [planRow, used] = await Promise.all([
    organization?.planId ? em.findOne(PlanViewSchema, { id: organization.planId }) : null,
    meteredUsage(em, organizationId, daysOfPeriod(timezone, period.start, period.end)),
  ]);
  const plan = planRow ? { id: planRow.id, name: planRow.name, status: planRow.status, limits: toPlan(planRow).limits } : null;
  const line = (used: number, key: keyof PlanLimits): UsageLine => usageLineOf(used, plan?.limits[key] ?? null);
  return {
    period: { start: period.start.toISOString(), end: period.end.toISOString(), basis: period.basis, timezone },
    plan,
    usage: {
      contacts: line(used.contacts, 'contacts'),
      activeWorkflows: line(used.active_workflows, 'activeWorkflows'),
      executionsPerMonth: line(used.executions, 'executionsPerMonth'),
      aiTokensPerMonth: line(used.ai_tokens, 'aiTokensPerMonth'),
      seats: line(used.seats, 'seats'),
    },
  };
}

/**
 * The period a live subscription bills (the provider's, as last reported); without one (never subscribed,
 * canceled, or its first payment expired) the calendar month in the organization's time zone, so that a
 * month's executions are those of its own midnight to midnight. [start, end).
 */
function periodOf(account: BillingAccountView | null, timezone: string, now: Date) {
  const { subscription } = toAccount(account);
  return billingPeriodAt(subscription, timezone, now);
}

/**
 * Each metric of the organization: a gauge summed over every day (its level now), a counter over the days
 * [from, to). The organization is bound explicitly: raw SQL does not pass through the tenant filter. Also the
 * command side's plan-change check (infra/billing/current-usage.ts), so both read usage the same way.
 */
export async function meteredUsage(em: EntityManager, organizationId: string, days: { from: string; to: string }): Promise<Record<Metric, number>> {
  const rows = await executeBound<{ metric: Metric; used: string }>(
    em,
    `SELECT metric, sum(quantity)::text AS used FROM usage_daily
     WHERE organization_id = ? AND (metric = ANY(?::text[]) OR (day >= ?::date AND day < ?::date))
     GROUP BY metric`,
    [organizationId, pgArray(gaugeMetrics), days.from, days.to],
  );
  const used: Record<Metric, number> = { contacts: 0, active_workflows: 0, seats: 0, executions: 0, ai_tokens: 0 };
  for (const row of rows) used[row.metric] = Number(row.used);
  return used;
}
