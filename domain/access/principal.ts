import type { Actor } from '../events.ts';
import { roleGrants, type Permission, type Role } from './permissions.ts';

/**
 * Who is calling, as the HTTP edge established it: a signed-in user (through a session's access token) or
 * a machine client (through an API key). Either way it acts inside exactly one organization.
 */
export type Principal =
  | {
      kind: 'user';
      userId: string;
      organizationId: string;
      role: Role;
      sessionId: string;
    }
  | {
      kind: 'apiKey';
      keyId: string;
      organizationId: string;
      scopes: readonly Permission[];
    };

export function holds(principal: Principal, permission: Permission): boolean {
  return principal.kind === 'user' ? roleGrants(principal.role, permission) : principal.scopes.includes(permission);
}

export function actorOf(principal: Principal): Actor {
  return principal.kind === 'user' ? { type: 'user', id: principal.userId } : { type: 'apiKey', id: principal.keyId };
}

/**
 * The rank a principal acts with in membership rules (who may deactivate whom). An API key acts as an
 * admin, or as an owner when it was granted role management (only an owner can grant that).
 */
export function actingRole(principal: Principal): Role {
  if (principal.kind === 'user') return principal.role;
  return principal.scopes.includes('roles:manage') ? 'owner' : 'admin';
}
