import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import { z } from 'zod';
import type { BillingAccount } from '../../domain/billing/billing-account.ts';
import type { CommandContext } from '../../domain/events.ts';
import { uuidLike } from '../../infra/http/fields.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import { OFFLINE_LABEL } from '../../infra/billing/offline-billing.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { commandContextOf } from '../http.ts';
import { UsageExceedsPlanError, type BillingCommands, type BillingOutcome } from './billing-commands.ts';
import { BillingOffline, BillingRateLimited, BillingRequestRejected, BillingUnavailable, WebhookSignatureInvalid } from './ports.ts';

const TAG = 'Billing';

const interval = z.enum(['month', 'year'], { error: 'must be month or year' });
const planChoice = z.strictObject({
  planId: z.string({ error: 'must be a plan id' }).regex(uuidLike, { error: 'must be a plan id' }),
  interval: interval.default('month').describe('month (default) or year (10 months charged)'),
});
const cancelBody = z.strictObject({
  atPeriodEnd: z.boolean({ error: 'must be true or false' }).default(true).describe('true (default): at the period end, undoable; false: now'),
});
const paymentMethodBody = z.strictObject({
  paymentMethodId: z
    .string({ error: 'must be a Stripe payment method id' })
    .regex(/^pm_[A-Za-z0-9_]{1,200}$/, { error: 'must be a Stripe payment method id (pm_…)' })
    .optional()
    .describe('Absent: start a setup (a SetupIntent to confirm in the browser). Present: make this confirmed card the default'),
});

const subscriptionSchema = z.object({
  id: z.string(),
  planId: z.string(),
  interval: z.enum(['month', 'year']),
  status: z.string(),
  currentPeriodStart: z.string(),
  currentPeriodEnd: z.string(),
  cancelAtPeriodEnd: z.boolean(),
  canceledAt: z.string().nullable(),
  trialEnd: z.string().nullable(),
});
export const billingAccountSchema = z.object({
  mode: z.enum(['stripe', 'offline']).describe('stripe: charged through Stripe; offline: nothing is charged'),
  offline: z.object({ charged: z.literal(false), note: z.string() }).optional(),
  revision: z.number().int(),
  position: z.string().nullable().describe('Send as X-Min-Position to read your own write'),
  subscription: subscriptionSchema.nullable(),
  scheduledChange: z.object({ planId: z.string(), interval: z.enum(['month', 'year']), at: z.string() }).nullable(),
  hasPaymentMethod: z.boolean(),
  standing: z.enum(['good', 'grace', 'restricted']),
  grace: z.object({ reason: z.string(), until: z.string() }).nullable(),
});

/** The account as the API answers it after a command. */
export function accountView(outcome: Omit<BillingOutcome, 'account'> & { account: BillingAccount }) {
  const { account, mode } = outcome;
  const subscription = account.subscription;
  return {
    mode,
    ...(mode === 'offline' ? { offline: { ...OFFLINE_LABEL } } : {}),
    revision: outcome.revision,
    position: outcome.position,
    subscription: subscription
      ? {
          id: subscription.subscriptionId,
          planId: subscription.planId,
          interval: subscription.interval,
          status: subscription.status,
          currentPeriodStart: subscription.currentPeriodStart,
          currentPeriodEnd: subscription.currentPeriodEnd,
          cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
          canceledAt: subscription.canceledAt,
          trialEnd: subscription.trialEnd,
        }
      : null,
    scheduledChange: account.scheduledChange,
    hasPaymentMethod: account.paymentMethodId !== null,
    standing: account.standing,
    grace: account.grace,
  };
}

