import type { Role } from '../../domain/access/permissions.ts';
import { organizationDecider, organizationStream, type Organization, type OrganizationEvent } from '../../domain/organizations/organization.ts';
import type { CommandHandler } from '../command-handling.ts';

export interface Membership {
  role: Role;
  active: boolean;
}

/** A user's role and status in their organization, from the organization's stream (the source of truth). */
export async function membershipOf(handler: CommandHandler, organizationId: string, userId: string): Promise<Membership | null> {
  const { state } = await handler.load<Organization, OrganizationEvent>(organizationStream(organizationId), organizationDecider);
  if (state.status === 'absent') return null;
  const member = state.members[userId];
  return member ? { role: member.role, active: member.active } : null;
}
