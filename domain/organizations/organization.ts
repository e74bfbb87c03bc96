import { roleRank, type Role } from '../access/permissions.ts';
import { ConflictError, ForbiddenError, NotAuthenticatedError, NotFoundError, RuleViolationError } from '../errors.ts';
import type { PlanStatus } from '../plans/plan.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * An organization (tenant) and its membership: who belongs, with which role, who is invited, and whether
 * staff suspended it. Membership lives here, in one stream, so that rules spanning members ("the last owner
 * cannot be removed", "no second invitation for the same email") are checked against one consistent state
 * under the stream's optimistic concurrency. A user's own stream holds their identity and credentials.
 */
/**
 * Version 2. Version 1 (still in the log, upcast on read: domain/upcasting.ts) had an optional `ownerEmail`
 * (absent in the first events recorded) and no trial; version 2 always says both, null when unknown or none.
 */
export type OrganizationCreated = DomainEvent<
  'OrganizationCreated',
  {
    organizationId: string;
    name: string;
    ownerUserId: string;
    timezone: string;
    /** The owner's login email; null in organizations created before the membership rules. */
    ownerEmail: string | null;
    /** When the free trial a sign-up starts ends; null for organizations created before trials. */
    trialEndsAt: string | null;
  }
>;

/** How long the trial a sign-up starts lasts. */
export const TRIAL_DAYS = 14;
export type OrganizationRenamed = DomainEvent<'OrganizationRenamed', { organizationId: string; name: string }>;
export type MemberInvited = DomainEvent<
  'MemberInvited',
  {
    organizationId: string;
    invitationId: string;
    email: string;
    role: Role;
    /** The id the invitee's user will have: reserved now so that accepting can be retried after a crash. */
    userId: string;
    /** SHA-256 of the secret in the invitation link; the secret itself is only ever in the email. */
    secretHash: string;
    expiresAt: string;
    invitedBy: string;
  }
>;
export type InvitationRevoked = DomainEvent<'InvitationRevoked', { organizationId: string; invitationId: string }>;
export type MemberJoined = DomainEvent<
  'MemberJoined',
  { organizationId: string; invitationId: string; userId: string; email: string; role: Role }
>;
export type MemberRoleChanged = DomainEvent<
  'MemberRoleChanged',
  { organizationId: string; userId: string; role: Role; previousRole: Role }
>;
export type MemberDeactivated = DomainEvent<'MemberDeactivated', { organizationId: string; userId: string }>;
export type MemberReactivated = DomainEvent<'MemberReactivated', { organizationId: string; userId: string }>;
export type OrganizationSuspended = DomainEvent<'OrganizationSuspended', { organizationId: string; reason: string }>;
export type OrganizationReactivated = DomainEvent<'OrganizationReactivated', { organizationId: string }>;
/** Staff moved the organization onto a plan of the catalog. */
export type OrganizationPlanChanged = DomainEvent<
  'OrganizationPlanChanged',
  { organizationId: string; planId: string; previousPlanId: string | null }
>;
export type TrialExtended = DomainEvent<
  'TrialExtended',
  { organizationId: string; trialEndsAt: string; previousTrialEndsAt: string | null }
>;
/**
 * A staff member was given read-only access to the organization's data (support looking at what the
 * customer sees). Recorded in the organization's own stream so that its audit trail shows it.
 */
export type ImpersonationStarted = DomainEvent<
  'ImpersonationStarted',
  { organizationId: string; impersonationId: string; staffId: string; expiresAt: string; reason: string }
>;

export type OrganizationEvent =
  | OrganizationCreated
  | OrganizationRenamed
  | MemberInvited
  | InvitationRevoked
  | MemberJoined
  | MemberRoleChanged
  | MemberDeactivated
  | MemberReactivated
  | OrganizationSuspended
  | OrganizationReactivated
  | OrganizationPlanChanged
  | TrialExtended
  | ImpersonationStarted;

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
] as const satisfies readonly OrganizationEvent['type'][];

