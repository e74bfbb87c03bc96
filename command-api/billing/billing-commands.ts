import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  billingAccountDecider,
  billingAccountStream,
  isLive,
  planChangeTiming,
  priceFor,
  type BillingAccount,
  type BillingInterval,
  type ChangeReason,
  type SubscriptionSnapshot,
} from '../../domain/billing/billing-account.ts';
import { ConflictError, NotFoundError, RuleViolationError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import type { ExistingOrganization } from '../../domain/organizations/organization-state.ts';
import { providerEventDecider, providerEventStream } from '../../domain/billing/provider-events.ts';
import { planDecider, planStream, type Plan } from '../../domain/plans/plan.ts';
import { BILLING_SETTINGS } from '../../infra/billing/offline-billing.ts';
import type { CommandHandler } from '../command-handling.ts';
import {
  BillingOffline,
  BillingRequestRejected,
  WebhookSignatureInvalid,
  type BillingProvider,
  type CurrentUsage,
  type HeldUsage,
  type ProviderEvent,
  type ProviderInvoice,
  type ProviderSubscription,
} from './ports.ts';

type ExistingPlan = Exclude<Plan, { status: 'absent' }>;

/** What a billing command answers: the account after it, and whether anything was charged for real. */
export interface BillingOutcome {
  account: BillingAccount;
  revision: number;
  position: string | null;
  mode: 'stripe' | 'offline';
  /** The types of the facts this command recorded (none: nothing changed). */
  recorded?: string[];
}

export interface BillingCommandsOptions {
  handler: CommandHandler;
  billing: BillingProvider;
  graceDays: number;
  logger: Logger;
  /**
   * The organization's usage, for refusing a plan it does not fit. Every process that changes plans binds it
   * (billingServicesModule); without it a plan change is refused rather than made unchecked.
   */
  currentUsage?: CurrentUsage;
  now?: () => Date;
  /** Tells every process that the organization's write check must be made again (its billing changed). */
  standingChanged?: (organizationId: string) => Promise<void>;
}

/** The provider events billing acts on (webhook endpoints should be subscribed to these). */
export const reconciledEventTypes = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
  'setup_intent.succeeded',
] as const;

/** A limit the organization's usage is above, as a plan change refused for it names it. */
export interface ExceededLimit {
  limit: keyof HeldUsage;
  usage: number;
  allowed: number;
}

/** A plan change to a plan whose limits the organization's current usage exceeds (each limit with its numbers). */
export class UsageExceedsPlanError extends ConflictError {
  constructor(
    readonly planId: string,
    readonly exceeded: readonly ExceededLimit[],
  ) {
    super(
      `The organization uses more than this plan allows (${exceeded.map((e) => `${e.limit}: ${e.usage} of ${e.allowed}`).join(', ')}); ` +
        'remove what is over the limits first',
      'usage_exceeds_plan',
      'planId',
    );
  }
}

/** Facts after which a write check may answer differently. */
const standingFacts = new Set([
  'SubscriptionStarted',
  'SubscriptionChanged',
  'SubscriptionCanceled',
  'GraceStarted',
  'OrganizationRestricted',
  'StandingRestored',
]);

/**
 * The billing commands (issue 21). Each one that reaches Stripe calls it FIRST, with an idempotency key made
 * from what the command is about (the organization, the account's revision it decided on): a retried request
 * answers the same Stripe object, and two racing requests at the same revision share one key, so Stripe makes
 * one subscription. What Stripe answers is then recorded through the billing account's decider, which records
 * only what changed. Offline (no key), subscriptions are kept on our side only and nothing is charged.
 */
export class BillingCommands {
  private readonly now: () => Date;

  constructor(private readonly options: BillingCommandsOptions) {
    this.now = options.now ?? (() => new Date());
  }

  get mode(): 'stripe' | 'offline' {
    return this.options.billing.mode;
  }

