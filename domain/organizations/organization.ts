/**
 * The organization decider: one stream per organization, its commands decided by concern (lifecycle,
 * membership, plan and trial, impersonation, AI settings: one file each beside this one), its state in
 * organization-state.ts.
 */
import type { Decider } from '../decider.ts';
import { changeAiSettings, evolveAiSettings, type AiSettingsChanged, type ChangeAiSettings } from './ai-settings.ts';
import { startImpersonation, type ImpersonationStarted, type StartImpersonation } from './impersonation.ts';
import {
  createOrganization,
  evolveLifecycle,
  organizationCreated,
  reactivateOrganization,
  renameOrganization,
  suspendOrganization,
  type CreateOrganization,
  type LifecycleEvent,
  type ReactivateOrganization,
  type RenameOrganization,
  type SuspendOrganization,
} from './lifecycle.ts';
import {
  acceptInvitation,
  changeMemberRole,
  deactivateMember,
  evolveMembership,
  inviteMember,
  reactivateMember,
  revokeInvitation,
  type AcceptInvitation,
  type ChangeMemberRole,
  type DeactivateMember,
  type InviteMember,
  type MembershipEvent,
  type ReactivateMember,
  type RevokeInvitation,
} from './membership.ts';
import { initialOrganization, type Organization } from './organization-state.ts';
import {
  changeOrganizationPlan,
  evolvePlanAndTrial,
  extendTrial,
  type ChangeOrganizationPlan,
  type ExtendTrial,
  type PlanAndTrialEvent,
} from './plan-and-trial.ts';

export type * from './organization-state.ts';
export type * from './lifecycle.ts';
export type * from './membership.ts';
export type * from './plan-and-trial.ts';
export type * from './impersonation.ts';
export type * from './ai-settings.ts';
export { initialOrganization } from './organization-state.ts';
export { TRIAL_DAYS } from './plan-and-trial.ts';

export type OrganizationEvent = LifecycleEvent | MembershipEvent | PlanAndTrialEvent | ImpersonationStarted | AiSettingsChanged;

export const organizationEventTypes = [
  'OrganizationCreated',
  'OrganizationRenamed',
  'MemberInvited',
  'InvitationRevoked',
  'MemberJoined',
  'MemberRoleChanged',
  'MemberDeactivated',
  'MemberReactivated',
  'OrganizationSuspended',
  'OrganizationReactivated',
  'OrganizationPlanChanged',
  'TrialExtended',
  'ImpersonationStarted',
  'AiSettingsChanged',
] as const satisfies readonly OrganizationEvent['type'][];

export type OrganizationCommand =
  | CreateOrganization
  | RenameOrganization
  | InviteMember
  | RevokeInvitation
  | AcceptInvitation
  | ChangeMemberRole
  | DeactivateMember
  | ReactivateMember
  | SuspendOrganization
  | ReactivateOrganization
  | ChangeOrganizationPlan
  | ExtendTrial
  | StartImpersonation
  | ChangeAiSettings;

export const organizationStream = (organizationId: string) => `organization-${organizationId}`;

export function decideOrganization(command: OrganizationCommand, state: Organization): OrganizationEvent[] {
  switch (command.type) {
    case 'CreateOrganization':
      return createOrganization(command, state);
    case 'RenameOrganization':
      return renameOrganization(command, state);
    case 'SuspendOrganization':
      return suspendOrganization(command, state);
    case 'ReactivateOrganization':
      return reactivateOrganization(command, state);
    case 'InviteMember':
      return inviteMember(command, state);
    case 'RevokeInvitation':
      return revokeInvitation(command, state);
    case 'AcceptInvitation':
      return acceptInvitation(command, state);
    case 'ChangeMemberRole':
      return changeMemberRole(command, state);
    case 'DeactivateMember':
      return deactivateMember(command, state);
    case 'ReactivateMember':
      return reactivateMember(command, state);
    case 'ChangeOrganizationPlan':
      return changeOrganizationPlan(command, state);
    case 'ExtendTrial':
      return extendTrial(command, state);
    case 'StartImpersonation':
      return startImpersonation(command, state);
    case 'ChangeAiSettings':
      return changeAiSettings(command, state);
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export function evolveOrganization(state: Organization, event: OrganizationEvent): Organization {
  if (event.type === 'OrganizationCreated') return organizationCreated(event);
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'OrganizationRenamed':
    case 'OrganizationSuspended':
    case 'OrganizationReactivated':
      return evolveLifecycle(state, event);
    case 'MemberInvited':
    case 'InvitationRevoked':
    case 'MemberJoined':
    case 'MemberRoleChanged':
    case 'MemberDeactivated':
    case 'MemberReactivated':
      return evolveMembership(state, event);
    case 'OrganizationPlanChanged':
    case 'TrialExtended':
      return evolvePlanAndTrial(state, event);
    case 'ImpersonationStarted':
      return state; // a record in the organization's history: it changes nothing in its state
    case 'AiSettingsChanged':
      return evolveAiSettings(state, event);
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export const organizationDecider: Decider<OrganizationCommand, Organization, OrganizationEvent> = {
  decide: decideOrganization,
  evolve: evolveOrganization,
  initialState: initialOrganization,
};
