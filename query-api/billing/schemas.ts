import { z } from 'zod';
import { billingIntervals, priceFor, type BillingMode } from '../../domain/billing/billing-account.ts';
import type { PlanLimits } from '../../domain/plans/plan.ts';
import { OFFLINE_LABEL } from '../../infra/billing/offline-billing.ts';
import type { BillingAccountView, BillingInvoiceView } from '../../projectors/billing/billing-views.ts';
import type { PlanView } from '../../projectors/plans/plan-view.ts';

const interval = z.enum(billingIntervals);
const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/** Every billing answer says where billing runs, and offline that nothing is charged. */
export const modeFields = {
  mode: z.enum(['stripe', 'offline']).describe('stripe: charged through Stripe; offline: nothing is charged'),
  offline: z
    .object({ charged: z.literal(false), note: z.string() })
    .optional()
    .describe('Present when billing runs offline (no STRIPE_SECRET_KEY): trials and plan limits hold, nothing is charged'),
};

export function modeOf(mode: BillingMode): { mode: BillingMode; offline?: { charged: false; note: string } } {
  return mode === 'offline' ? { mode, offline: { ...OFFLINE_LABEL } } : { mode };
}

export const accountSchema = z.object({
  ...modeFields,
  revision: z
    .number()
    .int()
    .nullable()
    .describe("The billing account's revision (also the ETag, for If-Match on billing commands); null: no billing event yet"),
  subscription: z
    .object({
      id: z.string(),
      planId: z.string(),
      interval,
      status: z.enum(['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused']),
      currentPeriodStart: z.string(),
      currentPeriodEnd: z.string(),
      cancelAtPeriodEnd: z.boolean().describe('Canceled at the end of the current period, undoable until then'),
      canceledAt: z.string().nullable(),
      trialEnd: z.string().nullable(),
    })
    .nullable()
    .describe('The subscription as the payment provider last reported it (also once canceled); null: never subscribed'),
  scheduledChange: z
    .object({ planId: z.string(), interval, at: z.string().describe('The period end, when it takes effect') })
    .nullable()
    .describe('A downgrade or a move to monthly billing, waiting for the period end'),
  hasPaymentMethod: z.boolean(),
  standing: z.enum(['good', 'grace', 'restricted']).describe('grace: writes still allowed until `grace.until`; restricted: writes refused'),
  grace: z
    .object({ reason: z.enum(['trial_ended', 'subscription_ended', 'payment_failed']), until: z.string() })
    .nullable()
    .describe('Why the standing is not good, and when the grace ends (or ended: restricted)'),
});

/**
 * The account as the command side answers it after a billing command (less its position), so that a client
 * reads one shape. Without a row (no billing event yet) the organization has no subscription and is in good
 * standing: a trial, or a plan staff put it on.
 */
export function toAccount(row: BillingAccountView | null): Omit<z.infer<typeof accountSchema>, 'mode' | 'offline'> {
  if (row === null) return { revision: null, subscription: null, scheduledChange: null, hasPaymentMethod: false, standing: 'good', grace: null };
  // A subscription's columns are written together (SubscriptionStarted): all set, or none.
  const { subscriptionId, planId, interval, status, currentPeriodStart, currentPeriodEnd } = row;
  const subscribed =
    subscriptionId !== null && planId !== null && interval !== null && status !== null && currentPeriodStart !== null && currentPeriodEnd !== null;
  return {
    revision: row.revision,
    subscription: subscribed
      ? {
          id: subscriptionId,
          planId,
          interval,
          status,
          currentPeriodStart: currentPeriodStart.toISOString(),
          currentPeriodEnd: currentPeriodEnd.toISOString(),
          cancelAtPeriodEnd: row.cancelAtPeriodEnd ?? false,
          canceledAt: iso(row.canceledAt),
          trialEnd: iso(row.trialEnd),
        }
      : null,
    scheduledChange:
      row.scheduledPlanId !== null && row.scheduledInterval !== null && row.scheduledAt !== null
        ? { planId: row.scheduledPlanId, interval: row.scheduledInterval, at: row.scheduledAt.toISOString() }
        : null,
    hasPaymentMethod: row.paymentMethodId !== null,
    standing: row.standing,
    grace: row.graceReason !== null && row.graceUntil !== null ? { reason: row.graceReason, until: row.graceUntil.toISOString() } : null,
  };
}