  /** POST /billing/subscribe: the organization's first (or next, after one ended) subscription. */
  async subscribe(context: CommandContext, request: { planId: string; interval: BillingInterval }): Promise<BillingOutcome> {
    const organizationId = tenantOf(context);
    const { handler, billing } = this.options;
    const organization = await this.organization(organizationId, context);
    const account = await handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    // Refused before Stripe is asked: an organization subscribes once at a time.
    billingAccountDecider.decide({ type: 'CheckCanSubscribe', data: { organizationId } }, account.state);
    const plan = await this.activePlan(request.planId);
    const now = this.now();

    let snapshot: SubscriptionSnapshot;
    if (billing.mode === 'offline') {
      snapshot = offlineSubscription(plan.id, request.interval, organization.trialEndsAt, now);
      await this.record(context, organizationId, {
        type: 'RecordCustomer',
        data: { organizationId, customerId: `offline-${organizationId}`, mode: 'offline' },
      });
    } else {
      const customerId = await this.customerOf(context, organization, account.state);
      const priceId = (await this.pricesOf(context, plan)).priceIds[request.interval];
      const subscription = await billing.subscribe({
        customerId,
        priceId,
        organizationId,
        trialEnd: organization.trialEndsAt,
        // Neither the plan nor the revision (recording the customer moves it): two racing subscribes share the
        // key (the subscription they follow), so Stripe makes one subscription or refuses the other's parameters.
        idempotencyKey: `nexusflow-${organizationId}-subscribe-after-${account.state.subscription?.subscriptionId ?? 'none'}`,
      });
      snapshot = snapshotOf(subscription, plan.id);
    }
    const outcome = await this.applySnapshot(context, organizationId, snapshot, 'provider');
    await this.putOrganizationOnPlan(context, organizationId, plan.id);
    return outcome;
  }

  /** PUT /billing/plan: now (prorated) or at the period end, by the written rule (planChangeTiming). */
  async changePlan(
    context: CommandContext,
    request: { planId: string; interval: BillingInterval },
  ): Promise<BillingOutcome & { timing: 'now' | 'period_end' | 'unchanged' }> {
    const organizationId = tenantOf(context);
    const { handler, billing } = this.options;
    const account = await handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    const subscription = account.state.subscription;
    if (!isLive(subscription)) throw new RuleViolationError('The organization has no subscription to change; subscribe first', 'not_subscribed');
    if (subscription.planId === request.planId && subscription.interval === request.interval) {
      // Back to the current plan: a waiting change is dropped.
      const dropped = await this.record(context, organizationId, { type: 'DropScheduledPlanChange', data: { organizationId, reason: 'canceled' } });
      return { ...dropped, timing: 'unchanged' };
    }
    const target = await this.activePlan(request.planId);
    // Refused before Stripe is asked or anything is recorded; the same plan (an interval change) keeps its limits.
    if (target.id !== subscription.planId) await this.checkUsageFits(organizationId, target);
    const current = await this.plan(subscription.planId);
    const timing = planChangeTiming(
      { planId: subscription.planId, interval: subscription.interval, monthlyPriceCents: current?.monthlyPriceCents ?? 0 },
      { planId: target.id, interval: request.interval, monthlyPriceCents: target.monthlyPriceCents },
    );
    if (timing === 'period_end') {
      const scheduled = await this.record(context, organizationId, {
        type: 'SchedulePlanChange',
        data: { organizationId, planId: target.id, interval: request.interval },
      });
      return { ...scheduled, timing };
    }
    let snapshot: SubscriptionSnapshot;
    if (billing.mode === 'offline') {
      snapshot = { ...subscription, planId: target.id, interval: request.interval };
      if (request.interval !== subscription.interval) {
        const period = offlineSubscription(target.id, request.interval, null, this.now());
        snapshot = { ...snapshot, currentPeriodStart: period.currentPeriodStart, currentPeriodEnd: period.currentPeriodEnd };
      }
    } else {
      const priceId = (await this.pricesOf(context, target)).priceIds[request.interval];
      const changed = await billing.changePrice({
        subscriptionId: subscription.subscriptionId,
        priceId,
        prorate: true,
        idempotencyKey: `nexusflow-${organizationId}-change-${account.revision}-${target.id}-${request.interval}`,
      });
      snapshot = snapshotOf(changed, target.id);
    }
    const reason: ChangeReason = request.interval !== subscription.interval ? 'interval_change' : 'upgrade';
    const outcome = await this.applySnapshot(context, organizationId, snapshot, reason);
    // A change made now replaces one that was waiting for the period end.
    await this.record(context, organizationId, { type: 'DropScheduledPlanChange', data: { organizationId, reason: 'canceled' } });
    await this.putOrganizationOnPlan(context, organizationId, target.id);
    return { ...(await this.account(organizationId, context)), mode: outcome.mode, timing };
  }

