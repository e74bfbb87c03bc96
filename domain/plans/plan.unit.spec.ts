import { expect } from 'chai';
import { ConflictError, NotFoundError, RuleViolationError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { planDecider, type PlanDrafted } from './plan.ts';

const spec = deciderSpec(planDecider);
const limits = { contacts: 5_000, activeWorkflows: 10, executionsPerMonth: 50_000, aiTokensPerMonth: 1_000_000, seats: 5 };
const drafted: PlanDrafted = {
  type: 'PlanDrafted',
  version: 1,
  data: { planId: 'p1', name: 'Growth', monthlyPriceCents: 9_900, currency: 'USD', limits },
};
const activated = { type: 'PlanActivated' as const, version: 1, data: { planId: 'p1' } };
const retired = { type: 'PlanRetired' as const, version: 1, data: { planId: 'p1' } };

describe('Plan decider', () => {
  it('drafts a plan with its price and limits; a second draft of the same id is a conflict', () => {
    spec
      .given()
      .when({ type: 'DraftPlan', data: { ...drafted.data, name: '  Growth ' } })
      .then([drafted]);
    spec.given(drafted).when({ type: 'DraftPlan', data: drafted.data }).thenError(ConflictError, { code: 'plan_exists' });
  });

  it('refuses bad terms, naming the field', () => {
    spec
      .given()
      .when({ type: 'DraftPlan', data: { ...drafted.data, name: ' ' } })
      .thenError(RuleViolationError, { field: 'name' });
    spec
      .given()
      .when({ type: 'DraftPlan', data: { ...drafted.data, monthlyPriceCents: -1 } })
      .thenError(RuleViolationError, { field: 'monthlyPriceCents' });
    spec
      .given()
      .when({ type: 'DraftPlan', data: { ...drafted.data, monthlyPriceCents: 9.5 } })
      .thenError(RuleViolationError, { field: 'monthlyPriceCents' });
    spec
      .given()
      .when({ type: 'DraftPlan', data: { ...drafted.data, currency: 'usd' } })
      .thenError(RuleViolationError, { field: 'currency' });
    spec
      .given()
      .when({ type: 'DraftPlan', data: { ...drafted.data, limits: { ...limits, seats: -2 } } })
      .thenError(RuleViolationError, { field: 'limits.seats' });
  });

  it('records only what a revision changes, and nothing for no change', () => {
    spec
      .given(drafted, activated)
      .when({ type: 'RevisePlan', data: { planId: 'p1', name: 'Growth', monthlyPriceCents: 12_900, limits: { seats: 10, contacts: 5_000 } } })
      .then([{ type: 'PlanRevised', version: 1, data: { planId: 'p1', changes: { monthlyPriceCents: 12_900, limits: { seats: 10 } } } }]);
    spec
      .given(drafted)
      .when({ type: 'RevisePlan', data: { planId: 'p1', name: 'Growth', limits } })
      .thenNothing();
    const state = spec.given(drafted, { type: 'PlanRevised', version: 1, data: { planId: 'p1', changes: { limits: { seats: null } } } }).state();
    expect(state).to.include({ status: 'draft', monthlyPriceCents: 9_900 });
    expect(state).to.have.deep.property('limits', { ...limits, seats: null });
  });

  it('activates a draft once; retires; a retired plan cannot be revised or activated again', () => {
    spec
      .given(drafted)
      .when({ type: 'ActivatePlan', data: { planId: 'p1' } })
      .then([activated]);
    spec
      .given(drafted, activated)
      .when({ type: 'ActivatePlan', data: { planId: 'p1' } })
      .thenNothing();
    spec
      .given(drafted, activated)
      .when({ type: 'RetirePlan', data: { planId: 'p1' } })
      .then([retired]);
    spec
      .given(drafted, retired)
      .when({ type: 'RetirePlan', data: { planId: 'p1' } })
      .thenNothing();
    spec
      .given(drafted, retired)
      .when({ type: 'ActivatePlan', data: { planId: 'p1' } })
      .thenError(ConflictError, { code: 'plan_retired' });
    spec
      .given(drafted, retired)
      .when({ type: 'RevisePlan', data: { planId: 'p1', name: 'Old' } })
      .thenError(ConflictError, { code: 'plan_retired' });
  });

  it('knows no plan that was never drafted', () => {
    spec
      .given()
      .when({ type: 'ActivatePlan', data: { planId: 'p1' } })
      .thenError(NotFoundError);
    spec
      .given()
      .when({ type: 'RevisePlan', data: { planId: 'p1', name: 'X' } })
      .thenError(NotFoundError);
  });

  it('records where the payment provider sells the plan, again only when something changed', () => {
    const prices = {
      provider: 'stripe' as const,
      productId: 'prod_1',
      priceIds: { month: 'price_m', year: 'price_y' },
      amounts: { month: 9_900, year: 99_000 },
      currency: 'USD',
    };
    const synced = { type: 'PlanPricesSynced' as const, version: 1, data: { ...prices, planId: 'p1' } };
    spec
      .given(drafted, activated)
      .when({ type: 'RecordProviderPrices', data: { planId: 'p1', ...prices } })
      .then([synced]);
    spec
      .given(drafted, activated, synced)
      .when({ type: 'RecordProviderPrices', data: { planId: 'p1', ...prices } })
      .thenNothing();
    spec
      .given(drafted, activated, synced)
      .when({ type: 'RecordProviderPrices', data: { planId: 'p1', ...prices, priceIds: { month: 'price_m2', year: 'price_y' } } })
      .then([{ ...synced, data: { ...synced.data, priceIds: { month: 'price_m2', year: 'price_y' } } }]);
    expect(spec.given(drafted, activated, synced).state()).to.deep.include({ providerPrices: prices });
  });
});
