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
const NOW = '2026-11-24T00:00:00.000Z';
/** A rotation; `refreshedAt` null leaves it out, as events recorded before the reuse grace existed do. */
const refreshed = (generation: number, tokenId: string, refreshedAt: string | null = NOW): SessionEvent => ({
  type: 'SessionRefreshed',
  version: 1,
  data: { sessionId, generation, tokenId, expiresAt: '2026-12-31T00:00:00.000Z', ...(refreshedAt !== null ? { refreshedAt } : {}) },
});
const refresh = (generation: number, tokenId: string, now = NOW, passwordChangedAt: string | null = null, reuseGraceMs?: number): RefreshSession => ({
  type: 'RefreshSession',
  data: {
    sessionId,
    presented: { generation, tokenId },
    newTokenId: 'next',
    newExpiresAt: '2026-12-31T00:00:00.000Z',
    now,
    passwordChangedAt,
    ...(reuseGraceMs !== undefined ? { reuseGraceMs } : {}),
  },
});
const later = (ms: number) => new Date(Date.parse(NOW) + ms).toISOString();
const revoked = (reason: 'logout' | 'refresh_token_reuse'): SessionEvent => ({
  type: 'SessionRevoked',
  version: 1,
  data: { sessionId, userId: 'u-1', reason },
});

describe('Session decider (rotating refresh tokens)', () => {
  it('rotates: the live token yields the next generation', () => {
    spec
      .given(started)
      .when(refresh(0, 't0'))
      .then([refreshed(1, 'next')]);
    spec
      .given(started, refreshed(1, 't1'))
      .when(refresh(1, 't1'))
      .then([refreshed(2, 'next')]);
  });

  it('revokes the whole family when a rotated-out token is presented again', () => {
    spec
      .given(started, refreshed(1, 't1'))
      .when(refresh(0, 't0'))
      .then([revoked('refresh_token_reuse')]);
  });

  it('refuses any token of a revoked family, the newest included', () => {
    spec.given(started, refreshed(1, 't1'), revoked('refresh_token_reuse')).when(refresh(1, 't1')).thenError(NotAuthenticatedError);
    spec.given(started, revoked('logout')).when(refresh(0, 't0')).thenError(NotAuthenticatedError);
  });

  it('refuses an unknown session, a token id that does not match, and an expired session', () => {
    spec.given().when(refresh(0, 't0')).thenError(NotAuthenticatedError);
    spec.given(started).when(refresh(0, 'forged')).thenError(NotAuthenticatedError);
    spec.given(started).when(refresh(3, 't0')).thenError(NotAuthenticatedError);
    spec
      .given(started)
      .when(refresh(0, 't0', '2027-01-01T00:00:00.000Z'))
      .thenError(NotAuthenticatedError);
  });

  it('ends a session started before the password changed, and keeps one started after', () => {
    const startedAt = (at: string): SessionEvent => ({ ...started, data: { ...started.data, startedAt: at } }) as SessionEvent;
    spec
      .given(startedAt('2026-11-20T00:00:00.000Z'))
      .when(refresh(0, 't0', undefined, '2026-11-21T00:00:00.000Z'))
      .then([{ type: 'SessionRevoked', version: 1, data: { sessionId, userId: 'u-1', reason: 'password_changed' } }]);
    spec
      .given(startedAt('2026-11-22T00:00:00.000Z'))
      .when(refresh(0, 't0', undefined, '2026-11-21T00:00:00.000Z'))
      .then([refreshed(1, 'next')]);
    // Within the reuse grace too: a password change ends the session whatever the token.
    spec
      .given(startedAt('2026-11-20T00:00:00.000Z'), refreshed(1, 't1'))
      .when(refresh(0, 't0', later(1_000), '2026-11-21T00:00:00.000Z', 10_000))
      .then([{ type: 'SessionRevoked', version: 1, data: { sessionId, userId: 'u-1', reason: 'password_changed' } }]);
    // Sessions recorded before sign-in times were kept count as the oldest.
    spec
      .given(started)
      .when(refresh(0, 't0', undefined, '2026-11-21T00:00:00.000Z'))
      .then([{ type: 'SessionRevoked', version: 1, data: { sessionId, userId: 'u-1', reason: 'password_changed' } }]);
  });

  describe('the reuse grace (tabs refreshing together, a retried request)', () => {
    const grace = 10_000;

    it('changes nothing when the token rotated out last comes back within the grace', () => {
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(0, 't0', later(grace), null, grace))
        .thenNothing();
      // A presentation that started before the rotation was recorded (concurrent requests) is within it too.
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(0, 't0', later(-50), null, grace))
        .thenNothing();
      spec
        .given(started, refreshed(1, 't1'), refreshed(2, 't2'))
        .when(refresh(1, 't1', later(1), null, grace))
        .thenNothing();
    });

    it('still rotates the live token within the grace', () => {
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(1, 't1', later(1), null, grace))
        .then([refreshed(2, 'next', later(1))]);
    });

    it('is theft past the grace, or without one', () => {
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(0, 't0', later(grace + 1), null, grace))
        .then([revoked('refresh_token_reuse')]);
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(0, 't0', later(1), null, 0))
        .then([revoked('refresh_token_reuse')]);
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(0, 't0', later(1)))
        .then([revoked('refresh_token_reuse')]);
    });

    it('covers only the token rotated out last, and only with its id', () => {
      spec
        .given(started, refreshed(1, 't1'), refreshed(2, 't2'))
        .when(refresh(0, 't0', later(1), null, grace))
        .then([revoked('refresh_token_reuse')]);
      spec
        .given(started, refreshed(1, 't1'))
        .when(refresh(0, 'forged', later(1), null, grace))
        .then([revoked('refresh_token_reuse')]);
    });

    it('gives no grace after rotations recorded without a time', () => {
      spec
        .given(started, refreshed(1, 't1', null))
        .when(refresh(0, 't0', later(1), null, grace))
        .then([revoked('refresh_token_reuse')]);
    });

    it('gives none to a revoked session', () => {
      spec
        .given(started, refreshed(1, 't1'), revoked('logout'))
        .when(refresh(0, 't0', later(1), null, grace))
        .thenError(NotAuthenticatedError);
    });
  });

  it('logs out once; logging out again records nothing', () => {
    spec
      .given(started)
      .when({ type: 'RevokeSession', data: { sessionId, reason: 'logout' } })
      .then([revoked('logout')]);
    spec
      .given(started, revoked('logout'))
      .when({ type: 'RevokeSession', data: { sessionId, reason: 'logout' } })
      .thenNothing();
  });
});
