import { NotAuthenticatedError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * A sign-up waiting for its email to be confirmed. Registration never tells whether an email already has
 * an account: every request is recorded here and answered alike, and only the mailbox's owner learns the
 * outcome (a confirmation link, or a note that the address already has an account).
 *
 * The organization and user ids are chosen when the sign-up is requested, so completing it can be retried
 * after a crash part-way without creating a second organization.
 */
export type SignupRequested = DomainEvent<
  'SignupRequested',
  {
    signupId: string;
    organizationId: string;
    userId: string;
    organizationName: string;
    name: string;
    email: string;
    passwordHash: string;
    timezone: string;
    /** SHA-256 of the secret in the confirmation link; the secret itself is only in the email. */
    secretHash: string;
    expiresAt: string;
  }
>;
export type SignupAttemptedWithTakenEmail = DomainEvent<'SignupAttemptedWithTakenEmail', { signupId: string; email: string }>;
export type SignupCompleted = DomainEvent<'SignupCompleted', { signupId: string; organizationId: string; userId: string }>;
export type SignupEvent = SignupRequested | SignupAttemptedWithTakenEmail | SignupCompleted;

export const signupEventTypes = [
  'SignupRequested',
  'SignupAttemptedWithTakenEmail',
  'SignupCompleted',
] as const satisfies readonly SignupEvent['type'][];

export type Signup =
  | { status: 'absent' }
  | { status: 'refused'; id: string }
  | ({ status: 'pending' | 'completed' } & Omit<SignupRequested['data'], 'signupId'> & { id: string });

export type RequestSignup = { type: 'RequestSignup'; data: SignupRequested['data'] };
export type NoteTakenEmailSignup = { type: 'NoteTakenEmailSignup'; data: SignupAttemptedWithTakenEmail['data'] };
export type CompleteSignup = { type: 'CompleteSignup'; data: { signupId: string; secretHash: string; now: string } };
export type SignupCommand = RequestSignup | NoteTakenEmailSignup | CompleteSignup;

export const signupStream = (signupId: string) => `signup-${signupId}`;
export const initialSignup: Signup = { status: 'absent' };

export function evolveSignup(state: Signup, event: SignupEvent): Signup {
  switch (event.type) {
    case 'SignupRequested': {
      const { signupId, ...rest } = event.data;
      return { status: 'pending', id: signupId, ...rest };
    }
    case 'SignupAttemptedWithTakenEmail':
      return { status: 'refused', id: event.data.signupId };
    case 'SignupCompleted':
      return state.status === 'pending' ? { ...state, status: 'completed' } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

const invalid = () => new NotAuthenticatedError('This confirmation link is invalid, expired or already used.', 'invalid_signup_token');

export function decideSignup(command: SignupCommand, state: Signup): SignupEvent[] {
  switch (command.type) {
    case 'RequestSignup':
      if (state.status !== 'absent') return [];
      return [{ type: 'SignupRequested', version: 1, data: { ...command.data } }];
    case 'NoteTakenEmailSignup':
      if (state.status !== 'absent') return [];
      return [{ type: 'SignupAttemptedWithTakenEmail', version: 1, data: { ...command.data } }];
    case 'CompleteSignup': {
      if (state.status !== 'pending' || state.id !== command.data.signupId) throw invalid();
      if (state.secretHash !== command.data.secretHash) throw invalid();
      if (Date.parse(command.data.now) >= Date.parse(state.expiresAt)) throw invalid();
      return [{ type: 'SignupCompleted', version: 1, data: { signupId: state.id, organizationId: state.organizationId, userId: state.userId } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const signupDecider: Decider<SignupCommand, Signup, SignupEvent> = {
  decide: decideSignup,
  evolve: evolveSignup,
  initialState: initialSignup,
};
