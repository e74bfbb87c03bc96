import { NotAuthenticatedError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { signupDecider, type SignupRequested } from './signup.ts';

const spec = deciderSpec(signupDecider);
const requested: SignupRequested = {
  type: 'SignupRequested',
  version: 1,
  data: {
    signupId: 's-1',
    organizationId: 'org-1',
    userId: 'u-1',
    organizationName: 'Acme',
    name: 'Grace',
    email: 'grace@acme.test',
    passwordHash: 'scrypt$...',
    timezone: 'UTC',
    secretHash: 'h',
    expiresAt: '2026-12-02T12:00:00.000Z',
  },
};
const complete = (secretHash: string, now = '2026-12-01T12:00:00.000Z') => ({
  type: 'CompleteSignup' as const,
  data: { signupId: 's-1', secretHash, now },
});

describe('Sign-up decider', () => {
  it('completes with the secret of the link, before it expires, once', () => {
    const completed = { type: 'SignupCompleted', version: 1, data: { signupId: 's-1', organizationId: 'org-1', userId: 'u-1' } } as const;
    spec.given(requested).when(complete('h')).then([completed]);
    spec.given(requested).when(complete('other')).thenError(NotAuthenticatedError, { code: 'invalid_signup_token' });
    spec.given(requested).when(complete('h', '2026-12-02T12:00:00.000Z')).thenError(NotAuthenticatedError);
    spec.given(requested, completed).when(complete('h')).thenError(NotAuthenticatedError);
  });

  it('never completes an attempt with a taken email, nor an unknown sign-up', () => {
    spec
      .given({ type: 'SignupAttemptedWithTakenEmail', version: 1, data: { signupId: 's-1', email: 'grace@acme.test' } })
      .when(complete('h'))
      .thenError(NotAuthenticatedError);
    spec.given().when(complete('h')).thenError(NotAuthenticatedError);
  });
});