  /**
   * A plan whose limits on what the organization holds (contacts, active workflows, seats) are below its usage
   * now is refused, whether the change would be made now or at the period end: the customer decides what to
   * remove, rather than finding writes refused after a renewal. The usage is the metering read model's (a lag
   * of milliseconds); a unit taken in that window is still held to the limits by the quota gate at its write, so
   * a race only leaves the organization above the new limit, unable to add more until it is under it.
   */
  private async checkUsageFits(organizationId: string, plan: ExistingPlan): Promise<void> {
    const { currentUsage } = this.options;
    if (!currentUsage) throw new Error('BillingCommands needs currentUsage to change a plan');
    const usage = await currentUsage.of(organizationId);
    const exceeded: ExceededLimit[] = [];
    for (const limit of ['contacts', 'activeWorkflows', 'seats'] as const) {
      const allowed = plan.limits[limit];
      if (allowed !== null && usage[limit] > allowed) exceeded.push({ limit, usage: usage[limit], allowed });
    }
    if (exceeded.length > 0) throw new UsageExceedsPlanError(plan.id, exceeded);
  }

  /** POST /billing/cancel: at the period end (undone by `resume`) or now. */
  async cancel(context: CommandContext, request: { atPeriodEnd: boolean }): Promise<BillingOutcome> {
    const organizationId = tenantOf(context);
    const { handler, billing } = this.options;
    const account = await handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    const subscription = account.state.subscription;
    if (!isLive(subscription)) throw new RuleViolationError('The organization has no subscription to cancel', 'not_subscribed');
    if (request.atPeriodEnd && subscription.cancelAtPeriodEnd) return { ...(await this.account(organizationId, context)), mode: billing.mode };
    let snapshot: SubscriptionSnapshot;
    const now = this.now().toISOString();
    if (billing.mode === 'offline') {
      snapshot = request.atPeriodEnd ? { ...subscription, cancelAtPeriodEnd: true } : { ...subscription, status: 'canceled', canceledAt: now };
    } else {
      snapshot = snapshotOf(
        await billing.cancel({
          subscriptionId: subscription.subscriptionId,
          atPeriodEnd: request.atPeriodEnd,
          idempotencyKey: `nexusflow-${organizationId}-cancel-${account.revision}-${request.atPeriodEnd ? 'period-end' : 'now'}`,
        }),
        subscription.planId,
      );
    }
    return this.applySnapshot(context, organizationId, snapshot, request.atPeriodEnd ? 'canceling_at_period_end' : 'provider');
  }

  /** Undoes a cancellation at the period end. */
  async resume(context: CommandContext): Promise<BillingOutcome> {
    const organizationId = tenantOf(context);
    const { handler, billing } = this.options;
    const account = await handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    const subscription = account.state.subscription;
    if (!isLive(subscription) || !subscription.cancelAtPeriodEnd) {
      throw new RuleViolationError('There is no cancellation at the period end to undo', 'not_canceling');
    }
    const snapshot =
      billing.mode === 'offline'
        ? { ...subscription, cancelAtPeriodEnd: false }
        : snapshotOf(
            await billing.resume({
              subscriptionId: subscription.subscriptionId,
              idempotencyKey: `nexusflow-${organizationId}-resume-${account.revision}`,
            }),
            subscription.planId,
          );
    return this.applySnapshot(context, organizationId, snapshot, 'cancel_undone');
  }

  /**
   * POST /billing/payment-method without a payment method: a SetupIntent whose client secret the browser
   * confirms with Stripe.js (card data never reaches us). Offline: refused, naming the settings.
   */
  async startPaymentMethodSetup(context: CommandContext): Promise<{ setupIntentId: string; clientSecret: string; status: string }> {
    const organizationId = tenantOf(context);
    const { handler, billing } = this.options;
    if (billing.mode === 'offline') throw new BillingOffline(BILLING_SETTINGS);
    const organization = await this.organization(organizationId, context);
    const account = await handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    const customerId = await this.customerOf(context, organization, account.state);
    const intent = await billing.createSetupIntent({
      customerId,
      organizationId,
      idempotencyKey: `nexusflow-${organizationId}-setup-${randomUUID()}`,
    });
    return { setupIntentId: intent.id, clientSecret: intent.clientSecret, status: intent.status };
  }