/** A payment provider's failure as the API answers it: never a 500, and never Stripe's own message for a card. */
export function billingProblem(err: unknown): ProblemError | null {
  if (err instanceof UsageExceedsPlanError) {
    // Each limit with its numbers, so that the client can say what to remove (and where to look: the usage).
    return new ProblemError(409, 'Usage exceeds the plan', err.message, {
      code: err.code,
      planId: err.planId,
      exceeded: err.exceeded.map((e) => ({ ...e })),
      usage: '/billing/usage',
      'invalid-params': [{ name: 'planId', reason: "the current usage exceeds this plan's limits" }],
    });
  }
  if (err instanceof BillingOffline) {
    // The server's configuration, not an outage: nothing to retry until an operator sets the keys (a 4xx, as for any refusal).
    return new ProblemError(409, 'Billing offline', err.message, { code: 'billing_offline', missingSettings: [...err.missing] });
  }
  if (err instanceof BillingRateLimited) {
    return new ProblemError(
      503,
      'Payment provider rate limit',
      'Stripe asks to slow down; retry shortly.',
      { code: 'provider_rate_limited' },
      { 'Retry-After': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) },
    );
  }
  if (err instanceof BillingUnavailable)
    return new ProblemError(502, 'Payment provider unavailable', 'Stripe did not answer; retry shortly.', { code: 'provider_unavailable' });
  if (err instanceof BillingRequestRejected) {
    if (err.status === 402) {
      return new ProblemError(402, 'Payment declined', 'The card was declined.', { code: 'payment_declined', declineCode: err.declineCode });
    }
    if (err.code === 'idempotency_key_in_use') {
      return new ProblemError(409, 'Conflict', 'Another billing change for this organization is under way; read the account and retry.', {
        code: 'concurrent_change',
      });
    }
    if (err.code === 'resource_missing')
      return new ProblemError(400, 'Invalid request', 'Stripe does not know that object.', { code: 'unknown_provider_object', param: err.param });
    return new ProblemError(502, 'Payment provider refused the request', `Stripe refused the request (HTTP ${err.status}).`, {
      code: 'provider_rejected',
    });
  }
  return null;
}

async function callingBilling<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw billingProblem(err) ?? err;
  }
}

function respond(ctx: Koa.Context, outcome: BillingOutcome, status = 200, extra: Record<string, unknown> = {}): void {
  ctx.status = status;
  ctx.set('ETag', `"${outcome.revision}"`);
  ctx.body = { ...accountView(outcome), ...extra };
}

