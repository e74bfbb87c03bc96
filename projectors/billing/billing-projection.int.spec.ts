import { randomUUID } from 'node:crypto';
import {
  billingAccountDecider,
  billingAccountStream,
  type BillingAccountEvent,
  type ChangeReason,
  type SubscriptionSnapshot,
} from '../../domain/billing/billing-account.ts';
import { at, entityStream, fact, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { billingProjection } from './billing-projection.ts';
import { BillingAccountViewSchema, BillingInvoiceViewSchema, type BillingAccountView, type BillingInvoiceView } from './billing-views.ts';

describe('billing projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(billingProjection);
  const accounts = (organizationId: string) => rowsOf(BillingAccountViewSchema, { tenant: organizationId });
  const invoices = (organizationId: string) =>
    rowsOf(BillingInvoiceViewSchema, { tenant: organizationId, orderBy: { createdAt: 'asc', invoiceId: 'asc' } });

  const GRACE_DAYS = 7;
  const day = (n: number) => new Date(Date.UTC(2026, 2, 1 + n)).toISOString();
  const plans = { starter: randomUUID(), growth: randomUUID(), scale: randomUUID() };

  /** An organization's billing stream, driven by its decider as the billing commands drive it. */
  function account() {
    const organizationId = randomUUID();
    const metadata = { tenantId: organizationId, actor: { type: 'system' as const, id: 'billing' } };
    const stream = entityStream(billingAccountDecider, billingAccountStream(organizationId), metadata);
    const snapshot = (changes: Partial<SubscriptionSnapshot> = {}): SubscriptionSnapshot => ({
      subscriptionId: 'sub_1',
      planId: plans.growth,
      interval: 'month',
      status: 'active',
      currentPeriodStart: day(0),
      currentPeriodEnd: day(31),
      cancelAtPeriodEnd: false,
      canceledAt: null,
      trialEnd: null,
      ...changes,
    });
    const invoice = (invoiceId: string) => ({
      organizationId,
      invoiceId,
      number: `NF-${invoiceId}`,
      currency: 'EUR',
      hostedInvoiceUrl: `https://invoice.example/${invoiceId}`,
      pdfUrl: `https://invoice.example/${invoiceId}.pdf`,
    });
    return {
      organizationId,
      stream,
      snapshot,
      customer: (minutes = 0) => stream.decide({ type: 'RecordCustomer', data: { organizationId, customerId: 'cus_1', mode: 'stripe' } }, minutes),
      /** The provider's subscription as it is now: started, changed or canceled, whatever the state holds. */
      report: (changes: Partial<SubscriptionSnapshot>, minutes: number, reason: ChangeReason = 'provider') =>
        stream.decide(
          { type: 'ApplySubscription', data: { organizationId, snapshot: snapshot(changes), mode: 'stripe', reason, now: at(minutes) } },
          minutes,
        ),
      schedule: (planId: string, interval: 'month' | 'year', minutes: number) =>
        stream.decide({ type: 'SchedulePlanChange', data: { organizationId, planId, interval } }, minutes),
      paymentMethod: (paymentMethodId: string, minutes: number) =>
        stream.decide({ type: 'RecordPaymentMethod', data: { organizationId, paymentMethodId } }, minutes),
      paid: (invoiceId: string, minutes: number, amountPaid = 4_900) =>
        stream.decide({ type: 'RecordInvoicePaid', data: { ...invoice(invoiceId), amountPaid, periodStart: day(31), periodEnd: day(61) } }, minutes),
      failed: (invoiceId: string, attempt: number, minutes: number, declineCode: string | null = 'insufficient_funds') =>
        stream.decide(
          {
            type: 'RecordPaymentFailed',
            data: { ...invoice(invoiceId), amountDue: 4_900, attempt, declineCode, now: at(minutes), graceDays: GRACE_DAYS },
          },
          minutes,
        ),
      checkStanding: (minutes: number, trialEndsAt: string | null = null) =>
        stream.decide(
          { type: 'CheckStanding', data: { organizationId, now: at(minutes), trialEndsAt, graceDays: GRACE_DAYS, comped: false } },
          minutes,
        ),
      /** An event the decider would not record now (a late report), in the same stream. */
      raw: (event: BillingAccountEvent, minutes: number) =>
        fact(billingAccountStream(organizationId), event, { ...metadata, occurredAt: at(minutes) }),
      invoice,
    };
  }

  function accountRow(organizationId: string, overrides: Partial<BillingAccountView> = {}): BillingAccountView {
    return {
      organizationId,
      mode: null,
      customerId: null,
      subscriptionId: null,
      planId: null,
      interval: null,
      status: null,
      currentPeriodStart: null,
      currentPeriodEnd: null,
      cancelAtPeriodEnd: null,
      canceledAt: null,
      trialEnd: null,
      scheduledPlanId: null,
      scheduledInterval: null,
      scheduledAt: null,
      paymentMethodId: null,
      standing: 'good',
      graceReason: null,
      graceUntil: null,
      updatedAt: new Date(at(0)),
      revision: 0,
      ...overrides,
    };
  }

  const subscribed = (overrides: Partial<BillingAccountView> = {}): Partial<BillingAccountView> => ({
    mode: 'stripe',
    customerId: 'cus_1',
    subscriptionId: 'sub_1',
    planId: plans.growth,
    interval: 'month',
    status: 'active',
    currentPeriodStart: new Date(day(0)),
    currentPeriodEnd: new Date(day(31)),
    cancelAtPeriodEnd: false,
    ...overrides,
  });

  function invoiceRow(organizationId: string, invoiceId: string, overrides: Partial<BillingInvoiceView> = {}): BillingInvoiceView {
    return {
      organizationId,
      invoiceId,
      status: 'paid',
      number: `NF-${invoiceId}`,
      amount: 4_900,
      currency: 'EUR',
      periodStart: new Date(day(31)),
      periodEnd: new Date(day(61)),
      hostedInvoiceUrl: `https://invoice.example/${invoiceId}`,
      pdfUrl: `https://invoice.example/${invoiceId}.pdf`,
      attempts: 0,
      lastDeclineCode: null,
      createdAt: new Date(at(0)),
      updatedAt: new Date(at(0)),
      ...overrides,
    };
  }

  it("keeps an organization's customer, subscription and payment method, for that organization only", async () => {
    const acme = account();
    const globex = account();
    const scenario = spec.given(
      acme.customer(0),
      acme.report({ trialEnd: day(14), status: 'trialing' }, 1),
      acme.paymentMethod('pm_1', 2),
      globex.customer(3),
    );
    await scenario.then(accounts(acme.organizationId), [
      accountRow(
        acme.organizationId,
        subscribed({ status: 'trialing', trialEnd: new Date(day(14)), paymentMethodId: 'pm_1', updatedAt: new Date(at(2)), revision: 2 }),
      ),
    ]);
    await scenario.then(accounts(globex.organizationId), [
      accountRow(globex.organizationId, { mode: 'stripe', customerId: 'cus_1', updatedAt: new Date(at(3)) }),
    ]);
    await scenario.then(accounts(randomUUID()), []);
  });

  it('follows the subscription through an upgrade, a cancellation at the period end and its undoing, a new period, the cancellation and a new subscription', async () => {
    const acme = account();
    const org = acme.organizationId;
    const started = [...acme.customer(0), ...acme.report({}, 1)];
    const later = [
      ...acme.report({ planId: plans.scale, interval: 'year', currentPeriodEnd: day(365) }, 2, 'upgrade'),
      ...acme.report({ planId: plans.scale, interval: 'year', currentPeriodEnd: day(365), cancelAtPeriodEnd: true }, 3, 'canceling_at_period_end'),
      ...acme.report({ planId: plans.scale, interval: 'year', currentPeriodEnd: day(365) }, 4, 'cancel_undone'),
      ...acme.report({ planId: plans.scale, interval: 'year', currentPeriodStart: day(365), currentPeriodEnd: day(730) }, 5),
    ];
    const renewed = subscribed({
      planId: plans.scale,
      interval: 'year',
      currentPeriodStart: new Date(day(365)),
      currentPeriodEnd: new Date(day(730)),
      updatedAt: new Date(at(5)),
      revision: 5,
    });
    await spec.given(started, later).then(accounts(org), [accountRow(org, renewed)]);
    await spec
      .given(started)
      .when(later)
      .then(accounts(org), [accountRow(org, renewed)]);
    await spec
      .given(started, later)
      .inBatchesOf(1)
      .then(accounts(org), [accountRow(org, renewed)]);

    const canceled = acme.report(
      { planId: plans.scale, interval: 'year', currentPeriodStart: day(365), currentPeriodEnd: day(730), status: 'canceled', canceledAt: day(400) },
      6,
    );
    await spec
      .given(started, later, canceled)
      .then(accounts(org), [
        accountRow(org, { ...renewed, status: 'canceled', canceledAt: new Date(day(400)), updatedAt: new Date(at(6)), revision: 6 }),
      ]);

    // A new subscription after the old one ended replaces it in the row.
    const again = acme.report({ subscriptionId: 'sub_2', planId: plans.starter, currentPeriodStart: day(401), currentPeriodEnd: day(431) }, 7);
    await spec.given(started, later, canceled, again).then(accounts(org), [
      accountRow(
        org,
        subscribed({
          subscriptionId: 'sub_2',
          planId: plans.starter,
          currentPeriodStart: new Date(day(401)),
          currentPeriodEnd: new Date(day(431)),
          updatedAt: new Date(at(7)),
          revision: 7,
        }),
      ),
    ]);
  });

  it('shows a plan change waiting for the period end until it is replaced, applied or the subscription ends', async () => {
    const acme = account();
    const org = acme.organizationId;
    const started = [...acme.customer(0), ...acme.report({}, 1)];
    const scheduled = acme.schedule(plans.starter, 'month', 2);
    await spec.given(started, scheduled).then(accounts(org), [
      accountRow(
        org,
        subscribed({
          scheduledPlanId: plans.starter,
          scheduledInterval: 'month',
          scheduledAt: new Date(day(31)),
          updatedAt: new Date(at(2)),
          revision: 2,
        }),
      ),
    ]);

    // Replaced (dropped, then scheduled: two events), then applied by the provider at the period end.
    const replaced = acme.schedule(plans.starter, 'year', 3);
    await spec.given(started, scheduled, replaced).then(accounts(org), [
      accountRow(
        org,
        subscribed({
          scheduledPlanId: plans.starter,
          scheduledInterval: 'year',
          scheduledAt: new Date(day(31)),
          updatedAt: new Date(at(3)),
          revision: 4,
        }),
      ),
    ]);
    const applied = acme.report({ planId: plans.starter, interval: 'year', currentPeriodStart: day(31), currentPeriodEnd: day(396) }, 4);
    const afterApplied = subscribed({
      planId: plans.starter,
      interval: 'year',
      currentPeriodStart: new Date(day(31)),
      currentPeriodEnd: new Date(day(396)),
      updatedAt: new Date(at(4)),
      revision: 6,
    });
    await spec.given(started, scheduled, replaced, applied).then(accounts(org), [accountRow(org, afterApplied)]);
    await spec
      .given(started, scheduled, replaced)
      .when(applied)
      .inBatchesOf(1)
      .then(accounts(org), [accountRow(org, afterApplied)]);

    // A subscription that ends drops the change it can no longer take.
    const other = account();
    const otherStarted = [...other.customer(0), ...other.report({}, 1), ...other.schedule(plans.starter, 'month', 2)];
    const ended = other.report({ status: 'canceled', canceledAt: day(10) }, 3);
    await spec
      .given(otherStarted, ended)
      .then(accounts(other.organizationId), [
        accountRow(other.organizationId, subscribed({ status: 'canceled', canceledAt: new Date(day(10)), updatedAt: new Date(at(3)), revision: 4 })),
      ]);
  });

  it('moves the standing to grace on a failed payment, to restricted when the grace runs out, and back to good when paid', async () => {
    const acme = account();
    const org = acme.organizationId;
    const started = [...acme.customer(0), ...acme.report({}, 1)];
    const failed = acme.failed('in_1', 1, 10);
    const graceUntil = new Date(Date.parse(at(10)) + GRACE_DAYS * 86_400_000);
    const inGrace = subscribed({ standing: 'grace', graceReason: 'payment_failed', graceUntil, updatedAt: new Date(at(10)), revision: 3 });
    await spec.given(started, failed).then(accounts(org), [accountRow(org, inGrace)]);

    const minutesPastGrace = GRACE_DAYS * 24 * 60 + 11;
    const restricted = acme.checkStanding(minutesPastGrace);
    await spec
      .given(started, failed, restricted)
      .then(accounts(org), [accountRow(org, { ...inGrace, standing: 'restricted', updatedAt: new Date(at(minutesPastGrace)), revision: 4 })]);

    const paid = acme.paid('in_1', minutesPastGrace + 5);
    const scenario = spec.given(started, failed, restricted, paid);
    await scenario.then(accounts(org), [accountRow(org, subscribed({ updatedAt: new Date(at(minutesPastGrace + 5)), revision: 6 }))]);
    await scenario.then(invoices(org), [
      invoiceRow(org, 'in_1', {
        attempts: 1,
        lastDeclineCode: 'insufficient_funds',
        createdAt: new Date(at(10)),
        updatedAt: new Date(at(minutesPastGrace + 5)),
      }),
    ]);
  });

  it('starts a grace when a trial or a subscription ends unpaid, and ends it when the organization subscribes', async () => {
    const acme = account();
    const org = acme.organizationId;
    const trialEnded = [...acme.customer(0), ...acme.checkStanding(60, at(30))];
    const graceUntil = new Date(Date.parse(at(30)) + GRACE_DAYS * 86_400_000);
    await spec.given(trialEnded).then(accounts(org), [
      accountRow(org, {
        mode: 'stripe',
        customerId: 'cus_1',
        standing: 'grace',
        graceReason: 'trial_ended',
        graceUntil,
        updatedAt: new Date(at(60)),
        revision: 1,
      }),
    ]);
    const subscribedNow = acme.report({}, 70);
    await spec.given(trialEnded, subscribedNow).then(accounts(org), [accountRow(org, subscribed({ updatedAt: new Date(at(70)), revision: 3 }))]);

    // After a subscription that ended, the grace runs from its end.
    const globex = account();
    const ended = [
      ...globex.customer(0),
      ...globex.report({}, 1),
      ...globex.report({ status: 'canceled', canceledAt: day(10) }, 2),
      ...globex.checkStanding(3),
    ];
    await spec.given(ended).then(accounts(globex.organizationId), [
      accountRow(
        globex.organizationId,
        subscribed({
          status: 'canceled',
          canceledAt: new Date(day(10)),
          standing: 'grace',
          graceReason: 'subscription_ended',
          graceUntil: new Date(day(10 + GRACE_DAYS)),
          updatedAt: new Date(at(3)),
          revision: 3,
        }),
      ),
    ]);
  });

  it('lists each invoice once: failed attempts then paid becomes paid; a failure reported after the payment leaves it paid', async () => {
    const acme = account();
    const org = acme.organizationId;
    const started = [...acme.customer(0), ...acme.report({}, 1)];
    const retried = [...acme.failed('in_1', 1, 10), ...acme.failed('in_1', 2, 20, 'card_declined')];
    const failedRow = invoiceRow(org, 'in_1', {
      status: 'payment_failed',
      periodStart: null,
      periodEnd: null,
      attempts: 2,
      lastDeclineCode: 'card_declined',
      createdAt: new Date(at(10)),
      updatedAt: new Date(at(20)),
    });
    await spec.given(started, retried).then(invoices(org), [failedRow]);
    const paid = acme.paid('in_1', 30, 4_900);
    const paidRow = {
      ...failedRow,
      status: 'paid' as const,
      periodStart: new Date(day(31)),
      periodEnd: new Date(day(61)),
      updatedAt: new Date(at(30)),
    };
    await spec.given(started, retried, paid).then(invoices(org), [paidRow]);
    await spec.given(started, retried).when(paid).then(invoices(org), [paidRow]);

    // The provider's events come in any order: a failed attempt of an invoice already paid is history (the
    // decider records none; a stream that holds one anyway must not show the invoice unpaid).
    const second = acme.paid('in_2', 40, 12_000);
    const lateFailure = acme.raw(
      {
        type: 'PaymentFailed',
        version: 1,
        data: { ...acme.invoice('in_2'), number: null, amountDue: 13_000, attempt: 1, declineCode: 'expired_card' },
      },
      41,
    );
    const scenario = spec.given(started, retried, paid, second, lateFailure);
    await scenario.then(invoices(org), [
      paidRow,
      invoiceRow(org, 'in_2', {
        amount: 12_000,
        attempts: 1,
        lastDeclineCode: 'expired_card',
        createdAt: new Date(at(40)),
        updatedAt: new Date(at(41)),
      }),
    ]);
    // The late report is still an event of the stream: the account's revision follows it.
    await scenario.then(accounts(org), [accountRow(org, subscribed({ updatedAt: new Date(at(41)), revision: 8 }))]);
    await scenario.then(invoices(randomUUID()), []);
  });

  it('parks a change to a subscription it never saw, and goes on', async () => {
    const acme = account();
    const org = acme.organizationId;
    const started = [...acme.customer(0), ...acme.report({}, 1)];
    const ghost = acme.raw(
      {
        type: 'SubscriptionChanged',
        version: 1,
        data: {
          organizationId: org,
          subscriptionId: 'sub_ghost',
          changes: { status: 'past_due' },
          previous: { status: 'active' },
          reason: 'provider',
        },
      },
      2,
    );
    const method = acme.paymentMethod('pm_2', 3);
    const scenario = spec.given(started, ghost, method);
    await scenario.thenParked([{ eventType: 'SubscriptionChanged', error: /sub_ghost .* is not in the read model/ }]);
    await scenario.then(accounts(org), [accountRow(org, subscribed({ paymentMethodId: 'pm_2', updatedAt: new Date(at(3)), revision: 3 }))]);
  });
});
