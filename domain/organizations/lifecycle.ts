import { ConflictError } from '../errors.ts';
import type { DomainEvent } from '../events.ts';
import { requireOrganization, type ExistingOrganization, type Organization } from './organization-state.ts';

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
export type OrganizationRenamed = DomainEvent<'OrganizationRenamed', { organizationId: string; name: string }>;
export type OrganizationSuspended = DomainEvent<'OrganizationSuspended', { organizationId: string; reason: string }>;
export type OrganizationReactivated = DomainEvent<'OrganizationReactivated', { organizationId: string }>;

export type LifecycleEvent = OrganizationCreated | OrganizationRenamed | OrganizationSuspended | OrganizationReactivated;

export type CreateOrganization = { type: 'CreateOrganization'; data: OrganizationCreated['data'] };
export type RenameOrganization = { type: 'RenameOrganization'; data: { organizationId: string; name: string } };
export type SuspendOrganization = { type: 'SuspendOrganization'; data: { organizationId: string; reason: string } };
export type ReactivateOrganization = { type: 'ReactivateOrganization'; data: { organizationId: string } };

export function createOrganization(command: CreateOrganization, state: Organization): LifecycleEvent[] {
  if (state.status !== 'absent') throw new ConflictError('Organization already exists', 'organization_exists');
  return [{ type: 'OrganizationCreated', version: 2, data: { ...command.data } }];
}

export function renameOrganization(command: RenameOrganization, state: Organization): LifecycleEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  if (organization.name === command.data.name) return [];
  return [{ type: 'OrganizationRenamed', version: 1, data: { ...command.data } }];
}

/** Staff suspend an organization: its users still sign in and read, every write is refused. */
export function suspendOrganization(command: SuspendOrganization, state: Organization): LifecycleEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  if (organization.status === 'suspended') return [];
  return [{ type: 'OrganizationSuspended', version: 1, data: { ...command.data } }];
}

export function reactivateOrganization(command: ReactivateOrganization, state: Organization): LifecycleEvent[] {
  const organization = requireOrganization(state, command.data.organizationId);
  if (organization.status === 'active') return [];
  return [{ type: 'OrganizationReactivated', version: 1, data: { ...command.data } }];
}

/** The organization as it is created: its owner its first member, no plan yet, the AI service on. */
export function organizationCreated(event: OrganizationCreated): ExistingOrganization {
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
    aiEnabled: true,
  };
}

export function evolveLifecycle(state: ExistingOrganization, event: Exclude<LifecycleEvent, OrganizationCreated>): ExistingOrganization {
  switch (event.type) {
    case 'OrganizationRenamed':
      return { ...state, name: event.data.name };
    case 'OrganizationSuspended':
      return { ...state, status: 'suspended' };
    case 'OrganizationReactivated':
      return { ...state, status: 'active' };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
