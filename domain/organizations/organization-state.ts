import type { Role } from '../access/permissions.ts';
import { NotFoundError } from '../errors.ts';

/**
 * An organization (tenant) and its membership: who belongs, with which role, who is invited, and whether
 * staff suspended it. Membership lives here, in one stream, so that rules spanning members ("the last owner
 * cannot be removed", "no second invitation for the same email") are checked against one consistent state
 * under the stream's optimistic concurrency. A user's own stream holds their identity and credentials.
 */
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
      /** Whether the AI service serves it (AiSettingsChanged); on unless its managers turned it off. */
      aiEnabled: boolean;
    };

export type ExistingOrganization = Exclude<Organization, { status: 'absent' }>;

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

export const initialOrganization: Organization = { status: 'absent' };

/** The organization a command names, if that is the one this stream holds (else "not found"). */
export function requireOrganization(state: Organization, organizationId: string): ExistingOrganization {
  if (state.status === 'absent' || state.id !== organizationId) throw new NotFoundError('Organization');
  return state;
}
