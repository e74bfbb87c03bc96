import { expect } from 'chai';
import type { PlanEvent } from '../plans/plan.ts';
import { PlanLimitReachedError, quotaAfter, quotaBasis, quotaOf, takeQuota, type QuotaEvent } from './quota.ts';

const org = 'org-1';
const taken = (ownerId: string, units?: number): QuotaEvent => ({
  type: 'QuotaTaken',
  version: 1,
  data: { organizationId: org, kind: 'contacts', ownerId, ...(units ? { units } : {}) },
});
const released = (ownerId: string): QuotaEvent => ({ type: 'QuotaReleased', version: 1, data: { organizationId: org, kind: 'contacts', ownerId } });
const counted = (count: number, throughRevision: number, basis = 'plan@0'): QuotaEvent => ({
  type: 'QuotaCounted',
  version: 1,
  data: { organizationId: org, kind: 'contacts', count, throughRevision, basis },
});
const stream = (...events: QuotaEvent[]) => events.map((event, revision) => ({ revision, event }));
const limits = (contacts: number | null) => ({ contacts, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null });
const take = { organizationId: org, kind: 'contacts' as const, ownerId: 'c-new', limit: 3, basis: 'plan@0', plan: { id: 'plan', name: 'Starter' } };

describe('Quota (plan limits kept by a stream per organization and kind)', () => {
  it('counts a baseline plus the units recorded after the revision it was counted through, before or after it', () => {
    // Given units 0–1 counted in the baseline, 2 recorded between the count and its append, 4 after it
    const quota = quotaOf(stream(taken('a'), taken('b'), taken('c'), counted(2, 1), taken('d'), released('a')));
    // Then
    expect(quota).to.deep.equal({ revision: 5, basis: 'plan@0', used: 3 });
  });

  it('has no basis before any count, and counts bulk units', () => {
    expect(quotaOf(stream(taken('a'), taken('import', 5)))).to.deep.equal({ revision: 1, basis: null, used: 6 });
    expect(quotaOf([])).to.deep.equal({ revision: -1, basis: null, used: 0 });
  });

  it('moves a known quota on by later units, and asks for a fresh read when a new count is among them', () => {
    const known = quotaOf(stream(counted(2, -1)));
    expect(quotaAfter(known, [{ revision: 1, event: taken('x') }])).to.deep.equal({ revision: 1, basis: 'plan@0', used: 3 });
    expect(quotaAfter(known, [{ revision: 1, event: counted(9, 0) }])).to.equal(null);
  });

  it('lets the last allowed unit in and refuses the first beyond, naming the limit, the usage and the plan', () => {
    expect(takeQuota({ revision: 3, basis: 'plan@0', used: 2 }, take).type).to.equal('QuotaTaken');
    expect(() => takeQuota({ revision: 4, basis: 'plan@0', used: 3 }, take))
      .to.throw(PlanLimitReachedError)
      .that.includes({ kind: 'contacts', limit: 3, usage: 3, code: 'plan_limit_reached' });
  });

  it('takes unchecked while there is no count for the current plan (being counted)', () => {
    expect(takeQuota({ revision: 9, basis: 'older@0', used: 50 }, take).type).to.equal('QuotaTaken');
  });

  it('keeps the basis while the plan limits the kind without a break, and moves it when a lifted limit is set again', () => {
    const drafted: PlanEvent = {
      type: 'PlanDrafted',
      version: 1,
      data: { planId: 'p', name: 'P', monthlyPriceCents: 100, currency: 'EUR', limits: limits(10) },
    };
    const revise = (contacts: number | null): PlanEvent => ({
      type: 'PlanRevised',
      version: 1,
      data: { planId: 'p', changes: { limits: { contacts } } },
    });
    const renamed: PlanEvent = { type: 'PlanRevised', version: 1, data: { planId: 'p', changes: { name: 'Q' } } };
    const history = (...events: PlanEvent[]) => events.map((event, revision) => ({ revision, event }));
    expect(quotaBasis('p', history(drafted, revise(20), renamed), 'contacts')).to.equal('p@0');
    expect(quotaBasis('p', history(drafted, revise(null)), 'contacts')).to.equal(null);
    expect(quotaBasis('p', history(drafted, revise(null), revise(5)), 'contacts')).to.equal('p@2');
    expect(quotaBasis('p', history(drafted), 'seats')).to.equal(null);
  });
});
