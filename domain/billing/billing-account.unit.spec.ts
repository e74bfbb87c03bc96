import { expect } from 'chai';
import { ConflictError, RuleViolationError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import {
  billingAccountDecider,
  planChangeTiming,
  priceFor,
  restrictionStart,
  type BillingAccountEvent,
  type SubscriptionSnapshot,
} from './billing-account.ts';

const spec = deciderSpec(billingAccountDecider);
const organizationId = 'org-1';
const snapshot = (changes: Partial<SubscriptionSnapshot> = {}): SubscriptionSnapshot => ({
  subscriptionId: 'sub_1',
  planId: 'pro',
  interval: 'month',
  status: 'active',
  currentPeriodStart: '2026-03-01T00:00:00.000Z',
  currentPeriodEnd: '2026-04-01T00:00:00.000Z',
  cancelAtPeriodEnd: false,
  canceledAt: null,
  trialEnd: null,
  ...changes,
});
const started = (changes: Partial<SubscriptionSnapshot> = {}): BillingAccountEvent => ({
  type: 'SubscriptionStarted',
  version: 1,
  data: { organizationId, mode: 'stripe', ...snapshot(changes) },
});
const apply = (changes: Partial<SubscriptionSnapshot> = {}, reason: 'provider' | 'upgrade' = 'provider') => ({
  type: 'ApplySubscription' as const,
  data: { organizationId, snapshot: snapshot(changes), mode: 'stripe' as const, reason, now: '2026-03-10T00:00:00.000Z' },
});
const links = (invoiceId: string) => ({
  organizationId,
  invoiceId,
  number: 'NF-0001',
  hostedInvoiceUrl: `https://invoice.example/${invoiceId}`,
  pdfUrl: `https://invoice.example/${invoiceId}.pdf`,
});
const failed = (invoiceId = 'in_1', attempt = 1) => ({
  type: 'RecordPaymentFailed' as const,
  data: {
    ...links(invoiceId),
    amountDue: 4900,
    currency: 'EUR',
    attempt,
    declineCode: 'insufficient_funds',
    now: '2026-04-01T00:00:00.000Z',
    graceDays: 7,
  },
});
const paid = (invoiceId = 'in_1') => ({
  type: 'RecordInvoicePaid' as const,
  data: {
    ...links(invoiceId),
    amountPaid: 4900,
    currency: 'EUR',
    periodStart: '2026-04-01T00:00:00.000Z',
    periodEnd: '2026-05-01T00:00:00.000Z',
  },
});

describe('Billing account decider', () => {
  describe('subscriptions, as the provider reports them', () => {
    it('starts a subscription it did not hold', () => {
      spec.given().when(apply()).then([started()]);
    });

    it('records only what changed, with the values before; the same snapshot again records nothing (any order, any number of times)', () => {
      spec
        .given(started())
        .when(apply({ planId: 'team', currentPeriodEnd: '2026-04-01T00:00:00.000Z' }, 'upgrade'))
        .then([
          {
            type: 'SubscriptionChanged',
            version: 1,
            data: { organizationId, subscriptionId: 'sub_1', changes: { planId: 'team' }, previous: { planId: 'pro' }, reason: 'upgrade' },
          },
        ]);
      spec.given(started()).when(apply()).thenNothing();
    });

    it('records a cancellation once, at the provider time', () => {
      const canceled = apply({ status: 'canceled', canceledAt: '2026-03-05T00:00:00.000Z' });
      spec
        .given(started())
        .when(canceled)
        .then([
          {
            type: 'SubscriptionCanceled',
            version: 1,
            data: { organizationId, subscriptionId: 'sub_1', planId: 'pro', canceledAt: '2026-03-05T00:00:00.000Z' },
          },
        ]);
      spec
        .given(started(), {
          type: 'SubscriptionCanceled',
          version: 1,
          data: { organizationId, subscriptionId: 'sub_1', planId: 'pro', canceledAt: '2026-03-05T00:00:00.000Z' },
        })
        .when(canceled)
        .thenNothing();
    });

    it('ignores a report of an ended subscription it never held, and refuses a second one that bills', () => {
      spec
        .given()
        .when(apply({ status: 'canceled', canceledAt: '2026-01-01T00:00:00.000Z' }))
        .thenNothing();
      spec
        .given(started())
        .when(apply({ subscriptionId: 'sub_2' }))
        .thenError(ConflictError, { code: 'already_subscribed' });
      spec.given(started()).when({ type: 'CheckCanSubscribe', data: { organizationId } }).thenError(ConflictError, { code: 'already_subscribed' });
      spec
        .given(started(), {
          type: 'SubscriptionCanceled',
          version: 1,
          data: { organizationId, subscriptionId: 'sub_1', planId: 'pro', canceledAt: '2026-03-05T00:00:00.000Z' },
        })
        .when({ type: 'CheckCanSubscribe', data: { organizationId } })
        .thenNothing();
    });
  });

  describe('plan changes', () => {
    it('says when a change takes effect: dearer or to annual now, cheaper or to monthly at the period end', () => {
      const pro = { planId: 'pro', monthlyPriceCents: 4900 };
      const team = { planId: 'team', monthlyPriceCents: 9900 };
      expect(planChangeTiming({ ...pro, interval: 'month' }, { ...team, interval: 'month' })).to.equal('now');
      expect(planChangeTiming({ ...team, interval: 'month' }, { ...pro, interval: 'month' })).to.equal('period_end');
      expect(planChangeTiming({ ...pro, interval: 'month' }, { ...pro, interval: 'year' })).to.equal('now');
      expect(planChangeTiming({ ...team, interval: 'year' }, { ...team, interval: 'month' }), 'annual to monthly is never an upgrade').to.equal(
        'period_end',
      );
      expect(planChangeTiming({ ...pro, interval: 'year' }, { ...team, interval: 'month' })).to.equal('period_end');
      expect(priceFor(4900, 'year')).to.equal(49000);
    });

    it('schedules a change for the period end, replaces it with a later one, and drops it once the provider holds it', () => {
      const scheduled: BillingAccountEvent = {
        type: 'PlanChangeScheduled',
        version: 1,
        data: {
          organizationId,
          subscriptionId: 'sub_1',
          planId: 'starter',
          interval: 'month',
          at: '2026-04-01T00:00:00.000Z',
          fromPlanId: 'pro',
          fromInterval: 'month',
        },
      };
      spec
        .given(started())
        .when({ type: 'SchedulePlanChange', data: { organizationId, planId: 'starter', interval: 'month' } })
        .then([scheduled]);
      spec
        .given(started(), scheduled)
        .when({ type: 'SchedulePlanChange', data: { organizationId, planId: 'starter', interval: 'month' } })
        .thenNothing();
      spec
        .given(started(), scheduled)
        .when({ type: 'SchedulePlanChange', data: { organizationId, planId: 'pro', interval: 'month' } })
        .then([
          { type: 'ScheduledPlanChangeDropped', version: 1, data: { organizationId, planId: 'starter', interval: 'month', reason: 'replaced' } },
        ]);
      spec
        .given(started(), scheduled)
        .when(apply({ planId: 'starter', currentPeriodStart: '2026-04-01T00:00:00.000Z', currentPeriodEnd: '2026-05-01T00:00:00.000Z' }))
        .then([
          {
            type: 'SubscriptionChanged',
            version: 1,
            data: {
              organizationId,
              subscriptionId: 'sub_1',
              changes: { planId: 'starter', currentPeriodStart: '2026-04-01T00:00:00.000Z', currentPeriodEnd: '2026-05-01T00:00:00.000Z' },
              previous: { planId: 'pro', currentPeriodStart: '2026-03-01T00:00:00.000Z', currentPeriodEnd: '2026-04-01T00:00:00.000Z' },
              reason: 'provider',
            },
          },
          { type: 'ScheduledPlanChangeDropped', version: 1, data: { organizationId, planId: 'starter', interval: 'month', reason: 'applied' } },
        ]);
    });

    it('refuses to schedule a change without a subscription', () => {
      spec
        .given()
        .when({ type: 'SchedulePlanChange', data: { organizationId, planId: 'pro', interval: 'month' } })
        .thenError(RuleViolationError, { code: 'not_subscribed' });
    });
  });

  describe('standing: good, grace, restricted', () => {
    const graceFromPayment: BillingAccountEvent = {
      type: 'GraceStarted',
      version: 1,
      data: { organizationId, reason: 'payment_failed', until: '2026-04-08T00:00:00.000Z' },
    };
    const failure: BillingAccountEvent = {
      type: 'PaymentFailed',
      version: 1,
      data: { ...links('in_1'), amountDue: 4900, currency: 'EUR', attempt: 1, declineCode: 'insufficient_funds' },
    };

    it('starts grace on a failed payment (once per attempt), restricts when it runs out, and restores on payment', () => {
      spec.given(started()).when(failed()).then([failure, graceFromPayment]);
      spec.given(started(), failure, graceFromPayment).when(failed()).thenNothing();
      spec
        .given(started(), failure, graceFromPayment)
        .when(failed('in_1', 2))
        .then([{ ...failure, data: { ...failure.data, attempt: 2 } } as BillingAccountEvent]);
      const check = (now: string) => ({
        type: 'CheckStanding' as const,
        data: { organizationId, now, trialEndsAt: null, graceDays: 7, comped: false },
      });
      spec.given(started(), failure, graceFromPayment).when(check('2026-04-07T23:59:59.000Z')).thenNothing();
      const restricted: BillingAccountEvent = { type: 'OrganizationRestricted', version: 1, data: { organizationId, reason: 'payment_failed' } };
      spec.given(started(), failure, graceFromPayment).when(check('2026-04-08T00:00:00.000Z')).then([restricted]);
      spec.given(started(), failure, graceFromPayment, restricted).when(check('2026-05-01T00:00:00.000Z')).thenNothing();
      spec
        .given(started(), failure, graceFromPayment, restricted)
        .when(paid())
        .then([
          { type: 'InvoicePaid', version: 1, data: paid().data },
          { type: 'StandingRestored', version: 1, data: { organizationId, reason: 'paid' } },
        ]);
      expect(
        spec.given(started(), failure, graceFromPayment, restricted, { type: 'InvoicePaid', version: 1, data: paid().data }).state().paidInvoices,
      ).to.deep.equal(['in_1']);
      spec.given(started(), { type: 'InvoicePaid', version: 1, data: paid().data }).when(paid()).thenNothing();
    });

    it('starts grace when a trial ends without a subscription; subscribing or a longer trial restores', () => {
      const check = (now: string, trialEndsAt: string, comped = false) => ({
        type: 'CheckStanding' as const,
        data: { organizationId, now, trialEndsAt, graceDays: 7, comped },
      });
      const trialGrace: BillingAccountEvent = {
        type: 'GraceStarted',
        version: 1,
        data: { organizationId, reason: 'trial_ended', until: '2026-03-22T00:00:00.000Z' },
      };
      spec.given().when(check('2026-03-14T23:59:59.000Z', '2026-03-15T00:00:00.000Z')).thenNothing();
      spec.given().when(check('2026-03-15T00:00:00.000Z', '2026-03-15T00:00:00.000Z')).then([trialGrace]);
      spec.given(started()).when(check('2026-03-16T00:00:00.000Z', '2026-03-15T00:00:00.000Z')).thenNothing();
      spec
        .given(trialGrace)
        .when(apply())
        .then([started(), { type: 'StandingRestored', version: 1, data: { organizationId, reason: 'subscribed' } }]);
      spec
        .given(trialGrace, { type: 'OrganizationRestricted', version: 1, data: { organizationId, reason: 'trial_ended' } })
        .when(check('2026-03-30T00:00:00.000Z', '2026-04-15T00:00:00.000Z'))
        .then([{ type: 'StandingRestored', version: 1, data: { organizationId, reason: 'trial_extended' } }]);
      spec
        .given()
        .when(check('2026-03-16T00:00:00.000Z', '2026-03-15T00:00:00.000Z', true))
        .thenNothing();
      spec
        .given(trialGrace)
        .when(check('2026-03-16T00:00:00.000Z', '2026-03-15T00:00:00.000Z', true))
        .then([{ type: 'StandingRestored', version: 1, data: { organizationId, reason: 'comped' } }]);
    });

    it('starts grace from the end of a subscription that ended, and a new subscription restores', () => {
      const canceled: BillingAccountEvent = {
        type: 'SubscriptionCanceled',
        version: 1,
        data: { organizationId, subscriptionId: 'sub_1', planId: 'pro', canceledAt: '2026-04-01T00:00:00.000Z' },
      };
      const grace: BillingAccountEvent = {
        type: 'GraceStarted',
        version: 1,
        data: { organizationId, reason: 'subscription_ended', until: '2026-04-08T00:00:00.000Z' },
      };
      const check = {
        type: 'CheckStanding' as const,
        data: { organizationId, now: '2026-04-02T00:00:00.000Z', trialEndsAt: '2026-01-15T00:00:00.000Z', graceDays: 7, comped: false },
      };
      spec.given(started(), canceled).when(check).then([grace]);
      spec
        .given(started(), canceled, grace)
        .when(apply({ subscriptionId: 'sub_2' }))
        .then([started({ subscriptionId: 'sub_2' }), { type: 'StandingRestored', version: 1, data: { organizationId, reason: 'subscribed' } }]);
    });
  });

  it('records the customer once and a payment method when it changes', () => {
    const created: BillingAccountEvent = {
      type: 'BillingCustomerCreated',
      version: 1,
      data: { organizationId, customerId: 'cus_1', mode: 'stripe' },
    };
    spec
      .given()
      .when({ type: 'RecordCustomer', data: { organizationId, customerId: 'cus_1', mode: 'stripe' } })
      .then([created]);
    spec
      .given(created)
      .when({ type: 'RecordCustomer', data: { organizationId, customerId: 'cus_1', mode: 'stripe' } })
      .thenNothing();
    spec
      .given(created)
      .when({ type: 'RecordCustomer', data: { organizationId, customerId: 'cus_2', mode: 'stripe' } })
      .thenError(ConflictError);
    spec
      .given(created)
      .when({ type: 'RecordPaymentMethod', data: { organizationId, paymentMethodId: 'pm_1' } })
      .then([{ type: 'PaymentMethodSet', version: 1, data: { organizationId, paymentMethodId: 'pm_1' } }]);
  });

  it('says from when writes are refused, without waiting for the clock to record it', () => {
    const state = (...events: BillingAccountEvent[]) => spec.given(...events).state();
    const trial = { trialEndsAt: '2026-03-15T00:00:00.000Z', comped: false };
    expect(restrictionStart(state(), trial, 7)).to.deep.equal({ at: '2026-03-22T00:00:00.000Z', reason: 'trial_ended' });
    expect(restrictionStart(state(), { ...trial, comped: true }, 7)).to.equal(null);
    expect(restrictionStart(state(started()), trial, 7)).to.equal(null);
    expect(restrictionStart(state(started({ status: 'incomplete' })), trial, 7)?.reason).to.equal('trial_ended');
    const canceled: BillingAccountEvent = {
      type: 'SubscriptionCanceled',
      version: 1,
      data: { organizationId, subscriptionId: 'sub_1', planId: 'pro', canceledAt: '2026-05-01T00:00:00.000Z' },
    };
    expect(restrictionStart(state(started(), canceled), trial, 7)).to.deep.equal({ at: '2026-05-08T00:00:00.000Z', reason: 'subscription_ended' });
    const grace: BillingAccountEvent = {
      type: 'GraceStarted',
      version: 1,
      data: { organizationId, reason: 'payment_failed', until: '2026-04-08T00:00:00.000Z' },
    };
    expect(restrictionStart(state(started(), grace), trial, 7)).to.deep.equal({ at: '2026-04-08T00:00:00.000Z', reason: 'payment_failed' });
    expect(
      restrictionStart(
        state(started(), grace, { type: 'OrganizationRestricted', version: 1, data: { organizationId, reason: 'payment_failed' } }),
        trial,
        7,
      )?.at,
    ).to.equal('1970-01-01T00:00:00.000Z');
    expect(restrictionStart(state(), { trialEndsAt: null, comped: false }, 7)).to.equal(null);
  });
});