  /** POST /billing/payment-method with the confirmed payment method: it becomes the default for invoices. */
  async setPaymentMethod(context: CommandContext, paymentMethodId: string): Promise<BillingOutcome> {
    const organizationId = tenantOf(context);
    const { handler, billing } = this.options;
    if (billing.mode === 'offline') throw new BillingOffline(BILLING_SETTINGS);
    const account = await handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    if (account.state.customerId === null) {
      throw new RuleViolationError('Start the payment method setup first (POST /billing/payment-method without a body)', 'no_customer');
    }
    const subscription = account.state.subscription;
    await billing.setDefaultPaymentMethod({
      customerId: account.state.customerId,
      paymentMethodId,
      subscriptionId: isLive(subscription) ? subscription.subscriptionId : null,
      idempotencyKey: `nexusflow-${organizationId}-pm-${paymentMethodId}`,
    });
    return this.record(context, organizationId, { type: 'RecordPaymentMethod', data: { organizationId, paymentMethodId } });
  }

  /**
   * The clock's part (the billing worker): records what time made true for the organization (a trial or
   * subscription that ended unpaid starts grace; a grace that ran out restricts; a longer trial or a comped plan
   * restores). Answers the facts recorded.
   */
  async checkStanding(organizationId: string, context: CommandContext): Promise<{ recorded: string[]; revision: number }> {
    const { handler, graceDays } = this.options;
    const [{ state: organization }, account] = await Promise.all([
      handler.load(organizationStream(organizationId), organizationDecider),
      handler.load(billingAccountStream(organizationId), billingAccountDecider),
    ]);
    if (organization.status === 'absent') return { recorded: [], revision: account.revision };
    const comped = organization.planId !== null && account.state.subscription === null;
    const outcome = await this.record(context, organizationId, {
      type: 'CheckStanding',
      data: { organizationId, now: this.now().toISOString(), trialEndsAt: organization.trialEndsAt, graceDays, comped },
    });
    return { recorded: outcome.recorded ?? [], revision: outcome.revision };
  }

  /**
   * A plan change scheduled for the period end, made once it is due: at Stripe within `leadMs` before the period
   * ends, without proration, so that the renewal invoice already bills the new plan; offline at the period end.
   */
  async applyScheduledChange(organizationId: string, context: CommandContext, leadMs: number): Promise<boolean> {
    const { handler, billing } = this.options;
    const account = await handler.load(billingAccountStream(organizationId), billingAccountDecider);
    const { scheduledChange, subscription } = account.state;
    if (!scheduledChange || !isLive(subscription)) return false;
    const now = this.now().getTime();
    const due = Date.parse(scheduledChange.at) - (billing.mode === 'offline' ? 0 : leadMs);
    if (now < due) return false;
    const target = await this.plan(scheduledChange.planId);
    let snapshot: SubscriptionSnapshot;
    if (billing.mode === 'offline') {
      // The period that begins at the change, by the calendar.
      const next = offlineSubscription(scheduledChange.planId, scheduledChange.interval, null, new Date(scheduledChange.at));
      snapshot = {
        ...subscription,
        planId: scheduledChange.planId,
        interval: scheduledChange.interval,
        currentPeriodStart: next.currentPeriodStart,
        currentPeriodEnd: next.currentPeriodEnd,
      };
    } else {
      if (!target) {
        await this.record(context, organizationId, { type: 'DropScheduledPlanChange', data: { organizationId, reason: 'canceled' } });
        return false;
      }
      const priceId = (await this.pricesOf(context, target)).priceIds[scheduledChange.interval];
      snapshot = snapshotOf(
        await billing.changePrice({
          subscriptionId: subscription.subscriptionId,
          priceId,
          prorate: false,
          idempotencyKey: `nexusflow-${organizationId}-scheduled-${account.revision}-${scheduledChange.planId}-${scheduledChange.interval}`,
        }),
        scheduledChange.planId,
      );
    }
    const reason: ChangeReason = scheduledChange.interval !== subscription.interval ? 'interval_change' : 'downgrade';
    await this.applySnapshot(context, organizationId, snapshot, reason);
    await this.putOrganizationOnPlan(context, organizationId, scheduledChange.planId);
    return true;
  }