export interface Member {
  userId: string;
  /** Null only for an owner recorded before emails were kept here. */
  email: string | null;
  role: Role;
  active: boolean;
}

export interface PendingInvitation {
  invitationId: string;
  email: string;
  role: Role;
  userId: string;
  secretHash: string;
  expiresAt: string;
}

export type Organization =
  | { status: 'absent' }
  | {
      status: 'active' | 'suspended';
      id: string;
      name: string;
      ownerUserId: string;
      timezone: string;
      members: Record<string, Member>;
      invitations: Record<string, PendingInvitation>;
      /** The catalog plan it is on; null until staff put it on one. */
      planId: string | null;
      trialEndsAt: string | null;
    };

type Existing = Exclude<Organization, { status: 'absent' }>;

export type CreateOrganization = { type: 'CreateOrganization'; data: OrganizationCreated['data'] };
export type RenameOrganization = { type: 'RenameOrganization'; data: { organizationId: string; name: string } };
export type InviteMember = {
  type: 'InviteMember';
  data: Omit<MemberInvited['data'], 'invitedBy'> & { invitedBy: string; byRole: Role; now: string };
};
export type RevokeInvitation = { type: 'RevokeInvitation'; data: { organizationId: string; invitationId: string } };
export type AcceptInvitation = {
  type: 'AcceptInvitation';
  data: { organizationId: string; invitationId: string; secretHash: string; now: string };
};
export type ChangeMemberRole = {
  type: 'ChangeMemberRole';
  data: { organizationId: string; userId: string; role: Role; byRole: Role };
};
export type DeactivateMember = { type: 'DeactivateMember'; data: { organizationId: string; userId: string; byRole: Role } };
export type ReactivateMember = { type: 'ReactivateMember'; data: { organizationId: string; userId: string; byRole: Role } };
export type SuspendOrganization = { type: 'SuspendOrganization'; data: { organizationId: string; reason: string } };
export type ReactivateOrganization = { type: 'ReactivateOrganization'; data: { organizationId: string } };
export type ChangeOrganizationPlan = {
  type: 'ChangeOrganizationPlan';
  /** `plan` is the target plan's status as its own stream says (loaded by the handler). */
  data: { organizationId: string; planId: string; plan: PlanStatus | 'absent' };
};
export type ExtendTrial = { type: 'ExtendTrial'; data: { organizationId: string; trialEndsAt: string; now: string } };
export type StartImpersonation = { type: 'StartImpersonation'; data: ImpersonationStarted['data'] & { now: string } };

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
  | StartImpersonation;

export const organizationStream = (organizationId: string) => `organization-${organizationId}`;
export const initialOrganization: Organization = { status: 'absent' };

export function evolveOrganization(state: Organization, event: OrganizationEvent): Organization {
  if (event.type === 'OrganizationCreated') {
    const { organizationId, name, ownerUserId, timezone, ownerEmail, trialEndsAt } = event.data;
    return {
      status: 'active',
      id: organizationId,
      name,
      ownerUserId,
      timezone,
      members: { [ownerUserId]: { userId: ownerUserId, email: ownerEmail, role: 'owner', active: true } },
      invitations: {},
      planId: null,
      trialEndsAt,
    };
  }
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'OrganizationRenamed':
      return { ...state, name: event.data.name };
    case 'MemberInvited': {
      const { invitationId, email, role, userId, secretHash, expiresAt } = event.data;
      return { ...state, invitations: { ...state.invitations, [invitationId]: { invitationId, email, role, userId, secretHash, expiresAt } } };
    }
    case 'InvitationRevoked':
      return { ...state, invitations: without(state.invitations, event.data.invitationId) };
    case 'MemberJoined': {
      const { userId, email, role, invitationId } = event.data;
      return {
        ...state,
        members: { ...state.members, [userId]: { userId, email, role, active: true } },
        invitations: without(state.invitations, invitationId),
      };
    }
    case 'MemberRoleChanged':
      return withMember(state, event.data.userId, { role: event.data.role });
    case 'MemberDeactivated':
      return withMember(state, event.data.userId, { active: false });
    case 'MemberReactivated':
      return withMember(state, event.data.userId, { active: true });
    case 'OrganizationSuspended':
      return { ...state, status: 'suspended' };
    case 'OrganizationReactivated':
      return { ...state, status: 'active' };
    case 'OrganizationPlanChanged':
      return { ...state, planId: event.data.planId };
    case 'TrialExtended':
      return { ...state, trialEndsAt: event.data.trialEndsAt };
    case 'ImpersonationStarted':
      return state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const { [key]: _gone, ...rest } = record;
  return rest;
}

