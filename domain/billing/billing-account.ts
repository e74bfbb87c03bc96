import { DateTime, IANAZone } from 'luxon';
import { ConflictError, RuleViolationError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * An organization's billing account (stream `billing-<organizationId>`): its customer at the payment provider,
 * its subscription as the provider last reported it, a plan change waiting for the period end, and its
 * standing (good → grace → restricted and back). The provider is called by the command side BEFORE a decision
 * is recorded (with idempotency keys, so a retry charges nothing twice); what the provider answers arrives
 * here as a snapshot, and the decider records only what changed. Webhooks and reconciliation bring snapshots
 * of the CURRENT object, so their order does not matter: a snapshot equal to the state records nothing.
 */

export type BillingInterval = 'month' | 'year';
export const billingIntervals: readonly BillingInterval[] = ['month', 'year'];
export type BillingMode = 'stripe' | 'offline';
export type SubscriptionStatus = 'incomplete' | 'incomplete_expired' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid' | 'paused';
export type Standing = 'good' | 'grace' | 'restricted';
export type GraceReason = 'trial_ended' | 'subscription_ended' | 'payment_failed';

/** An annual price is this many monthly prices (two months free). */
export const ANNUAL_MONTHS_CHARGED = 10;

/** The subscription as the provider holds it (or, offline, as we keep it). */
export interface SubscriptionSnapshot {
  subscriptionId: string;
  planId: string;
  interval: BillingInterval;
  status: SubscriptionStatus;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  canceledAt: string | null;
  trialEnd: string | null;
}

export type BillingCustomerCreated = DomainEvent<'BillingCustomerCreated', { organizationId: string; customerId: string; mode: BillingMode }>;
export type SubscriptionStarted = DomainEvent<'SubscriptionStarted', { organizationId: string; mode: BillingMode } & SubscriptionSnapshot>;
/** What changed, with the values before; `reason` says why (a command of ours, or the provider's word). */
export type SubscriptionChanged = DomainEvent<
  'SubscriptionChanged',
  {
    organizationId: string;
    subscriptionId: string;
    changes: Partial<Omit<SubscriptionSnapshot, 'subscriptionId'>>;
    previous: Partial<Omit<SubscriptionSnapshot, 'subscriptionId'>>;
    reason: ChangeReason;
  }
>;
export type SubscriptionCanceled = DomainEvent<
  'SubscriptionCanceled',
  { organizationId: string; subscriptionId: string; planId: string; canceledAt: string }
>;
export type PlanChangeScheduled = DomainEvent<
  'PlanChangeScheduled',
  {
    organizationId: string;
    subscriptionId: string;
    planId: string;
    interval: BillingInterval;
    at: string;
    fromPlanId: string;
    fromInterval: BillingInterval;
  }
>;
export type ScheduledPlanChangeDropped = DomainEvent<
  'ScheduledPlanChangeDropped',
  { organizationId: string; planId: string; interval: BillingInterval; reason: 'replaced' | 'canceled' | 'applied' }
>;
export type PaymentMethodSet = DomainEvent<'PaymentMethodSet', { organizationId: string; paymentMethodId: string }>;
export type InvoicePaid = DomainEvent<
  'InvoicePaid',
  {
    organizationId: string;
    invoiceId: string;
    /** The provider's invoice number, shown to the customer. */
    number: string | null;
    amountPaid: number;
    currency: string;
    periodStart: string;
    periodEnd: string;
    hostedInvoiceUrl: string | null;
    pdfUrl: string | null;
  }
>;
export type PaymentFailed = DomainEvent<
  'PaymentFailed',
  {
    organizationId: string;
    invoiceId: string;
    number: string | null;
    amountDue: number;
    currency: string;
    attempt: number;
    declineCode: string | null;
    hostedInvoiceUrl: string | null;
    pdfUrl: string | null;
  }
>;
export type GraceStarted = DomainEvent<'GraceStarted', { organizationId: string; reason: GraceReason; until: string }>;
export type OrganizationRestricted = DomainEvent<'OrganizationRestricted', { organizationId: string; reason: GraceReason }>;
export type StandingRestored = DomainEvent<
  'StandingRestored',
  { organizationId: string; reason: 'paid' | 'subscribed' | 'trial_extended' | 'comped' }
>;

export type ChangeReason = 'upgrade' | 'downgrade' | 'interval_change' | 'canceling_at_period_end' | 'cancel_undone' | 'provider';

export type BillingAccountEvent =
  | BillingCustomerCreated
  | SubscriptionStarted
  | SubscriptionChanged
  | SubscriptionCanceled
  | PlanChangeScheduled
  | ScheduledPlanChangeDropped
  | PaymentMethodSet
  | InvoicePaid
  | PaymentFailed
  | GraceStarted
  | OrganizationRestricted
  | StandingRestored;

export const billingAccountEventTypes = [
  'BillingCustomerCreated',
  'SubscriptionStarted',
  'SubscriptionChanged',
  'SubscriptionCanceled',
  'PlanChangeScheduled',
  'ScheduledPlanChangeDropped',
  'PaymentMethodSet',
  'InvoicePaid',
  'PaymentFailed',
  'GraceStarted',
  'OrganizationRestricted',
  'StandingRestored',
] as const satisfies readonly BillingAccountEvent['type'][];

export interface BillingAccount {
  organizationId: string | null;
  mode: BillingMode | null;
  customerId: string | null;
  subscription: SubscriptionSnapshot | null;
  scheduledChange: { planId: string; interval: BillingInterval; at: string } | null;
  paymentMethodId: string | null;
  standing: Standing;
  grace: { reason: GraceReason; until: string } | null;
  /** Invoices recorded paid (a repeated report records nothing). */
  paidInvoices: readonly string[];
  /** Failed payment attempts recorded, as `<invoiceId>#<attempt>`. */
  failedAttempts: readonly string[];
}

export const initialBillingAccount: BillingAccount = {
  organizationId: null,
  mode: null,
  customerId: null,
  subscription: null,
  scheduledChange: null,
  paymentMethodId: null,
  standing: 'good',
  grace: null,
  paidInvoices: [],
  failedAttempts: [],
};

export const billingAccountStream = (organizationId: string) => `billing-${organizationId}`;

/** A subscription that still bills (or will): the organization may not start another. */
export function isLive(subscription: SubscriptionSnapshot | null): subscription is SubscriptionSnapshot {
  return subscription !== null && subscription.status !== 'canceled' && subscription.status !== 'incomplete_expired';
}

/**
 * The billing period `now` falls in: the live subscription's current one, else the calendar month in the
 * organization's time zone (a trial, a comped plan). Monthly limits (executions) and usage are counted in it.
 */
export function billingPeriodAt(
  subscription: Pick<SubscriptionSnapshot, 'status' | 'currentPeriodStart' | 'currentPeriodEnd'> | null,
  timezone: string,
  now: Date,
): { start: Date; end: Date; basis: 'subscription' | 'calendar_month' } {
  if (subscription && isLive(subscription as SubscriptionSnapshot)) {
    return { start: new Date(subscription.currentPeriodStart), end: new Date(subscription.currentPeriodEnd), basis: 'subscription' };
  }
  const zone = IANAZone.isValidZone(timezone) ? timezone : 'UTC';
  const month = DateTime.fromJSDate(now, { zone }).startOf('month');
  return { start: month.toJSDate(), end: month.plus({ months: 1 }).toJSDate(), basis: 'calendar_month' };
}

/** A plan at a billing interval, with its monthly price (the catalog's). */
export interface PricedChoice {
  planId: string;
  interval: BillingInterval;
  monthlyPriceCents: number;
}

/**
 * When a plan change takes effect, the rule users of billing systems ask to see written down:
 * - monthly → annual (any plan): now, charged at once with proration (the commitment grows);
 * - annual → monthly (any plan): at the period end (the year is paid; it is never an "upgrade");
 * - same interval, a dearer plan: now, prorated; a cheaper one: at the period end; the same price: now.
 */
export function planChangeTiming(from: PricedChoice, to: PricedChoice): 'now' | 'period_end' {
  if (from.interval !== to.interval) return to.interval === 'year' ? 'now' : 'period_end';
  return to.monthlyPriceCents >= from.monthlyPriceCents ? 'now' : 'period_end';
}

/** The price of a plan for an interval, from its monthly price. */
export function priceFor(monthlyPriceCents: number, interval: BillingInterval): number {
  return interval === 'year' ? monthlyPriceCents * ANNUAL_MONTHS_CHARGED : monthlyPriceCents;
}

/**
 * From when an organization's writes are refused for billing, and why; null while it owes nothing. The same
 * rule as CheckStanding's facts, evaluated at the time of each write, so enforcement never waits for the clock
 * job to record them: a grace that ran out restricts at its end, a trial (or a subscription) that ended unpaid
 * restricts `graceDays` after it ended. `comped`: on a plan staff gave without a subscription.
 */
export function restrictionStart(
  account: BillingAccount,
  organization: { trialEndsAt: string | null; comped: boolean },
  graceDays: number,
): { at: string; reason: GraceReason } | null {
  if (account.standing === 'restricted') return { at: new Date(0).toISOString(), reason: account.grace?.reason ?? 'payment_failed' };
  if (account.standing === 'grace' && account.grace) return { at: account.grace.until, reason: account.grace.reason };
  if (organization.comped || (isLive(account.subscription) && account.subscription.status !== 'incomplete')) return null;
  const ended = account.subscription?.canceledAt ?? null;
  if (ended !== null) return { at: addDays(ended, graceDays), reason: 'subscription_ended' };
  if (organization.trialEndsAt !== null) return { at: addDays(organization.trialEndsAt, graceDays), reason: 'trial_ended' };
  return null;
}

// --- commands ---

export type RecordCustomer = { type: 'RecordCustomer'; data: { organizationId: string; customerId: string; mode: BillingMode } };
/** The provider's subscription as it is now (after a command of ours, a webhook or reconciliation). */
export type ApplySubscription = {
  type: 'ApplySubscription';
  data: { organizationId: string; snapshot: SubscriptionSnapshot; mode: BillingMode; reason: ChangeReason; now: string };
};
export type SchedulePlanChange = {
  type: 'SchedulePlanChange';
  data: { organizationId: string; planId: string; interval: BillingInterval };
};
export type DropScheduledPlanChange = { type: 'DropScheduledPlanChange'; data: { organizationId: string; reason: 'canceled' | 'applied' } };
export type RecordPaymentMethod = { type: 'RecordPaymentMethod'; data: { organizationId: string; paymentMethodId: string } };
export type RecordInvoicePaid = { type: 'RecordInvoicePaid'; data: InvoicePaid['data'] };
export type RecordPaymentFailed = { type: 'RecordPaymentFailed'; data: PaymentFailed['data'] & { now: string; graceDays: number } };
/**
 * The clock's part: a trial (or a subscription) that ended unpaid starts grace; a grace that ran out restricts.
 * `comped`: staff put the organization on a plan without a subscription (a comped plan): nothing is owed.
 */
export type CheckStanding = {
  type: 'CheckStanding';
  data: { organizationId: string; now: string; trialEndsAt: string | null; graceDays: number; comped: boolean };
};
/** Before a subscribe reaches the provider: refused while a subscription still bills. */
export type CheckCanSubscribe = { type: 'CheckCanSubscribe'; data: { organizationId: string } };

export type BillingAccountCommand =
  | RecordCustomer
  | ApplySubscription
  | SchedulePlanChange
  | DropScheduledPlanChange
  | RecordPaymentMethod
  | RecordInvoicePaid
  | RecordPaymentFailed
  | CheckStanding
  | CheckCanSubscribe;

const DAY_MS = 86_400_000;
function addDays(iso: string, days: number): string {
  return new Date(Date.parse(iso) + days * DAY_MS).toISOString();
}
const snapshotFields = [
  'planId',
  'interval',
  'status',
  'currentPeriodStart',
  'currentPeriodEnd',
  'cancelAtPeriodEnd',
  'canceledAt',
  'trialEnd',
] as const;

export function decideBillingAccount(command: BillingAccountCommand, state: BillingAccount): BillingAccountEvent[] {
  const { organizationId } = command.data;
  switch (command.type) {
    case 'RecordCustomer': {
      if (state.customerId === command.data.customerId) return [];
      if (state.customerId !== null) throw new ConflictError('This organization already has a billing customer', 'customer_exists');
      return [{ type: 'BillingCustomerCreated', version: 1, data: { organizationId, customerId: command.data.customerId, mode: command.data.mode } }];
    }
    case 'CheckCanSubscribe': {
      if (isLive(state.subscription)) {
        throw new ConflictError(
          `The organization is already subscribed (${state.subscription.planId}, ${state.subscription.status}); change the plan instead`,
          'already_subscribed',
        );
      }
      return [];
    }
    case 'ApplySubscription':
      return applySubscription(command.data, state);
    case 'SchedulePlanChange': {
      const subscription = state.subscription;
      if (!isLive(subscription)) throw new RuleViolationError('The organization has no subscription to change', 'not_subscribed');
      const { planId, interval } = command.data;
      if (state.scheduledChange?.planId === planId && state.scheduledChange.interval === interval) return [];
      const events: BillingAccountEvent[] = [];
      if (state.scheduledChange) {
        events.push({ type: 'ScheduledPlanChangeDropped', version: 1, data: { organizationId, ...pick(state.scheduledChange), reason: 'replaced' } });
      }
      if (planId === subscription.planId && interval === subscription.interval) return events;
      events.push({
        type: 'PlanChangeScheduled',
        version: 1,
        data: {
          organizationId,
          subscriptionId: subscription.subscriptionId,
          planId,
          interval,
          at: subscription.currentPeriodEnd,
          fromPlanId: subscription.planId,
          fromInterval: subscription.interval,
        },
      });
      return events;
    }
    case 'DropScheduledPlanChange': {
      if (!state.scheduledChange) return [];
      return [
        { type: 'ScheduledPlanChangeDropped', version: 1, data: { organizationId, ...pick(state.scheduledChange), reason: command.data.reason } },
      ];
    }
    case 'RecordPaymentMethod': {
      if (state.paymentMethodId === command.data.paymentMethodId) return [];
      return [{ type: 'PaymentMethodSet', version: 1, data: { organizationId, paymentMethodId: command.data.paymentMethodId } }];
    }
    case 'RecordInvoicePaid': {
      if (state.paidInvoices.includes(command.data.invoiceId)) return [];
      const events: BillingAccountEvent[] = [{ type: 'InvoicePaid', version: 1, data: command.data }];
      if (state.standing !== 'good' && state.grace?.reason === 'payment_failed') {
        events.push({ type: 'StandingRestored', version: 1, data: { organizationId, reason: 'paid' } });
      }
      return events;
    }
    case 'RecordPaymentFailed': {
      const { now, graceDays, ...failure } = command.data;
      if (state.failedAttempts.includes(`${failure.invoiceId}#${failure.attempt}`) || state.paidInvoices.includes(failure.invoiceId)) return [];
      const events: BillingAccountEvent[] = [{ type: 'PaymentFailed', version: 1, data: failure }];
      if (state.standing === 'good') {
        events.push({ type: 'GraceStarted', version: 1, data: { organizationId, reason: 'payment_failed', until: addDays(now, graceDays) } });
      }
      return events;
    }
    case 'CheckStanding': {
      const { now, trialEndsAt, graceDays, comped } = command.data;
      const at = Date.parse(now);
      if (state.standing === 'grace' && state.grace && at >= Date.parse(state.grace.until)) {
        return [{ type: 'OrganizationRestricted', version: 1, data: { organizationId, reason: state.grace.reason } }];
      }
      const paying = comped || (isLive(state.subscription) && state.subscription.status !== 'incomplete');
      if (state.standing === 'good' && !paying) {
        // After a subscription that ended: grace from its end; never subscribed: from the trial's end.
        const ended = state.subscription?.canceledAt ?? null;
        if (ended !== null) {
          return [{ type: 'GraceStarted', version: 1, data: { organizationId, reason: 'subscription_ended', until: addDays(ended, graceDays) } }];
        }
        if (trialEndsAt !== null && at >= Date.parse(trialEndsAt)) {
          return [{ type: 'GraceStarted', version: 1, data: { organizationId, reason: 'trial_ended', until: addDays(trialEndsAt, graceDays) } }];
        }
      }
      if (state.standing !== 'good' && state.grace?.reason !== 'payment_failed') {
        // A longer trial (staff) or a comped plan lifts a grace or restriction that no payment caused.
        const trialRunning = trialEndsAt !== null && at < Date.parse(trialEndsAt) && state.grace?.reason === 'trial_ended';
        if (trialRunning || comped) {
          return [{ type: 'StandingRestored', version: 1, data: { organizationId, reason: comped ? 'comped' : 'trial_extended' } }];
        }
      }
      return [];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

function applySubscription(data: ApplySubscription['data'], state: BillingAccount): BillingAccountEvent[] {
  const { organizationId, snapshot, mode, reason } = data;
  const current = state.subscription;
  const events: BillingAccountEvent[] = [];
  if (current === null || current.subscriptionId !== snapshot.subscriptionId) {
    // A subscription we do not hold yet. A report of an ended one we never held is history, not news.
    if (!isLive(snapshot)) return [];
    if (isLive(current)) {
      throw new ConflictError(
        `Subscription ${snapshot.subscriptionId} would replace ${current.subscriptionId}, which still bills`,
        'already_subscribed',
      );
    }
    events.push({ type: 'SubscriptionStarted', version: 1, data: { organizationId, mode, ...snapshot } });
  } else {
    const changes: Partial<Omit<SubscriptionSnapshot, 'subscriptionId'>> = {};
    const previous: Partial<Omit<SubscriptionSnapshot, 'subscriptionId'>> = {};
    for (const field of snapshotFields) {
      if (current[field] !== snapshot[field]) {
        (changes as Record<string, unknown>)[field] = snapshot[field];
        (previous as Record<string, unknown>)[field] = current[field];
      }
    }
    if (Object.keys(changes).length === 0) return [];
    if (snapshot.status === 'canceled' && current.status !== 'canceled') {
      events.push({
        type: 'SubscriptionCanceled',
        version: 1,
        data: { organizationId, subscriptionId: snapshot.subscriptionId, planId: snapshot.planId, canceledAt: snapshot.canceledAt ?? data.now },
      });
    } else {
      events.push({
        type: 'SubscriptionChanged',
        version: 1,
        data: { organizationId, subscriptionId: snapshot.subscriptionId, changes, previous, reason },
      });
    }
  }
  // A scheduled change that now holds, or that an ended subscription can no longer take, is dropped.
  const scheduled = state.scheduledChange;
  if (scheduled) {
    const applied = scheduled.planId === snapshot.planId && scheduled.interval === snapshot.interval;
    if (applied || !isLive(snapshot)) {
      events.push({
        type: 'ScheduledPlanChangeDropped',
        version: 1,
        data: { organizationId, ...pick(scheduled), reason: applied ? 'applied' : 'canceled' },
      });
    }
  }
  // Subscribing after a trial or a subscription ran out ends its grace or restriction (a failed payment's needs the payment).
  if (isLive(snapshot) && snapshot.status !== 'incomplete' && state.standing !== 'good' && state.grace?.reason !== 'payment_failed') {
    events.push({ type: 'StandingRestored', version: 1, data: { organizationId, reason: 'subscribed' } });
  }
  return events;
}

const pick = (change: { planId: string; interval: BillingInterval }) => ({ planId: change.planId, interval: change.interval });

export function evolveBillingAccount(state: BillingAccount, event: BillingAccountEvent): BillingAccount {
  const withOrganization = { ...state, organizationId: event.data.organizationId };
  switch (event.type) {
    case 'BillingCustomerCreated':
      return { ...withOrganization, customerId: event.data.customerId, mode: event.data.mode };
    case 'SubscriptionStarted': {
      const { organizationId: _organizationId, mode, ...snapshot } = event.data;
      return { ...withOrganization, mode, subscription: snapshot };
    }
    case 'SubscriptionChanged':
      return state.subscription ? { ...withOrganization, subscription: { ...state.subscription, ...event.data.changes } } : withOrganization;
    case 'SubscriptionCanceled':
      return state.subscription
        ? { ...withOrganization, subscription: { ...state.subscription, status: 'canceled', canceledAt: event.data.canceledAt } }
        : withOrganization;
    case 'PlanChangeScheduled':
      return { ...withOrganization, scheduledChange: { planId: event.data.planId, interval: event.data.interval, at: event.data.at } };
    case 'ScheduledPlanChangeDropped':
      return { ...withOrganization, scheduledChange: null };
    case 'PaymentMethodSet':
      return { ...withOrganization, paymentMethodId: event.data.paymentMethodId };
    case 'InvoicePaid':
      return { ...withOrganization, paidInvoices: [...state.paidInvoices, event.data.invoiceId] };
    case 'PaymentFailed':
      return { ...withOrganization, failedAttempts: [...state.failedAttempts, `${event.data.invoiceId}#${event.data.attempt}`] };
    case 'GraceStarted':
      return { ...withOrganization, standing: 'grace', grace: { reason: event.data.reason, until: event.data.until } };
    case 'OrganizationRestricted':
      return { ...withOrganization, standing: 'restricted' };
    case 'StandingRestored':
      return { ...withOrganization, standing: 'good', grace: null };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export const billingAccountDecider: Decider<BillingAccountCommand, BillingAccount, BillingAccountEvent> = {
  decide: decideBillingAccount,
  evolve: evolveBillingAccount,
  initialState: initialBillingAccount,
};
