import type { Role } from '../access/permissions.ts';
import { ConflictError, NotAuthenticatedError, NotFoundError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

export type { Role };

/**
 * A user's identity and credentials: login email, password hash, password-reset requests and the second
 * factor. Their role and whether they are active belong to the organization's membership (see
 * organization.ts). Credentials are part of the state because sign-in is decided on the command side;
 * read models and exports must not copy them.
 */
export type UserRegistered = DomainEvent<
  'UserRegistered',
  {
    userId: string;
    organizationId: string;
    name: string;
    email: string;
    /** Salted, memory-hard hash (never the password). */
    passwordHash: string;
    /** The role the user joined with; afterwards the organization's membership is authoritative. */
    role: Role;
  }
>;
export type PasswordResetRequested = DomainEvent<
  'PasswordResetRequested',
  { userId: string; resetId: string; secretHash: string; expiresAt: string }
>;
export type PasswordChanged = DomainEvent<
  'PasswordChanged',
  { userId: string; passwordHash: string; via: 'reset' | 'change'; resetId?: string; changedAt: string }
>;
export type MfaEnrollmentStarted = DomainEvent<
  'MfaEnrollmentStarted',
  {
    userId: string;
    /** The TOTP secret, encrypted with the server's data key (it must be readable to check codes). */
    encryptedSecret: string;
  }
>;
export type MfaEnabled = DomainEvent<
  'MfaEnabled',
  {
    userId: string;
    /** Keyed hashes of the one-time recovery codes; the codes are shown once, when MFA is enabled. */
    recoveryCodeHashes: string[];
    /** The TOTP time step of the code that confirmed enrollment (it cannot be used again). */
    step: number;
  }
>;
export type MfaDisabled = DomainEvent<'MfaDisabled', { userId: string }>;
export type SecondFactorVerified = DomainEvent<
  'SecondFactorVerified',
  { userId: string; method: 'totp'; step: number } | { userId: string; method: 'recovery_code'; codeIndex: number }
>;

export type UserEvent =
  UserRegistered | PasswordResetRequested | PasswordChanged | MfaEnrollmentStarted | MfaEnabled | MfaDisabled | SecondFactorVerified;

export const userEventTypes = [
  'UserRegistered',
  'PasswordResetRequested',
  'PasswordChanged',
  'MfaEnrollmentStarted',
  'MfaEnabled',
  'MfaDisabled',
  'SecondFactorVerified',
] as const satisfies readonly UserEvent['type'][];

export type Mfa =
  | { status: 'off' }
  | { status: 'pending'; encryptedSecret: string }
  | {
      status: 'on';
      encryptedSecret: string;
      /** Highest TOTP step accepted so far: a code is good once (RFC 6238, section 5.2). */
      lastStep: number;
      /** Null where a code was used. */
      recoveryCodeHashes: (string | null)[];
    };

export type User =
  | { status: 'absent' }
  | {
      status: 'registered';
      id: string;
      organizationId: string;
      name: string;
      email: string;
      passwordHash: string;
      /** When the password last changed (null: never since registration); older sessions end. */
      passwordChangedAt: string | null;
      /** Outstanding reset requests by id; all of them die when the password changes. */
      resets: Record<string, { secretHash: string; expiresAt: string }>;
      mfa: Mfa;
    };

type Registered = Exclude<User, { status: 'absent' }>;

export type RegisterUser = { type: 'RegisterUser'; data: UserRegistered['data'] };
export type RequestPasswordReset = { type: 'RequestPasswordReset'; data: Omit<PasswordResetRequested['data'], 'userId'> };
export type ResetPassword = {
  type: 'ResetPassword';
  data: { resetId: string; secretHash: string; passwordHash: string; now: string };
};
export type ChangePassword = { type: 'ChangePassword'; data: { passwordHash: string; now: string } };
export type StartMfaEnrollment = { type: 'StartMfaEnrollment'; data: { encryptedSecret: string } };
export type EnableMfa = { type: 'EnableMfa'; data: { step: number; recoveryCodeHashes: string[] } };
export type DisableMfa = { type: 'DisableMfa'; data: Record<string, never> };
export type RecordSecondFactor = {
  type: 'RecordSecondFactor';
  data: { method: 'totp'; step: number } | { method: 'recovery_code'; codeIndex: number };
};
export type UserCommand =
  RegisterUser | RequestPasswordReset | ResetPassword | ChangePassword | StartMfaEnrollment | EnableMfa | DisableMfa | RecordSecondFactor;

export const userStream = (userId: string) => `user-${userId}`;
export const initialUser: User = { status: 'absent' };

export function evolveUser(state: User, event: UserEvent): User {
  if (event.type === 'UserRegistered') {
    const { userId, organizationId, name, email, passwordHash } = event.data;
    return {
      status: 'registered',
      id: userId,
      organizationId,
      name,
      email,
      passwordHash,
      passwordChangedAt: null,
      resets: {},
      mfa: { status: 'off' },
    };
  }
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'PasswordResetRequested': {
      const { resetId, secretHash, expiresAt } = event.data;
      return { ...state, resets: { ...state.resets, [resetId]: { secretHash, expiresAt } } };
    }
    case 'PasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash, passwordChangedAt: event.data.changedAt, resets: {} };
    case 'MfaEnrollmentStarted':
      return { ...state, mfa: { status: 'pending', encryptedSecret: event.data.encryptedSecret } };
    case 'MfaEnabled':
      if (state.mfa.status !== 'pending') return state;
      return {
        ...state,
        mfa: {
          status: 'on',
          encryptedSecret: state.mfa.encryptedSecret,
          lastStep: event.data.step,
          recoveryCodeHashes: [...event.data.recoveryCodeHashes],
        },
      };
    case 'MfaDisabled':
      return { ...state, mfa: { status: 'off' } };
    case 'SecondFactorVerified': {
      if (state.mfa.status !== 'on') return state;
      const data = event.data;
      if (data.method === 'totp') return { ...state, mfa: { ...state.mfa, lastStep: Math.max(state.mfa.lastStep, data.step) } };
      const codes = [...state.mfa.recoveryCodeHashes];
      codes[data.codeIndex] = null;
      return { ...state, mfa: { ...state.mfa, recoveryCodeHashes: codes } };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function requireRegistered(state: User): Registered {
  if (state.status !== 'registered') throw new NotFoundError('User');
  return state;
}

const invalidReset = () => new NotAuthenticatedError('This password reset link is invalid, expired or already used.', 'invalid_reset_token');

export function decideUser(command: UserCommand, state: User): UserEvent[] {
  switch (command.type) {
    case 'RegisterUser':
      if (state.status !== 'absent') throw new ConflictError('User already exists', 'user_exists');
      return [{ type: 'UserRegistered', version: 1, data: { ...command.data } }];
    case 'RequestPasswordReset': {
      const user = requireRegistered(state);
      return [{ type: 'PasswordResetRequested', version: 1, data: { userId: user.id, ...command.data } }];
    }
    case 'ResetPassword': {
      if (state.status !== 'registered') throw invalidReset();
      const { resetId, secretHash, passwordHash, now } = command.data;
      const reset = state.resets[resetId];
      if (!reset || reset.secretHash !== secretHash || Date.parse(now) >= Date.parse(reset.expiresAt)) throw invalidReset();
      return [{ type: 'PasswordChanged', version: 1, data: { userId: state.id, passwordHash, via: 'reset', resetId, changedAt: now } }];
    }
    case 'ChangePassword': {
      const user = requireRegistered(state);
      const { passwordHash, now } = command.data;
      return [{ type: 'PasswordChanged', version: 1, data: { userId: user.id, passwordHash, via: 'change', changedAt: now } }];
    }
    case 'StartMfaEnrollment': {
      const user = requireRegistered(state);
      if (user.mfa.status === 'on') throw new ConflictError('Two-factor authentication is already enabled', 'mfa_already_enabled');
      return [{ type: 'MfaEnrollmentStarted', version: 1, data: { userId: user.id, encryptedSecret: command.data.encryptedSecret } }];
    }
    case 'EnableMfa': {
      const user = requireRegistered(state);
      if (user.mfa.status === 'on') throw new ConflictError('Two-factor authentication is already enabled', 'mfa_already_enabled');
      if (user.mfa.status !== 'pending') {
        throw new ConflictError('Start enrollment first (POST /auth/mfa/enable without a code)', 'mfa_not_enrolling');
      }
      return [{ type: 'MfaEnabled', version: 1, data: { userId: user.id, ...command.data } }];
    }
    case 'DisableMfa': {
      const user = requireRegistered(state);
      if (user.mfa.status === 'off') return [];
      return [{ type: 'MfaDisabled', version: 1, data: { userId: user.id } }];
    }
    case 'RecordSecondFactor': {
      const user = requireRegistered(state);
      if (user.mfa.status !== 'on') throw new NotAuthenticatedError('Two-factor authentication is not enabled', 'mfa_not_enabled');
      const data = command.data;
      if (data.method === 'totp') {
        if (data.step <= user.mfa.lastStep) {
          throw new NotAuthenticatedError('This code was already used; wait for the next one.', 'mfa_code_reused');
        }
        return [{ type: 'SecondFactorVerified', version: 1, data: { userId: user.id, method: 'totp', step: data.step } }];
      }
      if (user.mfa.recoveryCodeHashes[data.codeIndex] == null) {
        throw new NotAuthenticatedError('This recovery code is invalid or was already used.', 'invalid_mfa_code');
      }
      return [{ type: 'SecondFactorVerified', version: 1, data: { userId: user.id, method: 'recovery_code', codeIndex: data.codeIndex } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const userDecider: Decider<UserCommand, User, UserEvent> = {
  decide: decideUser,
  evolve: evolveUser,
  initialState: initialUser,
};