function withMember(state: Existing, userId: string, change: Partial<Member>): Existing {
  const member = state.members[userId];
  if (!member) return state;
  return { ...state, members: { ...state.members, [userId]: { ...member, ...change } } };
}

function requireOrganization(state: Organization, organizationId: string): Existing {
  if (state.status === 'absent' || state.id !== organizationId) throw new NotFoundError('Organization');
  return state;
}

function requireMember(state: Existing, userId: string): Member {
  const member = state.members[userId];
  if (!member) throw new NotFoundError('User');
  return member;
}

/** How far ahead staff may push a trial's end. */
const MAX_TRIAL_AHEAD_MS = 366 * 24 * 3600_000;

const activeOwners = (state: Existing) => Object.values(state.members).filter((m) => m.active && m.role === 'owner');

/** An owner may act on anyone; others only on members ranked below them. */
function requireOutranks(byRole: Role, target: Member, what: string): void {
  if (byRole === 'owner') return;
  if (roleRank[byRole] <= roleRank[target.role]) {
    throw new ForbiddenError(`Only an owner can ${what} a member with the ${target.role} role`, 'insufficient_role');
  }
}

const invalidInvitation = () =>
  new NotAuthenticatedError('This invitation is invalid, expired, revoked or already used.', 'invalid_invitation');

