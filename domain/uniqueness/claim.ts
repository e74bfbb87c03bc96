import { ConflictError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * A claim on a value that must be unique within a scope (a contact's email inside an organization, a
 * user's login email across the platform). One stream per (scope, value): appending to it with an exact
 * expected revision is what makes two concurrent claims for the same value collide, on any event store.
 *
 * A claim can outlive its owner: the process may stop between claiming and creating the owner, or
 * between deleting the owner and releasing. The command side therefore tells the decider whether the
 * current owner still holds the value (it loads the owner to find out); a stale claim may be taken over.
 */
export type ValueClaimed = DomainEvent<'ValueClaimed', { ownerId: string }>;
export type ValueReleased = DomainEvent<'ValueReleased', { ownerId: string }>;
export type ClaimEvent = ValueClaimed | ValueReleased;

export type Claim = { ownerId: string | null };

export type ClaimValue = {
  type: 'ClaimValue';
  data: {
    ownerId: string;
    /** Whether the current owner (if any) still holds the value; decided by the caller from the owner's state. */
    currentOwnerHoldsIt: boolean;
    /** Message for the conflict, naming what is duplicated. */
    duplicateMessage: string;
    field: string;
  };
};
export type ReleaseValue = { type: 'ReleaseValue'; data: { ownerId: string } };
export type ClaimCommand = ClaimValue | ReleaseValue;

export const initialClaim: Claim = { ownerId: null };

export function evolveClaim(state: Claim, event: ClaimEvent): Claim {
  switch (event.type) {
    case 'ValueClaimed':
      return { ownerId: event.data.ownerId };
    case 'ValueReleased':
      return state.ownerId === event.data.ownerId ? initialClaim : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export function decideClaim(command: ClaimCommand, state: Claim): ClaimEvent[] {
  switch (command.type) {
    case 'ClaimValue': {
      const { ownerId, currentOwnerHoldsIt, duplicateMessage, field } = command.data;
      if (state.ownerId === ownerId) return [];
      if (state.ownerId !== null && currentOwnerHoldsIt) {
        throw new ConflictError(duplicateMessage, 'duplicate', field);
      }
      return [{ type: 'ValueClaimed', version: 1, data: { ownerId } }];
    }
    case 'ReleaseValue':
      if (state.ownerId !== command.data.ownerId) return [];
      return [{ type: 'ValueReleased', version: 1, data: { ownerId: command.data.ownerId } }];
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const claimDecider: Decider<ClaimCommand, Claim, ClaimEvent> = {
  decide: decideClaim,
  evolve: evolveClaim,
  initialState: initialClaim,
};
