import { NotAuthenticatedError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * A sign-in session: the family of refresh tokens issued from one login. Refresh tokens rotate: each
 * refresh issues the next generation and the presented one dies. Presenting a dead generation again means
 * someone kept a copy (theft, or a replayed request): the whole family is revoked, for the thief and the
 * rightful user alike, who then signs in again.
 *
 * One exception, short on purpose: the token rotated out last, presented again within the reuse grace of its
 * rotation (browser tabs refreshing together, a retry after a lost answer), changes nothing: the decider
 * records no event, and the application answers the pair that first use produced (kept sealed, for the grace
 * only, in the ephemeral store). Past the grace it is theft again.
 */
export type RevocationReason = 'logout' | 'refresh_token_reuse' | 'password_changed' | 'user_deactivated';

export type SessionStarted = DomainEvent<
  'SessionStarted',
  {
    sessionId: string;
    userId: string;
    organizationId: string;
    tokenId: string;
    expiresAt: string;
    /** Since password changes end older sessions (absent in the first events recorded: treated as oldest). */
    startedAt?: string;
  }
>;
export type SessionRefreshed = DomainEvent<
  'SessionRefreshed',
  {
    sessionId: string;
    generation: number;
    tokenId: string;
    expiresAt: string;
    /** When the rotation happened, for the reuse grace (absent in the first events recorded: no grace). */
    refreshedAt?: string;
  }
>;
export type SessionRevoked = DomainEvent<'SessionRevoked', { sessionId: string; userId: string; reason: RevocationReason }>;
export type SessionEvent = SessionStarted | SessionRefreshed | SessionRevoked;

export const sessionEventTypes = ['SessionStarted', 'SessionRefreshed', 'SessionRevoked'] as const satisfies readonly SessionEvent['type'][];

export type Session =
  | { status: 'absent' }
  | {
      status: 'active';
      id: string;
      userId: string;
      organizationId: string;
      /** Generation of the one live refresh token (0 for the token issued at sign-in). */
      generation: number;
      tokenId: string;
      expiresAt: string;
      startedAt: string | null;
      /** The token the last rotation retired, and when: presented again within the grace, it is no theft. */
      previousTokenId: string | null;
      refreshedAt: string | null;
    }
  | { status: 'revoked'; id: string; userId: string; reason: RevocationReason };

export type StartSession = { type: 'StartSession'; data: SessionStarted['data'] };
export type RefreshSession = {
  type: 'RefreshSession';
  data: {
    sessionId: string;
    /** What the presented refresh token says: its generation and id. */
    presented: { generation: number; tokenId: string };
    newTokenId: string;
    newExpiresAt: string;
    now: string;
    /** When the user's password last changed: a session started before that is over. */
    passwordChangedAt: string | null;
    /**
     * How long after a rotation the token it retired may come back without counting as theft (0: never).
     * Absent: 0.
     */
    reuseGraceMs?: number;
  };
};
export type RevokeSession = { type: 'RevokeSession'; data: { sessionId: string; reason: RevocationReason } };
export type SessionCommand = StartSession | RefreshSession | RevokeSession;

export const sessionStream = (sessionId: string) => `session-${sessionId}`;
export const initialSession: Session = { status: 'absent' };

export function evolveSession(state: Session, event: SessionEvent): Session {
  switch (event.type) {
    case 'SessionStarted': {
      const { sessionId, userId, organizationId, tokenId, expiresAt, startedAt } = event.data;
      return {
        status: 'active',
        id: sessionId,
        userId,
        organizationId,
        generation: 0,
        tokenId,
        expiresAt,
        startedAt: startedAt ?? null,
        previousTokenId: null,
        refreshedAt: null,
      };
    }
    case 'SessionRefreshed':
      if (state.status !== 'active') return state;
      return {
        ...state,
        generation: event.data.generation,
        tokenId: event.data.tokenId,
        expiresAt: event.data.expiresAt,
        previousTokenId: state.tokenId,
        refreshedAt: event.data.refreshedAt ?? null,
      };
    case 'SessionRevoked':
      if (state.status !== 'active') return state;
      return { status: 'revoked', id: state.id, userId: state.userId, reason: event.data.reason };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

const invalid = () => new NotAuthenticatedError('The refresh token is invalid, expired or revoked.', 'invalid_refresh_token');

export function decideSession(command: SessionCommand, state: Session): SessionEvent[] {
  switch (command.type) {
    case 'StartSession':
      if (state.status !== 'absent') return [];
      return [{ type: 'SessionStarted', version: 1, data: { ...command.data } }];
    case 'RefreshSession': {
      const { sessionId, presented, newTokenId, newExpiresAt, now, passwordChangedAt, reuseGraceMs = 0 } = command.data;
      if (state.status !== 'active' || state.id !== sessionId) throw invalid();
      if (passwordChangedAt !== null && (state.startedAt === null || Date.parse(state.startedAt) < Date.parse(passwordChangedAt))) {
        return [{ type: 'SessionRevoked', version: 1, data: { sessionId, userId: state.userId, reason: 'password_changed' } }];
      }
      if (
        presented.generation === state.generation - 1 &&
        presented.tokenId === state.previousTokenId &&
        state.refreshedAt !== null &&
        reuseGraceMs > 0 &&
        Date.parse(now) - Date.parse(state.refreshedAt) <= reuseGraceMs
      ) {
        // The token just rotated out, back within the grace: the same client again. Nothing changes; the
        // application answers the pair its first use produced.
        return [];
      }
      if (presented.generation < state.generation) {
        // A rotated-out token came back: someone holds a copy. Kill the family.
        return [{ type: 'SessionRevoked', version: 1, data: { sessionId, userId: state.userId, reason: 'refresh_token_reuse' } }];
      }
      if (presented.generation !== state.generation || presented.tokenId !== state.tokenId) throw invalid();
      if (Date.parse(now) >= Date.parse(state.expiresAt)) throw invalid();
      return [
        {
          type: 'SessionRefreshed',
          version: 1,
          data: { sessionId, generation: state.generation + 1, tokenId: newTokenId, expiresAt: newExpiresAt, refreshedAt: now },
        },
      ];
    }
    case 'RevokeSession':
      if (state.status !== 'active') return [];
      return [{ type: 'SessionRevoked', version: 1, data: { sessionId: state.id, userId: state.userId, reason: command.data.reason } }];
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const sessionDecider: Decider<SessionCommand, Session, SessionEvent> = {
  decide: decideSession,
  evolve: evolveSession,
  initialState: initialSession,
};
