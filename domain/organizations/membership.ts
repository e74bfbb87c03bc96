import { roleRank, type Role } from '../access/permissions.ts';
import { ConflictError, ForbiddenError, NotAuthenticatedError, NotFoundError } from '../errors.ts';
import type { DomainEvent } from '../events.ts';
import { requireOrganization, type ExistingOrganization, type Member, type Organization } from './organization-state.ts';

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
export type MemberJoined = DomainEvent<'MemberJoined', { organizationId: string; invitationId: string; userId: string; email: string; role: Role }>;
export type MemberRoleChanged = DomainEvent<'MemberRoleChanged', { organizationId: string; userId: string; role: Role; previousRole: Role }>;
export type MemberDeactivated = DomainEvent<'MemberDeactivated', { organizationId: string; userId: string }>;
export type MemberReactivated = DomainEvent<'MemberReactivated', { organizationId: string; userId: string }>;

export type MembershipEvent = MemberInvited | InvitationRevoked | MemberJoined | MemberRoleChanged | MemberDeactivated | MemberReactivated;

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

/** Below an owner, one may invite only roles ranked below one's own; an email is invited once at a time. */
export function inviteMember(command: InviteMember, state: Organization): MembershipEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  const { byRole, now, ...invitation } = command.data;
  if (byRole !== 'owner' && roleRank[invitation.role] >= roleRank[byRole]) {
    throw new ForbiddenError(`Only an owner can invite someone as ${invitation.role}`, 'insufficient_role', 'role');
  }
  if (Object.values(organization.members).some((m) => m.email === invitation.email)) {
    throw new ConflictError('This person is already a member of the organization', 'already_member', 'email');
  }
  const pending = Object.values(organization.invitations).find((i) => i.email === invitation.email && Date.parse(i.expiresAt) > Date.parse(now));
  if (pending) throw new ConflictError('This email already has a pending invitation', 'already_invited', 'email');
  return [{ type: 'MemberInvited', version: 1, data: invitation }];
}

export function revokeInvitation(command: RevokeInvitation, state: Organization): MembershipEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  if (!organization.invitations[command.data.invitationId]) throw new NotFoundError('Invitation');
  return [{ type: 'InvitationRevoked', version: 1, data: { ...command.data } }];
}

/** The link's secret, before it expires, for an active organization; every failure is the same answer. */
export function acceptInvitation(command: AcceptInvitation, state: Organization): MembershipEvent[] {
  if (state.status !== 'active' || state.id !== command.data.organizationId) throw invalidInvitation();
  const invitation = state.invitations[command.data.invitationId];
  if (!invitation || invitation.secretHash !== command.data.secretHash) throw invalidInvitation();
  if (Date.parse(command.data.now) >= Date.parse(invitation.expiresAt)) throw invalidInvitation();
  const { invitationId, userId, email, role } = invitation;
  return [{ type: 'MemberJoined', version: 1, data: { organizationId: state.id, invitationId, userId, email, role } }];
}

/** Only owners change roles, and the last active owner stays one. */
export function changeMemberRole(command: ChangeMemberRole, state: Organization): MembershipEvent[] {
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

export function deactivateMember(command: DeactivateMember, state: Organization): MembershipEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  const member = requireMember(organization, command.data.userId);
  requireOutranks(command.data.byRole, member, 'deactivate');
  if (!member.active) return [];
  if (member.role === 'owner' && activeOwners(organization).length === 1) {
    throw new ConflictError('The last owner cannot be deactivated; make someone else owner first', 'last_owner');
  }
  return [{ type: 'MemberDeactivated', version: 1, data: { organizationId: organization.id, userId: member.userId } }];
}

export function reactivateMember(command: ReactivateMember, state: Organization): MembershipEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  const member = requireMember(organization, command.data.userId);
  requireOutranks(command.data.byRole, member, 'reactivate');
  if (member.active) return [];
  return [{ type: 'MemberReactivated', version: 1, data: { organizationId: organization.id, userId: member.userId } }];
}

export function evolveMembership(state: ExistingOrganization, event: MembershipEvent): ExistingOrganization {
  switch (event.type) {
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
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function requireMember(state: ExistingOrganization, userId: string): Member {
  const member = state.members[userId];
  if (!member) throw new NotFoundError('User');
  return member;
}

const activeOwners = (state: ExistingOrganization) => Object.values(state.members).filter((m) => m.active && m.role === 'owner');

/** An owner may act on anyone; others only on members ranked below them. */
function requireOutranks(byRole: Role, target: Member, what: string): void {
  if (byRole === 'owner') return;
  if (roleRank[byRole] <= roleRank[target.role]) {
    throw new ForbiddenError(`Only an owner can ${what} a member with the ${target.role} role`, 'insufficient_role');
  }
}

const invalidInvitation = () => new NotAuthenticatedError('This invitation is invalid, expired, revoked or already used.', 'invalid_invitation');

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const { [key]: _gone, ...rest } = record;
  return rest;
}

function withMember(state: ExistingOrganization, userId: string, change: Partial<Member>): ExistingOrganization {
  const member = state.members[userId];
  if (!member) return state;
  return { ...state, members: { ...state.members, [userId]: { ...member, ...change } } };
}
