import { ConflictError, NotAuthenticatedError, NotFoundError, RuleViolationError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';
import type { StaffRole } from './staff-permissions.ts';

/**
 * A member of NexusFlow's own staff, who works in the admin console. Never a tenant user: staff live in their
 * own streams (no tenant), sign in only to the console, and act on organizations through staff commands.
 */
export type StaffMemberCreated = DomainEvent<
  'StaffMemberCreated',
  { staffId: string; email: string; name: string; role: StaffRole; passwordHash: string }
>;
/** The TOTP secret, sealed by the data-protection key: the log never holds it in clear. */
export type StaffTotpEnabled = DomainEvent<'StaffTotpEnabled', { staffId: string; sealedSecret: string }>;
export type StaffPasswordChanged = DomainEvent<'StaffPasswordChanged', { staffId: string; passwordHash: string }>;
export type StaffMemberDisabled = DomainEvent<'StaffMemberDisabled', { staffId: string }>;
/** A sign-in to the console; with two-factor on, the TOTP time step used, so that a code works once. */
export type StaffSignedIn = DomainEvent<'StaffSignedIn', { staffId: string; totpStep: number | null }>;

export type StaffEvent = StaffMemberCreated | StaffTotpEnabled | StaffPasswordChanged | StaffMemberDisabled | StaffSignedIn;
export const staffEventTypes = [
  'StaffMemberCreated',
  'StaffTotpEnabled',
  'StaffPasswordChanged',
  'StaffMemberDisabled',
  'StaffSignedIn',
] as const satisfies readonly StaffEvent['type'][];

export type StaffMember =
  | { status: 'absent' }
  | {
      status: 'active' | 'disabled';
      id: string;
      email: string;
      name: string;
      role: StaffRole;
      passwordHash: string;
      sealedTotpSecret: string | null;
      /** The last TOTP step a sign-in used; a code of that step or older is refused. */
      lastTotpStep: number;
    };

export type CreateStaffMember = { type: 'CreateStaffMember'; data: StaffMemberCreated['data'] };
export type EnableStaffTotp = { type: 'EnableStaffTotp'; data: StaffTotpEnabled['data'] };
export type ChangeStaffPassword = { type: 'ChangeStaffPassword'; data: StaffPasswordChanged['data'] };
export type DisableStaffMember = { type: 'DisableStaffMember'; data: { staffId: string } };
/** Recorded after the password (and code) were verified; the decider refuses disabled members and replays. */
export type RecordStaffSignIn = { type: 'RecordStaffSignIn'; data: StaffSignedIn['data'] };
export type StaffCommand = CreateStaffMember | EnableStaffTotp | ChangeStaffPassword | DisableStaffMember | RecordStaffSignIn;

export const staffStream = (staffId: string) => `staff-${staffId}`;
export const initialStaffMember: StaffMember = { status: 'absent' };

export function evolveStaffMember(state: StaffMember, event: StaffEvent): StaffMember {
  if (event.type === 'StaffMemberCreated') {
    const { staffId, ...rest } = event.data;
    return { status: 'active', id: staffId, ...rest, sealedTotpSecret: null, lastTotpStep: -1 };
  }
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'StaffTotpEnabled':
      return { ...state, sealedTotpSecret: event.data.sealedSecret };
    case 'StaffPasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'StaffMemberDisabled':
      return { ...state, status: 'disabled' };
    case 'StaffSignedIn':
      return event.data.totpStep === null ? state : { ...state, lastTotpStep: event.data.totpStep };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function requireStaff(state: StaffMember, staffId: string): Exclude<StaffMember, { status: 'absent' }> {
  if (state.status === 'absent' || state.id !== staffId) throw new NotFoundError('Staff member');
  return state;
}

export function decideStaffMember(command: StaffCommand, state: StaffMember): StaffEvent[] {
  switch (command.type) {
    case 'CreateStaffMember':
      if (state.status !== 'absent') throw new ConflictError('This staff member already exists', 'staff_exists');
      if (command.data.name.trim() === '') throw new RuleViolationError('A staff member needs a name', 'invalid_name', 'name');
      return [{ type: 'StaffMemberCreated', version: 1, data: { ...command.data, name: command.data.name.trim() } }];
    case 'EnableStaffTotp': {
      const staff = requireStaff(state, command.data.staffId);
      if (staff.sealedTotpSecret !== null) throw new ConflictError('Two-factor sign-in is already on for this staff member', 'totp_enabled');
      return [{ type: 'StaffTotpEnabled', version: 1, data: { ...command.data } }];
    }
    case 'ChangeStaffPassword':
      requireStaff(state, command.data.staffId);
      return [{ type: 'StaffPasswordChanged', version: 1, data: { ...command.data } }];
    case 'DisableStaffMember': {
      const staff = requireStaff(state, command.data.staffId);
      if (staff.status === 'disabled') return [];
      return [{ type: 'StaffMemberDisabled', version: 1, data: { staffId: staff.id } }];
    }
    case 'RecordStaffSignIn': {
      const staff = requireStaff(state, command.data.staffId);
      if (staff.status === 'disabled') throw new NotAuthenticatedError('This staff account is disabled', 'staff_disabled');
      const { totpStep } = command.data;
      if (staff.sealedTotpSecret !== null && totpStep === null)
        throw new NotAuthenticatedError('A code from the authenticator app is required', 'totp_required');
      if (totpStep !== null && totpStep <= staff.lastTotpStep)
        throw new NotAuthenticatedError('This code was already used; wait for the next one', 'totp_replayed');
      return [{ type: 'StaffSignedIn', version: 1, data: { staffId: staff.id, totpStep } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const staffMemberDecider: Decider<StaffCommand, StaffMember, StaffEvent> = {
  decide: decideStaffMember,
  evolve: evolveStaffMember,
  initialState: initialStaffMember,
};