  /**
   * Staff's "retry payment": charges an open invoice of the organization again, now. The idempotency key names
   * the invoice and the attempt this makes, so a double click (or two staff members at once) charges once, while
   * the next retry after a decline is a new attempt with a key of its own. The invoice as it is afterwards is
   * recorded as its webhook would record it (InvoicePaid, which lifts a grace the failure started; or PaymentFailed
   * with the decline code), so the webhook arriving later records nothing more. A declined card is an answer, not a
   * failure of the command: it comes back in `declined`. Offline nothing can be charged: refused.
   */
  async retryPayment(
    organizationId: string,
    invoiceId: string,
    context: CommandContext,
  ): Promise<BillingOutcome & { paid: boolean; declined: { code: string | null; declineCode: string | null; message: string } | null }> {
    const { billing } = this.options;
    if (billing.mode === 'offline') throw new BillingOffline(BILLING_SETTINGS);
    const invoice = await billing.retrieveInvoice(invoiceId);
    // Another organization's invoice is as unknown as one that does not exist.
    if (!invoice || invoice.organizationId !== organizationId) throw new NotFoundError('Invoice');
    // Paid meanwhile (Stripe's own retry, or the customer on the hosted page): recorded if the webhook has not been.
    if (invoice.status === 'paid') return { ...(await this.recordInvoice(context, organizationId, invoice, null)), paid: true, declined: null };
    if (invoice.status !== 'open') {
      throw new RuleViolationError(
        `Invoice ${invoice.number ?? invoice.id} is ${invoice.status}: only an open invoice can be paid`,
        'invoice_not_open',
      );
    }
    const attempt = invoice.attemptCount + 1;
    let paid: ProviderInvoice;
    try {
      paid = await billing.payInvoice({ invoiceId, idempotencyKey: `nexusflow-${organizationId}-retry-${invoiceId}-attempt-${attempt}` });
    } catch (err) {
      // 402: the charge was made and declined (Stripe's card errors); anything else did not reach the card.
      if (!(err instanceof BillingRequestRejected) || err.status !== 402) throw err;
      const after = (await billing.retrieveInvoice(invoiceId)) ?? invoice;
      const failed = { ...after, attemptCount: Math.max(after.attemptCount, attempt) };
      const outcome = await this.recordInvoice(context, organizationId, failed, { declineCode: err.declineCode ?? err.code ?? 'declined' });
      return { ...outcome, paid: false, declined: { code: err.code, declineCode: err.declineCode, message: err.message } };
    }
    const outcome = await this.recordInvoice(context, organizationId, paid, null);
    // Paying moves the subscription (past due → active) at Stripe: shown now rather than when its webhook comes.
    const subscription = paid.subscriptionId ? await billing.retrieveSubscription(paid.subscriptionId) : null;
    if (subscription?.organizationId !== organizationId || subscription.planId === null) {
      return { ...outcome, paid: paid.status === 'paid', declined: null };
    }
    const moved = await this.applySnapshot(context, organizationId, snapshotOf(subscription, subscription.planId), 'provider');
    return { ...moved, recorded: [...(outcome.recorded ?? []), ...(moved.recorded ?? [])], paid: paid.status === 'paid', declined: null };
  }

  /**
   * Reconciliation: the provider's events since an instant (with the webhook's own types), each applied once
   * like a delivery, so an event whose webhook was lost (or never retried past Stripe's three days) still lands.
   */
  async reconcile(createdFrom: string, system: (organizationId: string | null) => CommandContext): Promise<{ listed: number; applied: number }> {
    const { billing } = this.options;
    if (billing.mode === 'offline') return { listed: 0, applied: 0 };
    const events = await billing.listEvents({ createdFrom, types: reconciledEventTypes });
    let applied = 0;
    for (const event of events) {
      const result = await this.applyProviderEvent(event, system);
      if (!result.duplicate) applied += 1;
    }
    return { listed: events.length, applied };
  }

  /**
   * Reconciliation's slower pass: every subscription Stripe holds, applied as its webhook would be (the
   * billing account, and a live one's plan on the organization). It catches what the event pass cannot: a
   * change whose event is no longer listed (Stripe lists 30 days of events) or was never sent to this endpoint,
   * and an organization left off its subscription's plan by a process that died between the two writes.
   * A subscription our account already shows, or an ended one that is not the account's, records nothing, so a
   * second pass records nothing. One that cannot be applied (two billing subscriptions for one
   * organization) is logged and the pass goes on.
   */
  async reconcileSubscriptions(system: (organizationId: string | null) => CommandContext): Promise<{ listed: number; applied: number }> {
    const { billing, logger } = this.options;
    if (billing.mode === 'offline') return { listed: 0, applied: 0 };
    let listed = 0;
    let applied = 0;
    for await (const subscription of billing.listAllSubscriptions()) {
      listed += 1;
      const { organizationId, planId } = subscription;
      if (organizationId === null || planId === null) continue;
      // The decider records only what the account does not show yet (an ended subscription it never held is
      // history), so one already shown costs a read and records nothing.
      try {
        if ((await this.applySubscription({ ...subscription, organizationId }, system)).length > 0) applied += 1;
      } catch (err) {
        logger.error({ err, organizationId, subscriptionId: subscription.id }, 'a subscription could not be reconciled');
      }
    }
    return { listed, applied };
  }

