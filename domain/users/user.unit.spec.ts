import { ConflictError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { userDecider, type RegisterUser, type UserRegistered } from './user.ts';

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

describe('User decider', () => {
  it('registers a user', () => {
    spec.given().when({ type: 'RegisterUser', data }).then([registered]);
  });

  it('refuses to register the same user twice', () => {
    spec.given(registered).when({ type: 'RegisterUser', data }).thenError(ConflictError, { code: 'user_exists' });
  });
});
