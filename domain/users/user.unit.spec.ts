import { ConflictError, NotAuthenticatedError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { userDecider, type RegisterUser, type UserEvent, type UserRegistered } from './user.ts';

const spec = deciderSpec(userDecider);
const data: RegisterUser['data'] = {
  userId: 'u-1',
  organizationId: 'org-a',
  name: 'Grace',
  email: 'grace@example.com',
  passwordHash: 'scrypt$...',
  role: 'owner',
};
const registered: UserRegistered = { type: 'UserRegistered', version: 1, data };
const resetRequested: UserEvent = {
  type: 'PasswordResetRequested',
  version: 1,
  data: { userId: 'u-1', resetId: 'r-1', secretHash: 'h-1', expiresAt: '2026-12-01T13:00:00.000Z' },
};
const reset = (secretHash: string, now = '2026-12-01T12:30:00.000Z', resetId = 'r-1') => ({
  type: 'ResetPassword' as const,
  data: { resetId, secretHash, passwordHash: 'scrypt$new', now },
});
const passwordReset: UserEvent = {
  type: 'PasswordChanged',
  version: 1,
  data: { userId: 'u-1', passwordHash: 'scrypt$new', via: 'reset', resetId: 'r-1', changedAt: '2026-12-01T12:30:00.000Z' },
};
const enrolled: UserEvent = { type: 'MfaEnrollmentStarted', version: 1, data: { userId: 'u-1', encryptedSecret: 'sealed' } };
const enabled: UserEvent = { type: 'MfaEnabled', version: 1, data: { userId: 'u-1', recoveryCodeHashes: ['c0', 'c1'], step: 100 } };

describe('User decider', () => {
  it('registers a user once', () => {
    spec.given().when({ type: 'RegisterUser', data }).then([registered]);
    spec.given(registered).when({ type: 'RegisterUser', data }).thenError(ConflictError, { code: 'user_exists' });
  });

  describe('password reset', () => {
    it('resets with the secret of an outstanding request, before it expires', () => {
      spec.given(registered, resetRequested).when(reset('h-1')).then([passwordReset]);
      spec.given(registered, resetRequested).when(reset('wrong')).thenError(NotAuthenticatedError, { code: 'invalid_reset_token' });
      spec.given(registered, resetRequested).when(reset('h-1', '2026-12-01T13:00:00.000Z')).thenError(NotAuthenticatedError);
      spec
        .given(registered, resetRequested)
        .when(reset('h-1', undefined, 'r-unknown'))
        .thenError(NotAuthenticatedError);
    });

    it('works once, and a password change kills every other outstanding link', () => {
      spec.given(registered, resetRequested, passwordReset).when(reset('h-1')).thenError(NotAuthenticatedError);
      const second: UserEvent = { ...resetRequested, data: { ...resetRequested.data, resetId: 'r-2', secretHash: 'h-2' } } as UserEvent;
      const changed: UserEvent = {
        type: 'PasswordChanged',
        version: 1,
        data: { userId: 'u-1', passwordHash: 'x', via: 'change', changedAt: '2026-12-01T12:10:00.000Z' },
      };
      spec
        .given(registered, resetRequested, second, changed)
        .when(reset('h-2', undefined, 'r-2'))
        .thenError(NotAuthenticatedError);
    });

    it('records when the password changed, which ends older sessions', () => {
      const state = spec.given(registered, resetRequested, passwordReset).state();
      if (state.status !== 'registered') throw new Error('expected a user');
      if (state.passwordChangedAt !== '2026-12-01T12:30:00.000Z') throw new Error(`passwordChangedAt is ${state.passwordChangedAt}`);
    });
  });

  describe('second factor', () => {
    it('enables only after enrolling, and not twice', () => {
      const enable = { type: 'EnableMfa' as const, data: { step: 100, recoveryCodeHashes: ['c0', 'c1'] } };
      spec.given(registered).when(enable).thenError(ConflictError, { code: 'mfa_not_enrolling' });
      spec.given(registered, enrolled).when(enable).then([enabled]);
      spec.given(registered, enrolled, enabled).when(enable).thenError(ConflictError, { code: 'mfa_already_enabled' });
      spec
        .given(registered, enrolled, enabled)
        .when({ type: 'StartMfaEnrollment', data: { encryptedSecret: 'x' } })
        .thenError(ConflictError);
    });

    it('accepts each TOTP step once, and never an older one', () => {
      const totp = (step: number) => ({ type: 'RecordSecondFactor' as const, data: { method: 'totp' as const, step } });
      spec
        .given(registered, enrolled, enabled)
        .when(totp(101))
        .then([{ type: 'SecondFactorVerified', version: 1, data: { userId: 'u-1', method: 'totp', step: 101 } }]);
      spec.given(registered, enrolled, enabled).when(totp(100)).thenError(NotAuthenticatedError, { code: 'mfa_code_reused' });
      const used: UserEvent = { type: 'SecondFactorVerified', version: 1, data: { userId: 'u-1', method: 'totp', step: 105 } };
      spec.given(registered, enrolled, enabled, used).when(totp(104)).thenError(NotAuthenticatedError);
    });

    it('accepts each recovery code once', () => {
      const recovery = (codeIndex: number) => ({ type: 'RecordSecondFactor' as const, data: { method: 'recovery_code' as const, codeIndex } });
      const usedFirst: UserEvent = { type: 'SecondFactorVerified', version: 1, data: { userId: 'u-1', method: 'recovery_code', codeIndex: 0 } };
      spec.given(registered, enrolled, enabled).when(recovery(0)).then([usedFirst]);
      spec.given(registered, enrolled, enabled, usedFirst).when(recovery(0)).thenError(NotAuthenticatedError, { code: 'invalid_mfa_code' });
      spec
        .given(registered, enrolled, enabled, usedFirst)
        .when(recovery(1))
        .then([{ ...usedFirst, data: { ...usedFirst.data, codeIndex: 1 } } as UserEvent]);
    });

    it('disables once; without MFA a second factor is refused', () => {
      spec
        .given(registered, enrolled, enabled)
        .when({ type: 'DisableMfa', data: {} })
        .then([{ type: 'MfaDisabled', version: 1, data: { userId: 'u-1' } }]);
      spec.given(registered).when({ type: 'DisableMfa', data: {} }).thenNothing();
      spec
        .given(registered)
        .when({ type: 'RecordSecondFactor', data: { method: 'totp', step: 1 } })
        .thenError(NotAuthenticatedError, { code: 'mfa_not_enabled' });
    });
  });
});