  /**
   * POST /billing/webhooks/stripe: verified on the raw body, then applied by fetching the object's CURRENT
   * state (deliveries come twice and out of order). Each event id is kept once applied (a claim stream), so a
   * redelivery records nothing; one whose object no longer concerns us is kept too.
   */
  async receiveWebhook(
    rawBody: Buffer,
    signature: string | undefined,
    system: (organizationId: string | null) => CommandContext,
  ): Promise<{ eventId: string; type: string; duplicate: boolean; organizationId: string | null }> {
    const { billing, handler } = this.options;
    if (billing.mode === 'offline') throw new BillingOffline(BILLING_SETTINGS);
    const event = billing.verifyWebhook(rawBody, signature, this.now());
    return this.applyProviderEvent(event, system, handler);
  }

  /** Applies one provider event (from a webhook or reconciliation), once. */
  async applyProviderEvent(
    event: ProviderEvent,
    system: (organizationId: string | null) => CommandContext,
    handler = this.options.handler,
  ): Promise<{ eventId: string; type: string; duplicate: boolean; organizationId: string | null }> {
    const claim = providerEventStream(event.id);
    const seen = await handler.load(claim, providerEventDecider);
    if (seen.state.received) return { eventId: event.id, type: event.type, duplicate: true, organizationId: seen.state.organizationId };
    const organizationId = await this.applyObject(event, system);
    const received = {
      eventId: event.id,
      eventType: event.type,
      objectType: event.objectType,
      objectId: event.objectId,
      createdAt: event.createdAt,
      organizationId,
    };
    // Another delivery of the same event may record it meanwhile: the handler decides again and records nothing.
    await handler.handle(claim, providerEventDecider, { type: 'ReceiveProviderEvent', data: received }, system(organizationId));
    return { eventId: event.id, type: event.type, duplicate: false, organizationId };
  }

  /** Fetches the event's object as it is now and records what it means for its organization; answers which one. */
  private async applyObject(event: ProviderEvent, system: (organizationId: string | null) => CommandContext): Promise<string | null> {
    const { billing } = this.options;
    if (event.objectType === 'subscription') {
      const subscription = await billing.retrieveSubscription(event.objectId);
      const organizationId = subscription?.organizationId;
      if (!organizationId) return null;
      await this.applySubscription({ ...subscription, organizationId }, system);
      return organizationId;
    }
    if (event.objectType === 'setup_intent') {
      // A card confirmed in the browser becomes the default, also when the browser never came back to say so.
      const intent = await billing.retrieveSetupIntent(event.objectId);
      if (!intent?.organizationId || intent.status !== 'succeeded' || !intent.paymentMethodId || !intent.customerId)
        return intent?.organizationId ?? null;
      const organizationId = intent.organizationId;
      const account = await this.options.handler.load(billingAccountStream(organizationId), billingAccountDecider);
      if (account.state.customerId !== intent.customerId) return organizationId;
      if (account.state.paymentMethodId !== intent.paymentMethodId) {
        const subscription = account.state.subscription;
        await billing.setDefaultPaymentMethod({
          customerId: intent.customerId,
          paymentMethodId: intent.paymentMethodId,
          subscriptionId: isLive(subscription) ? subscription.subscriptionId : null,
          idempotencyKey: `nexusflow-${organizationId}-pm-${intent.paymentMethodId}`,
        });
        await this.record(system(organizationId), organizationId, {
          type: 'RecordPaymentMethod',
          data: { organizationId, paymentMethodId: intent.paymentMethodId },
        });
      }
      return organizationId;
    }
    if (event.objectType === 'invoice') {
      const invoice = await billing.retrieveInvoice(event.objectId);
      if (!invoice?.organizationId) return null;
      const organizationId = invoice.organizationId;
      const failed = invoice.status === 'open' && invoice.attemptCount > 0 && event.type === 'invoice.payment_failed';
      // The invoice does not say why its charge was declined (the payment's own error does; not fetched).
      await this.recordInvoice(system(organizationId), organizationId, invoice, failed ? { declineCode: null } : null);
      return organizationId;
    }
    return null;
  }