export function billingCommandRoutes(commands: BillingCommands): AnyRoute[] {
  const offlineNote = ' Offline (no STRIPE_SECRET_KEY): kept on our side only, nothing is charged, and the answer says so.';
  return [
    defineRoute({
      method: 'post',
      path: '/billing/subscribe',
      operationId: 'subscribe',
      summary: 'Subscribe the organization to a plan',
      description:
        'An active plan of the catalog, monthly or yearly (10 months charged). A trial still running carries over: nothing is ' +
        'charged until it ends. Without a card on file the first invoice stays open (status incomplete).' +
        offlineNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:manage',
      body: planChoice,
      bodyExample: { planId: '0b9f6a52-5d55-4f8e-9a43-2f7e4c1c2a10', interval: 'month' },
      responses: {
        201: { description: 'Subscribed', schema: billingAccountSchema },
        400: { description: 'Not a plan id or interval' },
        402: { description: 'The card was declined' },
        409: { description: 'Already subscribed (change the plan instead)' },
        422: { description: 'No such plan, or not an active one' },
        502: { description: 'Stripe failed' },
      },
      async handler(ctx, { body }) {
        const outcome = await callingBilling(() => commands.subscribe(commandContextOf(ctx), body as { planId: string; interval: 'month' | 'year' }));
        respond(ctx, outcome, 201);
      },
    }),
    defineRoute({
      method: 'put',
      path: '/billing/plan',
      operationId: 'changePlan',
      summary: 'Change the plan or the billing interval',
      description:
        'When it takes effect (`timing`): a dearer plan, or monthly to yearly, now, with the difference charged prorated; a ' +
        'cheaper plan, or yearly to monthly, at the period end (`scheduledChange`; choosing the current plan again drops it). ' +
        'Another plan whose limits on contacts, active workflows or seats are below what the organization holds now is refused ' +
        'with 409 `usage_exceeds_plan`, each exceeded limit in `exceeded` (`limit`, `usage`, `allowed`), and nothing changes. ' +
        'The usage is read from the metering read model (milliseconds behind); the limits are kept at each write anyway (402 ' +
        '`plan_limit_reached`), so a write racing the check only leaves the organization above the new limit, unable to add more ' +
        'until it is under it. A change scheduled for the period end is made then even if usage grew meanwhile.' +
        offlineNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:manage',
      body: planChoice,
      bodyExample: { planId: '0b9f6a52-5d55-4f8e-9a43-2f7e4c1c2a10', interval: 'year' },
      responses: {
        200: {
          description: 'Changed, scheduled or unchanged',
          schema: billingAccountSchema.extend({ timing: z.enum(['now', 'period_end', 'unchanged']) }),
        },
        400: { description: 'Not a plan id or interval' },
        402: { description: 'The card was declined for the prorated difference' },
        409: { description: "The current usage exceeds the plan's limits (`code: usage_exceeds_plan`, `exceeded`)" },
        422: { description: 'No subscription to change, or not an active plan' },
      },
      async handler(ctx, { body }) {
        const outcome = await callingBilling(() =>
          commands.changePlan(commandContextOf(ctx), body as { planId: string; interval: 'month' | 'year' }),
        );
        respond(ctx, outcome, 200, { timing: outcome.timing });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/billing/cancel',
      operationId: 'cancelSubscription',
      summary: 'Cancel the subscription',
      description: 'At the period end (default; POST /billing/resume undoes it until then) or now.' + offlineNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:manage',
      body: cancelBody,
      bodyExample: { atPeriodEnd: true },
      responses: {
        200: { description: 'Canceled, or canceling at the period end', schema: billingAccountSchema },
        422: { description: 'No subscription to cancel' },
      },
      async handler(ctx, { body }) {
        respond(
          ctx,
          await callingBilling(() => commands.cancel(commandContextOf(ctx), { atPeriodEnd: (body as { atPeriodEnd: boolean }).atPeriodEnd })),
        );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/billing/resume',
      operationId: 'resumeSubscription',
      summary: 'Undo a cancellation at the period end',
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:manage',
      responses: {
        200: { description: 'Resumed', schema: billingAccountSchema },
        422: { description: 'No cancellation to undo' },
      },
      async handler(ctx) {
        respond(ctx, await callingBilling(() => commands.resume(commandContextOf(ctx))));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/billing/payment-method',
      operationId: 'setPaymentMethod',
      summary: 'Add a card: start a setup, then make the confirmed card the default',
      description:
        'Without `paymentMethodId`: answers a SetupIntent (`clientSecret`) to confirm in the browser with Stripe.js; card ' +
        'data never reaches this server. With the confirmed `paymentMethodId`: it becomes the default for invoices. Offline: 409 ' +
        '`billing_offline` naming the settings.',
      tag: TAG,
      auth: 'bearer',
      permission: 'billing:manage',
      body: paymentMethodBody,
      bodyExample: { paymentMethodId: 'pm_1QJ2x3Ab4Cd5Ef6G' },
      responses: {
        200: { description: 'The card is the default now', schema: billingAccountSchema },
        201: {
          description: 'A setup to confirm in the browser',
          schema: z.object({ setupIntentId: z.string(), clientSecret: z.string(), status: z.string() }),
        },
        400: { description: 'Not a payment method id, or Stripe does not know it' },
        409: { description: 'Billing runs offline (`code: billing_offline`, `missingSettings`)' },
      },
      async handler(ctx, { body }) {
        const paymentMethodId = (body as { paymentMethodId?: string }).paymentMethodId;
        if (paymentMethodId === undefined) {
          ctx.status = 201;
          ctx.set('Cache-Control', 'no-store');
          ctx.body = await callingBilling(() => commands.startPaymentMethodSetup(commandContextOf(ctx)));
          return;
        }
        respond(ctx, await callingBilling(() => commands.setPaymentMethod(commandContextOf(ctx), paymentMethodId)));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/billing/webhooks/stripe',
      operationId: 'receiveStripeWebhook',
      summary: "Stripe's webhook deliveries",
      description:
        'No bearer: the Stripe-Signature over the raw body authenticates the delivery (400 and nothing applied when it is ' +
        'missing, wrong or older than 5 minutes). Each event is applied once (a redelivery answers `duplicate`), by fetching ' +
        "its object's current state from Stripe, so order does not matter.",
      tag: TAG,
      auth: 'none',
      rawBody: true,
      responses: {
        200: {
          description: 'Applied (or already)',
          schema: z.object({ received: z.literal(true), eventId: z.string(), type: z.string(), duplicate: z.boolean() }),
        },
        400: { description: 'The signature does not hold (`reason`: missing, mismatch, stale, malformed)' },
        409: { description: 'Billing runs offline (`code: billing_offline`)' },
      },
      async handler(ctx, { rawBody }) {
        const signature = ctx.get('Stripe-Signature') || undefined;
        const system = (organizationId: string | null): CommandContext => ({
          tenantId: organizationId,
          actor: { type: 'system', id: 'stripe-webhook' },
          correlationId: ctx.state.correlationId ?? randomUUID(),
          causationId: ctx.state.requestId ?? randomUUID(),
          now: new Date(),
        });
        try {
          const applied = await callingBilling(() => commands.receiveWebhook(rawBody!, signature, system));
          ctx.body = { received: true, eventId: applied.eventId, type: applied.type, duplicate: applied.duplicate };
        } catch (err) {
          if (err instanceof WebhookSignatureInvalid) {
            throw new ProblemError(400, 'Invalid signature', 'The Stripe-Signature does not hold for this body.', {
              code: 'invalid_signature',
              reason: err.reason,
            });
          }
          throw err;
        }
      },
    }),
  ];
}
