import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { BillingMode } from '../../domain/billing/billing-account.ts';
import { ValidationError } from '../../domain/errors.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { BillingAccountViewSchema, BillingInvoiceViewSchema } from '../../projectors/billing/billing-views.ts';
import { PlanViewSchema } from '../../projectors/plans/plan-view.ts';
import { pageQuery, pageSchema } from '../paging.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';
import { accountSchema, invoiceSchema, modeFields, modeOf, planSchema, toAccount, toInvoice, toPlan } from './schemas.ts';

const TAG = 'Billing';

/**
 * The organization's billing from the billing read model, and the plans it can choose from the catalog's.
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