  /**
   * A subscription as the provider holds it now, recorded for its organization (what a webhook about it records),
   * and the organization put on its plan while it bills. Answers the facts recorded.
   */
  private async applySubscription(
    subscription: ProviderSubscription & { organizationId: string },
    system: (organizationId: string | null) => CommandContext,
  ): Promise<string[]> {
    const planId = subscription.planId;
    if (planId === null) {
      this.options.logger.warn({ subscriptionId: subscription.id }, 'a subscription on a price that is not one of our plans: left alone');
      return [];
    }
    const context = system(subscription.organizationId);
    const snapshot = snapshotOf(subscription, planId);
    const outcome = await this.applySnapshot(context, subscription.organizationId, snapshot, 'provider');
    if (isLive(snapshot)) await this.putOrganizationOnPlan(context, subscription.organizationId, planId);
    return outcome.recorded ?? [];
  }

  /** An invoice as the provider answered it: paid; or, when `failure` says so, its last attempt failed. */
  private async recordInvoice(
    context: CommandContext,
    organizationId: string,
    invoice: ProviderInvoice,
    failure: { declineCode: string | null } | null,
  ): Promise<BillingOutcome> {
    const links = { number: invoice.number, hostedInvoiceUrl: invoice.hostedInvoiceUrl, pdfUrl: invoice.pdfUrl };
    if (invoice.status === 'paid') {
      return this.record(context, organizationId, {
        type: 'RecordInvoicePaid',
        data: {
          organizationId,
          invoiceId: invoice.id,
          ...links,
          amountPaid: invoice.amountPaid,
          currency: invoice.currency,
          periodStart: invoice.periodStart,
          periodEnd: invoice.periodEnd,
        },
      });
    }
    if (failure === null) return { ...(await this.account(organizationId, context)), mode: this.options.billing.mode, recorded: [] };
    return this.record(context, organizationId, {
      type: 'RecordPaymentFailed',
      data: {
        organizationId,
        invoiceId: invoice.id,
        ...links,
        amountDue: invoice.amountDue,
        currency: invoice.currency,
        attempt: invoice.attemptCount,
        declineCode: failure.declineCode,
        now: this.now().toISOString(),
        graceDays: this.options.graceDays,
      },
    });
  }

  private async applySnapshot(
    context: CommandContext,
    organizationId: string,
    snapshot: SubscriptionSnapshot,
    reason: ChangeReason,
  ): Promise<BillingOutcome> {
    return this.record(context, organizationId, {
      type: 'ApplySubscription',
      data: { organizationId, snapshot, mode: this.options.billing.mode, reason, now: this.now().toISOString() },
    });
  }

  private async record(
    context: CommandContext,
    organizationId: string,
    command: Parameters<typeof billingAccountDecider.decide>[0],
  ): Promise<BillingOutcome> {
    const outcome = await this.options.handler.handle(billingAccountStream(organizationId), billingAccountDecider, command, context);
    if (outcome.appended.some((event) => standingFacts.has(event.type))) await this.options.standingChanged?.(organizationId);
    return {
      recorded: outcome.appended.map((event) => event.type),
      account: outcome.state,
      revision: outcome.revision,
      position: outcome.position,
      mode: this.options.billing.mode,
    };
  }

  private async account(organizationId: string, context: CommandContext): Promise<Omit<BillingOutcome, 'mode'>> {
    const loaded = await this.options.handler.loadFor(billingAccountStream(organizationId), billingAccountDecider, context);
    return { account: loaded.state, revision: loaded.revision, position: loaded.position };
  }

  /** The organization's Stripe customer, made (once: the idempotency key is the organization's) when missing. */
  private async customerOf(context: CommandContext, organization: ExistingOrganization, account: BillingAccount): Promise<string> {
    if (account.customerId !== null && account.mode === 'stripe') return account.customerId;
    const owner = Object.values(organization.members).find((member) => member.userId === organization.ownerUserId);
    const { customerId } = await this.options.billing.createCustomer({
      organizationId: organization.id,
      name: organization.name,
      email: owner?.email ?? null,
      idempotencyKey: `nexusflow-${organization.id}-customer`,
    });
    await this.record(context, organization.id, { type: 'RecordCustomer', data: { organizationId: organization.id, customerId, mode: 'stripe' } });
    return customerId;
  }