export function decideOrganization(command: OrganizationCommand, state: Organization): OrganizationEvent[] {
  switch (command.type) {
    case 'CreateOrganization':
      if (state.status !== 'absent') throw new ConflictError('Organization already exists', 'organization_exists');
      return [{ type: 'OrganizationCreated', version: 2, data: { ...command.data } }];
    case 'RenameOrganization': {
      const organization = requireOrganization(state, command.data.organizationId);
      if (organization.name === command.data.name) return [];
      return [{ type: 'OrganizationRenamed', version: 1, data: { ...command.data } }];
    }
    case 'InviteMember': {
      const organization = requireOrganization(state, command.data.organizationId);
      const { byRole, now, ...invitation } = command.data;
      if (byRole !== 'owner' && roleRank[invitation.role] >= roleRank[byRole]) {
        throw new ForbiddenError(`Only an owner can invite someone as ${invitation.role}`, 'insufficient_role', 'role');
      }
      if (Object.values(organization.members).some((m) => m.email === invitation.email)) {
        throw new ConflictError('This person is already a member of the organization', 'already_member', 'email');
      }
      const pending = Object.values(organization.invitations).find(
        (i) => i.email === invitation.email && Date.parse(i.expiresAt) > Date.parse(now),
      );
      if (pending) throw new ConflictError('This email already has a pending invitation', 'already_invited', 'email');
      return [{ type: 'MemberInvited', version: 1, data: invitation }];
    }
    case 'RevokeInvitation': {
      const organization = requireOrganization(state, command.data.organizationId);
      if (!organization.invitations[command.data.invitationId]) throw new NotFoundError('Invitation');
      return [{ type: 'InvitationRevoked', version: 1, data: { ...command.data } }];
    }
    case 'AcceptInvitation': {
      if (state.status !== 'active' || state.id !== command.data.organizationId) throw invalidInvitation();
      const invitation = state.invitations[command.data.invitationId];
      if (!invitation || invitation.secretHash !== command.data.secretHash) throw invalidInvitation();
      if (Date.parse(command.data.now) >= Date.parse(invitation.expiresAt)) throw invalidInvitation();
      const { invitationId, userId, email, role } = invitation;
      return [{ type: 'MemberJoined', version: 1, data: { organizationId: state.id, invitationId, userId, email, role } }];
    }
    case 'ChangeMemberRole': {
      const organization = requireOrganization(state, command.data.organizationId);
      const member = requireMember(organization, command.data.userId);
      if (command.data.byRole !== 'owner') throw new ForbiddenError('Only an owner can change roles', 'insufficient_role');
      if (member.role === command.data.role) return [];
      if (member.role === 'owner' && member.active && activeOwners(organization).length === 1) {
        throw new ConflictError('The last owner cannot be demoted; make someone else owner first', 'last_owner', 'role');
      }
      return [
        {
          type: 'MemberRoleChanged',
          version: 1,
          data: { organizationId: organization.id, userId: member.userId, role: command.data.role, previousRole: member.role },
        },
      ];
    }
    case 'DeactivateMember': {
      const organization = requireOrganization(state, command.data.organizationId);
      const member = requireMember(organization, command.data.userId);
      requireOutranks(command.data.byRole, member, 'deactivate');
      if (!member.active) return [];
      if (member.role === 'owner' && activeOwners(organization).length === 1) {
        throw new ConflictError('The last owner cannot be deactivated; make someone else owner first', 'last_owner');
      }
      return [{ type: 'MemberDeactivated', version: 1, data: { organizationId: organization.id, userId: member.userId } }];
    }
    case 'ReactivateMember': {
      const organization = requireOrganization(state, command.data.organizationId);
      const member = requireMember(organization, command.data.userId);
      requireOutranks(command.data.byRole, member, 'reactivate');
      if (member.active) return [];
      return [{ type: 'MemberReactivated', version: 1, data: { organizationId: organization.id, userId: member.userId } }];
    }
    case 'SuspendOrganization': {
      const organization = requireOrganization(state, command.data.organizationId);
      if (organization.status === 'suspended') return [];
      return [{ type: 'OrganizationSuspended', version: 1, data: { ...command.data } }];
    }
    case 'ReactivateOrganization': {
      const organization = requireOrganization(state, command.data.organizationId);
      if (organization.status === 'active') return [];
      return [{ type: 'OrganizationReactivated', version: 1, data: { ...command.data } }];
    }
    case 'ChangeOrganizationPlan': {
      const organization = requireOrganization(state, command.data.organizationId);
      const { planId, plan } = command.data;
      if (plan === 'absent') throw new RuleViolationError('There is no such plan', 'unknown_plan', 'planId');
      if (organization.planId === planId) return [];
      if (plan !== 'active') throw new RuleViolationError(`Organizations can only be put on an active plan; this one is ${plan}`, 'plan_not_active', 'planId');
      return [{ type: 'OrganizationPlanChanged', version: 1, data: { organizationId: organization.id, planId, previousPlanId: organization.planId } }];
    }
    case 'ExtendTrial': {
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
    case 'StartImpersonation': {
      const organization = requireOrganization(state, command.data.organizationId);
      const { now, ...started } = command.data;
      if (Date.parse(started.expiresAt) <= Date.parse(now)) throw new RuleViolationError('An impersonation must end in the future', 'invalid_expiry', 'expiresAt');
      if (started.reason.trim() === '') throw new RuleViolationError('Say why you need to see this organization', 'reason_required', 'reason');
      return [{ type: 'ImpersonationStarted', version: 1, data: { ...started, organizationId: organization.id } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const organizationDecider: Decider<OrganizationCommand, Organization, OrganizationEvent> = {
  decide: decideOrganization,
  evolve: evolveOrganization,
  initialState: initialOrganization,
};
