import { ConflictError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { claimDecider, type ClaimValue, type ClaimEvent } from './claim.ts';

const spec = deciderSpec(claimDecider);
const claim = (ownerId: string, currentOwnerHoldsIt: boolean): ClaimValue => ({
  type: 'ClaimValue',
  data: { ownerId, currentOwnerHoldsIt, duplicateMessage: 'email is already used', field: 'email' },
});
const claimed = (ownerId: string): ClaimEvent => ({ type: 'ValueClaimed', version: 1, data: { ownerId } });
const released = (ownerId: string): ClaimEvent => ({ type: 'ValueReleased', version: 1, data: { ownerId } });

describe('Unique value claim decider', () => {
  it('claims a free value', () => {
    spec
      .given()
      .when(claim('a', false))
      .then([claimed('a')]);
  });

  it('refuses a value another owner still holds, naming the field', () => {
    spec.given(claimed('a')).when(claim('b', true)).thenError(ConflictError, { code: 'duplicate', field: 'email' });
  });

  it('lets a new owner take over a stale claim (its owner never got created or was deleted)', () => {
    spec
      .given(claimed('a'))
      .when(claim('b', false))
      .then([claimed('b')]);
  });

  it('is idempotent for the owner that already holds it', () => {
    spec.given(claimed('a')).when(claim('a', true)).thenNothing();
  });

  it('frees a released value for the next owner', () => {
    spec
      .given(claimed('a'), released('a'))
      .when(claim('b', false))
      .then([claimed('b')]);
  });

  it('ignores a release by someone who does not hold the value', () => {
    spec
      .given(claimed('a'))
      .when({ type: 'ReleaseValue', data: { ownerId: 'b' } })
      .thenNothing();
    spec
      .given(claimed('a'))
      .when({ type: 'ReleaseValue', data: { ownerId: 'a' } })
      .then([released('a')]);
  });
});
