/**
 * Who may do what. Every authenticated route names ONE permission; the HTTP edge refuses a caller that does
 * not hold it (403) before any handler runs. Users hold permissions through their role in the organization,
 * API keys through the scopes they were created with (never more than their creator held).
 */
export const roles = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof roles)[number];

const everyone: readonly Role[] = roles;
const writers: readonly Role[] = ['owner', 'admin', 'member'];
const managers: readonly Role[] = ['owner', 'admin'];
const owners: readonly Role[] = ['owner'];

export const permissionTable = {
  /** The signed-in user's own account: me, logout, MFA, password. Users only: no API key can hold it. */
  'account:self': everyone,
  'organization:read': everyone,
  'organization:update': managers,
  'users:read': everyone,
  /** Invite, deactivate and reactivate members; the decider adds which targets each role may touch. */
  'users:manage': managers,
  /** Change anyone's role, make owners. */
  'roles:manage': owners,
  'contacts:read': everyone,
  'contacts:write': writers,
  'workflows:read': everyone,
  /** Create, edit, pause, resume and delete workflows. */
  'workflows:write': writers,
  /** Start executions, and pause, resume or cancel them. */
  'workflows:run': writers,
  /** Dashboards, usage metrics and exports of the organization's own activity. */
  'analytics:read': everyone,
  /** The organization's audit trail: who did what and when, point-in-time states, exports. */
  'audit:read': managers,
  'apiKeys:read': managers,
  'apiKeys:manage': managers,
  /** The organization's CRM integrations: status, mappings, sync runs and rejected records. */
  'integrations:read': managers,
  /** Connect, disconnect, map fields, change sync settings, start a sync. */
  'integrations:manage': managers,
  /**
   * The AI service: completions, embeddings, similarity search, suggestions, email and workflow writing. Each
   * call counts toward the plan's AI allowance; search also needs contacts:read.
   */
  'ai:use': writers,
  'billing:read': managers,
  'billing:manage': owners,
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof permissionTable;
export const allPermissions = Object.keys(permissionTable) as Permission[];

/** What an API key may be granted: everything but the user's own account. */
export const apiKeyScopes = allPermissions.filter((p) => p !== 'account:self');

export function roleGrants(role: Role, permission: Permission): boolean {
  return (permissionTable[permission] as readonly Role[]).includes(role);
}

export function permissionsOf(role: Role): Permission[] {
  return allPermissions.filter((permission) => roleGrants(role, permission));
}

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

/** Reads change nothing; a suspended organization may still read (and sign in and out). */
export function isWrite(permission: Permission): boolean {
  return !permission.endsWith(':read') && permission !== 'account:self';
}

/** Roles ranked by power, for "may not act on someone above you" rules. */
export const roleRank: Record<Role, number> = { owner: 3, admin: 2, member: 1, viewer: 0 };
