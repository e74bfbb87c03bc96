import { ConflictError, NotFoundError, RuleViolationError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * A plan of the catalog that staff sell: its monthly price and the limits an organization on it gets. A plan
 * is drafted, activated (organizations can be put on it), and retired (no new organization goes on it; those
 * on it stay until moved). Prices are in the smallest currency unit so that no sum is ever a float.
 */
export interface PlanLimits {
  /** Live contacts; null: unlimited. */
  contacts: number | null;
  activeWorkflows: number | null;
  executionsPerMonth: number | null;
  aiTokensPerMonth: number | null;
  seats: number | null;
}

export const planLimitNames = [
  'contacts',
  'activeWorkflows',
  'executionsPerMonth',
  'aiTokensPerMonth',
  'seats',
] as const satisfies readonly (keyof PlanLimits)[];

export type PlanStatus = 'draft' | 'active' | 'retired';

export interface PlanTerms {
  name: string;
  /** Cents (or the currency's smallest unit). */
  monthlyPriceCents: number;
  currency: string;
  limits: PlanLimits;
}

export type PlanDrafted = DomainEvent<'PlanDrafted', { planId: string } & PlanTerms>;
/** Only what changed; absent fields kept their value. */
export type PlanRevised = DomainEvent<
  'PlanRevised',
  { planId: string; changes: Partial<Omit<PlanTerms, 'limits'>> & { limits?: Partial<PlanLimits> } }
>;
export type PlanActivated = DomainEvent<'PlanActivated', { planId: string }>;
export type PlanRetired = DomainEvent<'PlanRetired', { planId: string }>;

/** Where the payment provider sells the plan: its product and one price per interval, at these amounts. */
export interface ProviderPrices {
  provider: 'stripe';
  productId: string;
  priceIds: { month: string; year: string };
  amounts: { month: number; year: number };
  currency: string;
}
/** The plan was brought up to date at the payment provider (billing, issue 21). */
export type PlanPricesSynced = DomainEvent<'PlanPricesSynced', { planId: string } & ProviderPrices>;

export type PlanEvent = PlanDrafted | PlanRevised | PlanActivated | PlanRetired | PlanPricesSynced;
export const planEventTypes = [
  'PlanDrafted',
  'PlanRevised',
  'PlanActivated',
  'PlanRetired',
  'PlanPricesSynced',
] as const satisfies readonly PlanEvent['type'][];

export type Plan = { status: 'absent' } | ({ status: PlanStatus; id: string; providerPrices?: ProviderPrices } & PlanTerms);

export type DraftPlan = { type: 'DraftPlan'; data: { planId: string } & PlanTerms };
export type RevisePlan = { type: 'RevisePlan'; data: { planId: string } & Partial<Omit<PlanTerms, 'limits'>> & { limits?: Partial<PlanLimits> } };
export type ActivatePlan = { type: 'ActivatePlan'; data: { planId: string } };
export type RetirePlan = { type: 'RetirePlan'; data: { planId: string } };
export type RecordProviderPrices = { type: 'RecordProviderPrices'; data: { planId: string } & ProviderPrices };
export type PlanCommand = DraftPlan | RevisePlan | ActivatePlan | RetirePlan | RecordProviderPrices;

export const planStream = (planId: string) => `plan-${planId}`;
export const initialPlan: Plan = { status: 'absent' };

export function evolvePlan(state: Plan, event: PlanEvent): Plan {
  switch (event.type) {
    case 'PlanDrafted': {
      const { planId, ...terms } = event.data;
      return { status: 'draft', id: planId, ...terms, limits: { ...terms.limits } };
    }
    case 'PlanRevised': {
      if (state.status === 'absent') return state;
      const { limits, ...rest } = event.data.changes;
      return { ...state, ...rest, limits: { ...state.limits, ...limits } };
    }
    case 'PlanActivated':
      return state.status === 'absent' ? state : { ...state, status: 'active' };
    case 'PlanRetired':
      return state.status === 'absent' ? state : { ...state, status: 'retired' };
    case 'PlanPricesSynced': {
      if (state.status === 'absent') return state;
      const { planId: _planId, ...prices } = event.data;
      return { ...state, providerPrices: prices };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function requirePlan(state: Plan, planId: string): Exclude<Plan, { status: 'absent' }> {
  if (state.status === 'absent' || state.id !== planId) throw new NotFoundError('Plan');
  return state;
}

/** The terms' own rules, whatever the HTTP or console schema already checked: deciders trust no edge. */
function checkTerms(terms: Partial<Omit<PlanTerms, 'limits'>> & { limits?: Partial<PlanLimits> }): void {
  if (terms.name !== undefined && (terms.name.trim() === '' || terms.name.length > 100)) {
    throw new RuleViolationError('A plan needs a name of 1 to 100 characters', 'invalid_name', 'name');
  }
  if (terms.monthlyPriceCents !== undefined && (!Number.isSafeInteger(terms.monthlyPriceCents) || terms.monthlyPriceCents < 0)) {
    throw new RuleViolationError('The monthly price must be a whole, non-negative amount', 'invalid_price', 'monthlyPriceCents');
  }
  if (terms.currency !== undefined && !/^[A-Z]{3}$/.test(terms.currency)) {
    throw new RuleViolationError('The currency must be an ISO 4217 code such as USD', 'invalid_currency', 'currency');
  }
  for (const [name, value] of Object.entries(terms.limits ?? {})) {
    if (value !== null && value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new RuleViolationError(
        `The ${name} limit must be a whole, non-negative number (or empty for unlimited)`,
        'invalid_limit',
        `limits.${name}`,
      );
    }
  }
}

export function decidePlan(command: PlanCommand, state: Plan): PlanEvent[] {
  switch (command.type) {
    case 'DraftPlan': {
      if (state.status !== 'absent') throw new ConflictError('This plan already exists', 'plan_exists');
      checkTerms(command.data);
      const { planId, name, monthlyPriceCents, currency, limits } = command.data;
      return [{ type: 'PlanDrafted', version: 1, data: { planId, name: name.trim(), monthlyPriceCents, currency, limits: { ...limits } } }];
    }
    case 'RevisePlan': {
      const plan = requirePlan(state, command.data.planId);
      if (plan.status === 'retired') throw new ConflictError('A retired plan cannot be changed', 'plan_retired');
      const { planId, limits, ...terms } = command.data;
      checkTerms(command.data);
      const changes: PlanRevised['data']['changes'] = {};
      if (terms.name !== undefined && terms.name.trim() !== plan.name) changes.name = terms.name.trim();
      if (terms.monthlyPriceCents !== undefined && terms.monthlyPriceCents !== plan.monthlyPriceCents)
        changes.monthlyPriceCents = terms.monthlyPriceCents;
      if (terms.currency !== undefined && terms.currency !== plan.currency) changes.currency = terms.currency;
      const changedLimits = Object.fromEntries(
        Object.entries(limits ?? {}).filter(([name, value]) => value !== undefined && plan.limits[name as keyof PlanLimits] !== value),
      ) as Partial<PlanLimits>;
      if (Object.keys(changedLimits).length > 0) changes.limits = changedLimits;
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'PlanRevised', version: 1, data: { planId, changes } }];
    }
    case 'ActivatePlan': {
      const plan = requirePlan(state, command.data.planId);
      if (plan.status === 'active') return [];
      if (plan.status === 'retired') throw new ConflictError('A retired plan cannot be activated again; draft a new one', 'plan_retired', 'status');
      return [{ type: 'PlanActivated', version: 1, data: { planId: plan.id } }];
    }
    case 'RetirePlan': {
      const plan = requirePlan(state, command.data.planId);
      if (plan.status === 'retired') return [];
      return [{ type: 'PlanRetired', version: 1, data: { planId: plan.id } }];
    }
    case 'RecordProviderPrices': {
      const plan = requirePlan(state, command.data.planId);
      const { planId: _planId, ...prices } = command.data;
      if (plan.providerPrices && samePrices(plan.providerPrices, prices)) return [];
      return [{ type: 'PlanPricesSynced', version: 1, data: { ...prices, planId: plan.id } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

function samePrices(a: ProviderPrices, b: ProviderPrices): boolean {
  return (
    a.provider === b.provider &&
    a.productId === b.productId &&
    a.currency === b.currency &&
    a.priceIds.month === b.priceIds.month &&
    a.priceIds.year === b.priceIds.year &&
    a.amounts.month === b.amounts.month &&
    a.amounts.year === b.amounts.year
  );
}

export const planDecider: Decider<PlanCommand, Plan, PlanEvent> = {
  decide: decidePlan,
  evolve: evolvePlan,
  initialState: initialPlan,
};
