import { ConflictError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';

/**
 * The password hash is part of the user's state because login is decided on the command side. It is a
 * salted, memory-hard hash (never the password); read models and exports must not copy it.
 */
export type UserRegistered = DomainEvent<
  'UserRegistered',
  { userId: string; organizationId: string; name: string; email: string; passwordHash: string; role: Role }
>;
export type UserEvent = UserRegistered;

export const userEventTypes = ['UserRegistered'] as const satisfies readonly UserEvent['type'][];

export type User =
  | { status: 'absent' }
  | {
      status: 'active';
      id: string;
      organizationId: string;
      name: string;
      email: string;
      passwordHash: string;
      role: Role;
    };

export type RegisterUser = {
  type: 'RegisterUser';
  data: { userId: string; organizationId: string; name: string; email: string; passwordHash: string; role: Role };
};
export type UserCommand = RegisterUser;

export const userStream = (userId: string) => `user-${userId}`;
export const initialUser: User = { status: 'absent' };

export function evolveUser(state: User, event: UserEvent): User {
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, ...rest } = event.data;
      return { status: 'active', id: userId, ...rest };
    }
    default: {
      const unknown: never = event.type;
      return unknown;
    }
  }
}

export function decideUser(command: UserCommand, state: User): UserEvent[] {
  switch (command.type) {
    case 'RegisterUser':
      if (state.status !== 'absent') throw new ConflictError('User already exists', 'user_exists');
      return [{ type: 'UserRegistered', version: 1, data: { ...command.data } }];
    default: {
      const unknown: never = command.type;
      return unknown;
    }
  }
}

export const userDecider: Decider<UserCommand, User, UserEvent> = {
  decide: decideUser,
  evolve: evolveUser,
  initialState: initialUser,
};