  /** The plan's Stripe product and prices, synced first if the catalog changed since (or never synced). */
  private async pricesOf(context: CommandContext, plan: ExistingPlan) {
    const amounts = { month: priceFor(plan.monthlyPriceCents, 'month'), year: priceFor(plan.monthlyPriceCents, 'year') };
    const known = plan.providerPrices;
    if (known && known.amounts.month === amounts.month && known.amounts.year === amounts.year && known.currency === plan.currency) return known;
    const synced = await this.options.billing.syncPlan(
      { planId: plan.id, name: plan.name, currency: plan.currency, amounts },
      known ? { productId: known.productId, priceIds: known.priceIds } : null,
    );
    const prices = { provider: 'stripe' as const, productId: synced.productId, priceIds: synced.priceIds, amounts, currency: plan.currency };
    // The catalog is platform-level: recorded as the system, whoever's request made it happen.
    await this.options.handler.handle(
      planStream(plan.id),
      planDecider,
      { type: 'RecordProviderPrices', data: { planId: plan.id, ...prices } },
      { ...context, tenantId: null },
    );
    return prices;
  }

  /**
   * The organization's plan follows its subscription, whatever the catalog says of the plan now: a retired plan
   * keeps its subscribers until they move (the catalog's rule), so the subscription, not the status, is the gate.
   */
  private async putOrganizationOnPlan(context: CommandContext, organizationId: string, planId: string): Promise<void> {
    await this.options.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      {
        type: 'ChangeOrganizationPlan',
        data: { organizationId, planId, plan: 'active' },
      },
      context,
    );
  }

  private async organization(organizationId: string, context: CommandContext): Promise<ExistingOrganization> {
    const { state } = await this.options.handler.loadFor(organizationStream(organizationId), organizationDecider, context);
    if (state.status === 'absent') throw new NotFoundError('Organization');
    return state;
  }

  private async plan(planId: string): Promise<ExistingPlan | null> {
    const { state } = await this.options.handler.load(planStream(planId), planDecider);
    return state.status === 'absent' ? null : state;
  }

  private async activePlan(planId: string): Promise<ExistingPlan> {
    const plan = await this.plan(planId);
    if (!plan) throw new RuleViolationError('There is no such plan', 'unknown_plan', 'planId');
    if (plan.status !== 'active')
      throw new RuleViolationError(`This plan is ${plan.status}: only active plans can be chosen`, 'plan_not_active', 'planId');
    return plan;
  }
}

function tenantOf(context: CommandContext): string {
  if (context.tenantId === null) throw new RuleViolationError('Billing commands are made for an organization', 'organization_required');
  return context.tenantId;
}

/** Whether the provider's subscription says something the account does not show (what the decider would record). */
function snapshotOf(subscription: ProviderSubscription, planId: string): SubscriptionSnapshot {
  return {
    subscriptionId: subscription.id,
    planId: subscription.planId ?? planId,
    interval: subscription.interval,
    status: subscription.status,
    currentPeriodStart: subscription.currentPeriodStart,
    currentPeriodEnd: subscription.currentPeriodEnd,
    cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
    canceledAt: subscription.canceledAt,
    trialEnd: subscription.trialEnd,
  };
}

/** Offline: a subscription kept on our side only, its period by the calendar (a trial still running carries over). */
export function offlineSubscription(planId: string, interval: BillingInterval, trialEndsAt: string | null, now: Date): SubscriptionSnapshot {
  const trialRunning = trialEndsAt !== null && Date.parse(trialEndsAt) > now.getTime();
  const start = trialRunning ? new Date(trialEndsAt!) : now;
  const end = new Date(start);
  if (interval === 'year') end.setUTCFullYear(end.getUTCFullYear() + 1);
  else end.setUTCMonth(end.getUTCMonth() + 1);
  return {
    subscriptionId: `offline-${randomUUID()}`,
    planId,
    interval,
    status: trialRunning ? 'trialing' : 'active',
    currentPeriodStart: trialRunning ? now.toISOString() : start.toISOString(),
    currentPeriodEnd: trialRunning ? start.toISOString() : end.toISOString(),
    cancelAtPeriodEnd: false,
    canceledAt: null,
    trialEnd: trialRunning ? trialEndsAt : null,
  };
}

export { WebhookSignatureInvalid };