export const invoiceSchema = z.object({
  id: z.string().describe("The payment provider's invoice id"),
  number: z.string().nullable().describe('The number shown on the invoice'),
  status: z.enum(['paid', 'payment_failed']).describe('payment_failed: not paid yet; the provider retries'),
  amount: z.number().int().describe("In the currency's smallest unit: paid, or due while unpaid"),
  currency: z.string(),
  periodStart: z.string().nullable(),
  periodEnd: z.string().nullable(),
  hostedInvoiceUrl: z.string().nullable().describe("The provider's page for the invoice (and paying it)"),
  pdfUrl: z.string().nullable(),
  attempts: z.number().int().describe('Failed payment attempts'),
  lastDeclineCode: z.string().nullable(),
  createdAt: z.string().describe('When the invoice was first reported'),
  updatedAt: z.string(),
});

export function toInvoice(row: BillingInvoiceView): z.infer<typeof invoiceSchema> {
  return {
    id: row.invoiceId,
    number: row.number,
    status: row.status,
    amount: row.amount,
    currency: row.currency,
    periodStart: iso(row.periodStart),
    periodEnd: iso(row.periodEnd),
    hostedInvoiceUrl: row.hostedInvoiceUrl,
    pdfUrl: row.pdfUrl,
    attempts: row.attempts,
    lastDeclineCode: row.lastDeclineCode,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const limit = z.number().int().nullable();

export const planSchema = z.object({
  id: z.string(),
  name: z.string(),
  currency: z.string(),
  priceCents: z
    .object({ month: z.number().int(), year: z.number().int().describe('Ten monthly prices (two months free)') })
    .describe("Per billing interval, in the currency's smallest unit"),
  limits: z
    .object({ contacts: limit, activeWorkflows: limit, executionsPerMonth: limit, aiTokensPerMonth: limit, seats: limit })
    .describe('null: unlimited'),
});

/** The catalog's amounts are bigint columns, which the ORM reads back as decimal strings. */
const count = (value: number | string | null) => (value === null ? null : Number(value));

export function toPlan(row: PlanView): z.infer<typeof planSchema> {
  const monthly = Number(row.monthlyPriceCents);
  const limits: PlanLimits = {
    contacts: count(row.contactsLimit),
    activeWorkflows: count(row.activeWorkflowsLimit),
    executionsPerMonth: count(row.executionsPerMonthLimit),
    aiTokensPerMonth: count(row.aiTokensPerMonthLimit),
    seats: count(row.seatsLimit),
  };
  return { id: row.id, name: row.name, currency: row.currency, priceCents: { month: monthly, year: priceFor(monthly, 'year') }, limits };
}

const usageLine = z.object({
  used: z.number().int(),
  limit: limit.describe("The plan's limit; null: not enforced (no plan, or unlimited on it)"),
  remaining: z.number().int().nullable().describe('What the limit still allows (0 at or over it); null without a limit'),
  exceeded: z.boolean().describe('Over the limit, as after a move to a smaller plan; at the limit is not over it'),
});

export const usageSchema = z.object({
  ...modeFields,
  period: z
    .object({
      start: z.string().describe('Inclusive'),
      end: z.string().describe('Exclusive'),
      basis: z
        .enum(['subscription', 'calendar_month'])
        .describe("subscription: the live subscription's current period; calendar_month: the month in the organization's time zone"),
      timezone: z.string().describe("The organization's time zone (IANA): the calendar month's, and the one to show the period in"),
    })
    .describe('The current billing period, the one the per-month limits count in'),
  plan: z
    .object({
      id: z.string(),
      name: z.string(),
      status: z.enum(['draft', 'active', 'retired']).describe('A retired plan still binds the organizations on it'),
      limits: planSchema.shape.limits,
    })
    .nullable()
    .describe('The plan the organization is on; null: none (a trial), and no limit is enforced'),
  usage: z.object({
    contacts: usageLine.describe('Live contacts (deleted and erased ones free their place)'),
    activeWorkflows: usageLine.describe('Workflows that are active (paused and deleted ones are not counted)'),
    executionsPerMonth: usageLine.describe('Workflow executions started within the period'),
    aiTokensPerMonth: usageLine.describe('AI tokens the AI service recorded within the period (prompt and completion; streamed calls included)'),
    seats: usageLine.describe('Active members (deactivated ones free their seat; an invitation takes one once accepted)'),
  }),
});

export type UsageLine = z.infer<typeof usageLine>;

/** A usage line against a limit (null: not enforced, so nothing remains to count down and nothing is exceeded). */
export function usageLineOf(used: number, limitOf: number | null): UsageLine {
  if (limitOf === null) return { used, limit: null, remaining: null, exceeded: false };
  return { used, limit: limitOf, remaining: Math.max(limitOf - used, 0), exceeded: used > limitOf };
}
