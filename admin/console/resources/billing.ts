import { randomUUID } from 'node:crypto';
import {
  ValidationError,
  type ActionContext,
  type ActionRequest,
  type ParamsType,
  type RecordActionResponse,
  type ResourceWithOptions,
} from 'adminjs';
import type { BillingCommands } from '../../../command-api/billing/billing-commands.ts';
import { BillingOffline, BillingRateLimited, BillingRequestRejected, BillingUnavailable } from '../../../command-api/billing/ports.ts';
import type { SignedInStaff } from '../../../command-api/staff/staff-accounts.ts';
import type { StaffRequest } from '../../../command-api/staff/staff-console.ts';
import { billingAccountStream } from '../../../domain/billing/billing-account.ts';
import type { CommandContext } from '../../../domain/events.ts';
import { requireStaffPermission, type StaffPermission } from '../../../domain/staff/staff-permissions.ts';
import { PlanViewSchema } from '../../../projectors/plans/plan-view.ts';
import { BillingResource } from '../billing-resource.ts';
import { commandOf, staffOf } from '../read-model-resource.ts';
import { detailOnly, enumOf, historyAction, may, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** What the Billing resource acts through besides the staff console: billing's own commands. */
export type StaffBilling = Pick<BillingCommands, 'mode' | 'checkStanding' | 'retryPayment'>;

export interface BillingResourceDeps extends ConsoleResourceDeps {
  billing: StaffBilling;
}

/** Retrying a payment charges the customer's card: admins only (support may not). */
const RETRY_PAYMENT: StaffPermission = 'billing:retryPayment';

/** The projections a billing action's facts show in. */
const SHOWN_IN = ['organizations', 'billing'] as const;

/** What a form action's page asks for (the BillingActionForm component renders it). */
interface ActionForm {
  field: string;
  label: string;
  kind: 'datetime' | 'select';
  options?: { value: string; label: string }[];
  value?: string | null;
  help?: string;
  submit: string;
}

/**
 * Each organization's billing: subscription, standing, invoices and usage against its plan's limits (read),
 * and the staff actions on it, each a command with the staff member as actor: extend the trial and comp a
 * plan (the organization's commands, then billing's standing check so that a grace or restriction they end is
 * lifted now rather than at the worker's next pass), and retry an unpaid invoice's payment at Stripe.
 */
export function billingResource(deps: BillingResourceDeps): ResourceWithOptions {
  const { staffConsole, billing } = deps;
  const resource = new BillingResource({ orm: deps.orm, streams: deps.streams, mode: billing.mode });

  /** After an organization's command: billing records what it means for the standing, as the same staff member. */
  async function checkStanding(request: StaffRequest, permission: StaffPermission, organizationId: string, position: string | null) {
    const { recorded } = await billing.checkStanding(organizationId, staffContext(request, permission, organizationId));
    await deps.settle(SHOWN_IN, recorded.length > 0 ? await lastPosition(organizationId) : position);
    return recorded;
  }

  async function lastPosition(organizationId: string): Promise<string | null> {
    return (await deps.streams.readStream(billingAccountStream(organizationId))).at(-1)?.position ?? null;
  }

  return {
    resource,
    options: {
      navigation: navigation.tenants,
      listProperties: ['name', 'planId', 'status', 'interval', 'currentPeriodEnd', 'standingDetail', 'unpaidInvoices', 'mode'],
      filterProperties: ['name', 'planId', 'status', 'interval', 'standing', 'mode', 'cancelAtPeriodEnd', 'hasPaymentMethod'],
      showProperties: [
        'name',
        'planId',
        'comped',
        'trialEndsAt',
        'mode',
        'status',
        'interval',
        'subscriptionPlanId',
        'currentPeriodStart',
        'currentPeriodEnd',
        'scheduledChange',
        'cancelAtPeriodEnd',
        'canceledAt',
        'hasPaymentMethod',
        'standingDetail',
        'unpaidInvoices',
        'invoices',
        'usage',
        'subscriptionId',
        'customerId',
        'updatedAt',
      ],
      properties: {
        id: { isVisible: false },
        planId: { description: "The plan whose limits apply (a subscription's, or one staff gave)" },
        comped: { ...detailOnly, description: 'On a plan staff gave without a subscription: nothing is charged, nothing owed' },
        mode: { ...enumOf('stripe', 'offline'), description: 'offline: nothing is charged (no Stripe key configured)' },
        status: {
          ...enumOf('trialing', 'active', 'past_due', 'incomplete', 'incomplete_expired', 'canceled', 'unpaid', 'paused'),
          description: 'The subscription as Stripe last reported it',
        },
        interval: enumOf('month', 'year'),
        standing: enumOf('good', 'grace', 'restricted'),
        standingDetail: { description: 'grace: writes still allowed until it ends; restricted: writes refused until paid' },
        unpaidInvoices: { description: 'Invoices whose payment failed and that are not paid yet' },
        subscriptionPlanId: detailOnly,
        currentPeriodStart: detailOnly,
        scheduledChange: { ...detailOnly, description: 'A downgrade or a move to monthly billing, waiting for the period end' },
        canceledAt: detailOnly,
        subscriptionId: detailOnly,
        customerId: detailOnly,
        graceReason: { isVisible: false },
        graceUntil: { isVisible: false },
        updatedAt: detailOnly,
        invoices: { ...detailOnly, components: { show: 'BillingInvoices' } },
        usage: { ...detailOnly, description: 'The current billing period, against the plan’s limits', components: { show: 'BillingUsage' } },
      },
      actions: {
        ...readOnly,
        extendTrial: formAction({
          permission: 'tenants:extendTrial',
          icon: 'Calendar',
          // A subscription's trial is Stripe's (its own trial end); the organization's trial is for those without one.
          isVisible: (record) => record.subscriptionId === null || record.status === 'canceled' || record.status === 'incomplete_expired',
          form: async (record) => ({
            field: 'trialEndsAt',
            label: 'New trial end',
            kind: 'datetime',
            value: typeof record.trialEndsAt === 'string' ? record.trialEndsAt : null,
            help: 'Later than the current trial end, at most a year ahead. A grace or restriction the ended trial started is lifted.',
            submit: 'Extend trial',
          }),
          run: async (context, who, record, payload) => {
            const organizationId = String(record.id);
            const request = deps.requestOf(context, who);
            const trialEndsAt = dateParam(payload.trialEndsAt);
            const outcome = await staffConsole.extendTrial(request, organizationId, trialEndsAt);
            const recorded = await checkStanding(request, 'tenants:extendTrial', organizationId, outcome.position);
            const until = outcome.state.status === 'absent' ? trialEndsAt : outcome.state.trialEndsAt;
            return {
              message: `The trial of ${String(record.name)} now ends ${until}${recorded.includes('StandingRestored') ? '; its standing is good again' : ''}`,
            };
          },
        }),
        compPlan: formAction({
          permission: 'tenants:changePlan',
          icon: 'Gift',
          isVisible: (record) => record.subscriptionId === null,
          form: async (record) => {
            const plans = await deps.orm.em.fork().find(PlanViewSchema, { status: 'active' }, { filters: false, orderBy: { name: 'asc' } });
            return {
              field: 'planId',
              label: 'Plan',
              kind: 'select',
              options: plans.map((plan) => ({
                value: plan.id,
                label: `${plan.name} (${plan.currency} ${Number(plan.monthlyPriceCents) / 100}/month)`,
              })),
              value: typeof record.planId === 'string' ? record.planId : null,
              help: 'The organization is put on this plan without a subscription: its limits apply, nothing is charged, a grace or restriction ends.',
              submit: 'Comp this plan',
            };
          },
          run: async (context, who, record, payload) => {
            const organizationId = String(record.id);
            // Comped means no subscription: billing would keep charging (and enforcing) a subscription's plan.
            if (record.subscriptionId !== null) {
              throw refusal(`${String(record.name)} has a subscription (${String(record.status)}): a plan can be comped only without one`);
            }
            const planId = typeof payload.planId === 'string' ? payload.planId : '';
            if (planId === '') throw refusal('Choose the plan to comp');
            const request = deps.requestOf(context, who);
            const outcome = await staffConsole.changePlan(request, organizationId, planId);
            const recorded = await checkStanding(request, 'tenants:changePlan', organizationId, outcome.position);
            return {
              message: `${String(record.name)} is on a comped plan${recorded.includes('StandingRestored') ? '; its standing is good again' : ''}`,
            };
          },
        }),
        retryPayment: formAction({
          permission: RETRY_PAYMENT,
          icon: 'CreditCard',
          isVisible: (record) => Number(record.unpaidInvoices) > 0 || record.mode === 'offline',
          form: async (record) => {
            const unpaid = invoicesOf(record).filter((invoice) => invoice.status !== 'paid');
            return {
              field: 'invoiceId',
              label: 'Invoice',
              kind: 'select',
              options: unpaid.map((invoice) => ({
                value: invoice.id,
                label: `${invoice.number ?? invoice.id}: ${money(invoice.amount, invoice.currency)}, ${invoice.attempts} failed attempt(s)`,
              })),
              value: unpaid[0]?.id ?? null,
              help: 'Charges the customer’s default card now, at Stripe.',
              submit: 'Retry payment',
            };
          },
          run: async (context, who, record, payload) => {
            const organizationId = String(record.id);
            const invoiceId = typeof payload.invoiceId === 'string' ? payload.invoiceId : '';
            // Offline, billing's command says why nothing can be charged, whichever invoice was named.
            if (invoiceId === '' && billing.mode !== 'offline') throw refusal('Choose the invoice whose payment to retry');
            const commandContext = staffContext(deps.requestOf(context, who), RETRY_PAYMENT, organizationId);
            const outcome = await providerCall(() => billing.retryPayment(organizationId, invoiceId, commandContext));
            await deps.settle(SHOWN_IN, outcome.position);
            const invoice = invoicesOf(record).find((i) => i.id === invoiceId);
            const named = invoice?.number ?? invoiceId;
            if (outcome.declined) {
              const why = outcome.declined.declineCode ?? outcome.declined.code ?? 'declined';
              return {
                message: `The card was declined (${why}): invoice ${named} is still unpaid, and the failed attempt is recorded`,
                type: 'error' as const,
              };
            }
            const lifted = outcome.recorded?.includes('StandingRestored') ? '; the grace is lifted' : '';
            return { message: `Invoice ${named} is paid${lifted}` };
          },
        }),
        history: historyAction(billingAccountStream),
      },
    },
  };
}

/**
 * A record action with a form (the BillingActionForm component): a GET answers the record and what the form
 * asks for; a POST runs the command with what was entered and reports it as a notice (an error notice for a
 * refusal, or for an outcome that is not what staff wanted, such as a declined card).
 */
function formAction(options: {
  permission: StaffPermission;
  icon: string;
  isVisible: (record: ParamsType) => boolean;
  form(record: ParamsType): Promise<ActionForm>;
  run(
    context: ActionContext,
    staff: SignedInStaff,
    record: ParamsType,
    payload: ParamsType,
  ): Promise<{ message: string; type?: 'success' | 'error' }>;
}) {
  return {
    actionType: 'record' as const,
    icon: options.icon,
    component: 'BillingActionForm',
    isAccessible: may(options.permission),
    isVisible: ({ record }: { record?: { params: ParamsType } }) => !record || options.isVisible(record.params),
    handler: async (request: ActionRequest, _response: unknown, context: ActionContext): Promise<RecordActionResponse & { form?: ActionForm }> => {
      const staff = staffOf(context);
      const record = context.record!;
      if (request.method !== 'post') return { record: record.toJSON(context.currentAdmin), form: await options.form(record.params) };
      // The console hides what a role may not do; this refuses it whatever the page sent (the console's 403).
      await commandOf(async () => requireStaffPermission(staff.role, options.permission));
      const outcome = await commandOf(() => options.run(context, staff, record.params, request.payload ?? {}));
      const fresh = (await context.resource.findOne(String(record.id()), context)) ?? record;
      const show = `/admin/resources/${context.resource.id()}/records/${String(record.id())}/show`;
      return { record: fresh.toJSON(context.currentAdmin), notice: { message: outcome.message, type: outcome.type ?? 'success' }, redirectUrl: show };
    },
  };
}

/**
 * Billing's commands take a command context: the staff member as actor, the organization as tenant (its own
 * audit trail shows the action), the console request's correlation id, IP and agent; the role checked first,
 * as the staff console's commands do.
 */
function staffContext(request: StaffRequest, permission: StaffPermission, organizationId: string): CommandContext {
  requireStaffPermission(request.staff.role, permission);
  return {
    tenantId: organizationId,
    actor: { type: 'staff', id: request.staff.id },
    correlationId: request.correlationId,
    causationId: randomUUID(),
    now: new Date(),
    ...(request.ip ? { ip: request.ip } : {}),
    ...(request.userAgent ? { userAgent: request.userAgent } : {}),
  };
}

/** Stripe's answers that are not a failure of the console: said to staff as they are, never a crash page. */
async function providerCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof BillingOffline) throw refusal(err.message);
    if (err instanceof BillingRateLimited) throw refusal('Stripe asks to slow down; retry in a moment');
    if (err instanceof BillingUnavailable) throw refusal('Stripe did not answer; retry in a moment');
    if (err instanceof BillingRequestRejected) {
      if (err.code === 'idempotency_key_in_use') throw refusal('Another retry of this payment is under way; reload the page');
      throw refusal(`Stripe refused the payment (${err.code ?? `HTTP ${err.status}`}): ${err.message}`);
    }
    throw err;
  }
}

function refusal(message: string): ValidationError {
  return new ValidationError({}, { message, type: 'error' });
}

interface ShownInvoice {
  id: string;
  number: string | null;
  status: string;
  amount: number;
  currency: string;
  attempts: number;
}

function invoicesOf(record: ParamsType): ShownInvoice[] {
  return typeof record.invoices === 'string' ? (JSON.parse(record.invoices) as ShownInvoice[]) : [];
}

function money(amount: number, currency: string): string {
  return `${currency.toUpperCase()} ${(amount / 100).toFixed(2)}`;
}

/** A date field as the form sends it: ISO text, or the text as typed (the command names what is wrong with it). */
function dateParam(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? value : new Date(parsed).toISOString();
}
