import { NotAuthenticatedError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { sessionDecider, type RefreshSession, type SessionEvent } from './session.ts';

const spec = deciderSpec(sessionDecider);
const sessionId = 's-1';
const started: SessionEvent = {
  type: 'SessionStarted',
  version: 1,
  data: { sessionId, userId: 'u-1', organizationId: 'org-a', tokenId: 't0', expiresAt: '2026-12-31T00:00:00.000Z' },
};
const refreshed = (generation: number, tokenId: string): SessionEvent => ({
  type: 'SessionRefreshed',
  version: 1,
  data: { sessionId, generation, tokenId, expiresAt: '2026-12-31T00:00:00.000Z' },
});
const refresh = (generation: number, tokenId: string, now = '2026-11-24T00:00:00.000Z', passwordChangedAt: string | null = null): RefreshSession => ({
  type: 'RefreshSession',
  data: { sessionId, presented: { generation, tokenId }, newTokenId: 'next', newExpiresAt: '2026-12-31T00:00:00.000Z', now, passwordChangedAt },
});
const revoked = (reason: 'logout' | 'refresh_token_reuse'): SessionEvent => ({
  type: 'SessionRevoked',
  version: 1,
  data: { sessionId, userId: 'u-1', reason },
});

describe('Session decider (rotating refresh tokens)', () => {
  it('rotates: the live token yields the next generation', () => {
    spec.given(started).when(refresh(0, 't0')).then([refreshed(1, 'next')]);
    spec.given(started, refreshed(1, 't1')).when(refresh(1, 't1')).then([refreshed(2, 'next')]);
  });

  it('revokes the whole family when a rotated-out token is presented again', () => {
    spec.given(started, refreshed(1, 't1')).when(refresh(0, 't0')).then([revoked('refresh_token_reuse')]);
  });

  it('refuses any token of a revoked family, the newest included', () => {
    spec.given(started, refreshed(1, 't1'), revoked('refresh_token_reuse')).when(refresh(1, 't1')).thenError(NotAuthenticatedError);
    spec.given(started, revoked('logout')).when(refresh(0, 't0')).thenError(NotAuthenticatedError);
  });

  it('refuses an unknown session, a token id that does not match, and an expired session', () => {
    spec.given().when(refresh(0, 't0')).thenError(NotAuthenticatedError);
    spec.given(started).when(refresh(0, 'forged')).thenError(NotAuthenticatedError);
    spec.given(started).when(refresh(3, 't0')).thenError(NotAuthenticatedError);
    spec.given(started).when(refresh(0, 't0', '2027-01-01T00:00:00.000Z')).thenError(NotAuthenticatedError);
  });

  it('ends a session started before the password changed, and keeps one started after', () => {
    const startedAt = (at: string): SessionEvent => ({ ...started, data: { ...started.data, startedAt: at } } as SessionEvent);
    spec
      .given(startedAt('2026-11-20T00:00:00.000Z'))
      .when(refresh(0, 't0', undefined, '2026-11-21T00:00:00.000Z'))
      .then([{ type: 'SessionRevoked', version: 1, data: { sessionId, userId: 'u-1', reason: 'password_changed' } }]);
    spec.given(startedAt('2026-11-22T00:00:00.000Z')).when(refresh(0, 't0', undefined, '2026-11-21T00:00:00.000Z')).then([refreshed(1, 'next')]);
    // Sessions recorded before sign-in times were kept count as the oldest.
    spec.given(started).when(refresh(0, 't0', undefined, '2026-11-21T00:00:00.000Z')).then([
      { type: 'SessionRevoked', version: 1, data: { sessionId, userId: 'u-1', reason: 'password_changed' } },
    ]);
  });

  it('logs out once; logging out again records nothing', () => {
    spec.given(started).when({ type: 'RevokeSession', data: { sessionId, reason: 'logout' } }).then([revoked('logout')]);
    spec.given(started, revoked('logout')).when({ type: 'RevokeSession', data: { sessionId, reason: 'logout' } }).thenNothing();
  });
});
