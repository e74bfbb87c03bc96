import { ForbiddenError } from '../errors.ts';

/**
 * What staff may do in the console. Support reads everything and takes the actions that help a customer
 * without changing what they pay or whether they can work; admins do everything. The console hides what a
 * role may not do, and the staff commands refuse it whatever the console shows.
 */
export const staffRoles = ['support', 'admin'] as const;
export type StaffRole = (typeof staffRoles)[number];

const everyone: readonly StaffRole[] = staffRoles;
const admins: readonly StaffRole[] = ['admin'];

export const staffPermissionTable = {
  /** Organizations, users, plans, workflows, executions, parked events, history, the dashboard. */
  'console:read': everyone,
  'tenants:extendTrial': everyone,
  'tenants:impersonate': everyone,
  'parkedEvents:retry': everyone,
  /** Start a full sync of a customer's CRM integration now (what its admins can do themselves). */
  'integrations:forceSync': everyone,
  'tenants:suspend': admins,
  /** Disconnecting stops a customer's sync until they connect again. */
  'integrations:disconnect': admins,
  'tenants:changePlan': admins,
  /** Charge an organization's open invoice again now (billing, issue 21). */
  'billing:retryPayment': admins,
  'plans:manage': admins,
  'projections:rebuild': admins,
  'staff:read': admins,
} as const satisfies Record<string, readonly StaffRole[]>;

export type StaffPermission = keyof typeof staffPermissionTable;

export function isStaffRole(value: unknown): value is StaffRole {
  return typeof value === 'string' && (staffRoles as readonly string[]).includes(value);
}

export function staffMay(role: StaffRole, permission: StaffPermission): boolean {
  return (staffPermissionTable[permission] as readonly StaffRole[]).includes(role);
}

export function requireStaffPermission(role: StaffRole, permission: StaffPermission): void {
  if (!staffMay(role, permission)) {
    throw new ForbiddenError(`The ${role} staff role may not do this (${permission})`, 'insufficient_staff_role');
  }
}
