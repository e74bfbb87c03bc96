import { ConflictError, NotFoundError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

export type OrganizationCreated = DomainEvent<
  'OrganizationCreated',
  { organizationId: string; name: string; ownerUserId: string; timezone: string }
>;
export type OrganizationRenamed = DomainEvent<'OrganizationRenamed', { organizationId: string; name: string }>;
export type OrganizationEvent = OrganizationCreated | OrganizationRenamed;

export const organizationEventTypes = [
  'OrganizationCreated',
  'OrganizationRenamed',
] as const satisfies readonly OrganizationEvent['type'][];

export type Organization =
  | { status: 'absent' }
  | { status: 'active'; id: string; name: string; ownerUserId: string; timezone: string };

export type CreateOrganization = {
  type: 'CreateOrganization';
  data: { organizationId: string; name: string; ownerUserId: string; timezone: string };
};
export type RenameOrganization = { type: 'RenameOrganization'; data: { organizationId: string; name: string } };
export type OrganizationCommand = CreateOrganization | RenameOrganization;

export const organizationStream = (organizationId: string) => `organization-${organizationId}`;
export const initialOrganization: Organization = { status: 'absent' };

export function evolveOrganization(state: Organization, event: OrganizationEvent): Organization {
  switch (event.type) {
    case 'OrganizationCreated': {
      const { organizationId, ...rest } = event.data;
      return { status: 'active', id: organizationId, ...rest };
    }
    case 'OrganizationRenamed':
      return state.status === 'active' ? { ...state, name: event.data.name } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export function decideOrganization(command: OrganizationCommand, state: Organization): OrganizationEvent[] {
  switch (command.type) {
    case 'CreateOrganization':
      if (state.status !== 'absent') throw new ConflictError('Organization already exists', 'organization_exists');
      return [{ type: 'OrganizationCreated', version: 1, data: { ...command.data } }];
    case 'RenameOrganization':
      if (state.status !== 'active' || state.id !== command.data.organizationId) {
        throw new NotFoundError('Organization');
      }
      if (state.name === command.data.name) return [];
      return [{ type: 'OrganizationRenamed', version: 1, data: { ...command.data } }];
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
