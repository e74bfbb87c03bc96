import { RuleViolationError } from '../errors.ts';
import type { DomainEvent } from '../events.ts';
import { requireOrganization, type Organization } from './organization-state.ts';

/**
 * A staff member was given read-only access to the organization's data (support looking at what the
 * customer sees). Recorded in the organization's own stream so that its audit trail shows it.
 */
export type ImpersonationStarted = DomainEvent<
  'ImpersonationStarted',
  { organizationId: string; impersonationId: string; staffId: string; expiresAt: string; reason: string }
>;

export type StartImpersonation = { type: 'StartImpersonation'; data: ImpersonationStarted['data'] & { now: string } };

/** For a while, and for a reason stated. */
export function startImpersonation(command: StartImpersonation, state: Organization): ImpersonationStarted[] {
  const organization = requireOrganization(state, command.data.organizationId);
  const { now, ...started } = command.data;
  if (Date.parse(started.expiresAt) <= Date.parse(now))
    throw new RuleViolationError('An impersonation must end in the future', 'invalid_expiry', 'expiresAt');
  if (started.reason.trim() === '') throw new RuleViolationError('Say why you need to see this organization', 'reason_required', 'reason');
  return [{ type: 'ImpersonationStarted', version: 1, data: { ...started, organizationId: organization.id } }];
}
