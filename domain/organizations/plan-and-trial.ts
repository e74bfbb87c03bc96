import { RuleViolationError } from '../errors.ts';
import type { DomainEvent } from '../events.ts';
import type { PlanStatus } from '../plans/plan.ts';
import { requireOrganization, type ExistingOrganization, type Organization } from './organization-state.ts';

/** How long the trial a sign-up starts lasts. */
export const TRIAL_DAYS = 14;
/** How far ahead staff may push a trial's end. */
const MAX_TRIAL_AHEAD_MS = 366 * 24 * 3600_000;

/** Staff moved the organization onto a plan of the catalog. */
export type OrganizationPlanChanged = DomainEvent<
  'OrganizationPlanChanged',
  { organizationId: string; planId: string; previousPlanId: string | null }
>;
export type TrialExtended = DomainEvent<'TrialExtended', { organizationId: string; trialEndsAt: string; previousTrialEndsAt: string | null }>;

export type PlanAndTrialEvent = OrganizationPlanChanged | TrialExtended;

export type ChangeOrganizationPlan = {
  type: 'ChangeOrganizationPlan';
  /** `plan` is the target plan's status as its own stream says (loaded by the handler). */
  data: { organizationId: string; planId: string; plan: PlanStatus | 'absent' };
};
export type ExtendTrial = { type: 'ExtendTrial'; data: { organizationId: string; trialEndsAt: string; now: string } };

/** Onto an active plan of the catalog only. */
export function changeOrganizationPlan(command: ChangeOrganizationPlan, state: Organization): PlanAndTrialEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  const { planId, plan } = command.data;
  if (plan === 'absent') throw new RuleViolationError('There is no such plan', 'unknown_plan', 'planId');
  if (organization.planId === planId) return [];
  if (plan !== 'active')
    throw new RuleViolationError(`Organizations can only be put on an active plan; this one is ${plan}`, 'plan_not_active', 'planId');
  return [{ type: 'OrganizationPlanChanged', version: 1, data: { organizationId: organization.id, planId, previousPlanId: organization.planId } }];
}

/** A later end than the current one, in the future, at most a year ahead. */
export function extendTrial(command: ExtendTrial, state: Organization): PlanAndTrialEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  const until = Date.parse(command.data.trialEndsAt);
  const now = Date.parse(command.data.now);
  if (Number.isNaN(until)) throw new RuleViolationError('The trial end must be a date and time', 'invalid_date', 'trialEndsAt');
  if (until <= now) throw new RuleViolationError('The trial end must be in the future', 'trial_end_in_past', 'trialEndsAt');
  if (until > now + MAX_TRIAL_AHEAD_MS) throw new RuleViolationError('A trial can run at most a year ahead', 'trial_too_long', 'trialEndsAt');
  const current = organization.trialEndsAt;
  if (current !== null && until <= Date.parse(current)) {
    throw new RuleViolationError(`An extension must end after the current trial end (${current})`, 'not_an_extension', 'trialEndsAt');
  }
  const trialEndsAt = new Date(until).toISOString();
  return [{ type: 'TrialExtended', version: 1, data: { organizationId: organization.id, trialEndsAt, previousTrialEndsAt: current } }];
}

export function evolvePlanAndTrial(state: ExistingOrganization, event: PlanAndTrialEvent): ExistingOrganization {
  switch (event.type) {
    case 'OrganizationPlanChanged':
      return { ...state, planId: event.data.planId };
    case 'TrialExtended':
      return { ...state, trialEndsAt: event.data.trialEndsAt };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
