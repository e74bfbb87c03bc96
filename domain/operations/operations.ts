import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * What staff did to the machinery rather than to a tenant: retrying an event a projection parked, rebuilding
 * a read model. Recorded like every other fact, so the audit trail shows who touched production and when.
 */
export type ParkedEventRetried = DomainEvent<
  'ParkedEventRetried',
  { parkedEventId: string; projection: string; eventId: string; streamId: string; resolved: boolean; error: string | null }
>;
export type ProjectionRebuildStarted = DomainEvent<'ProjectionRebuildStarted', { readModel: string }>;
export type OperationEvent = ParkedEventRetried | ProjectionRebuildStarted;

export type RecordParkedEventRetry = { type: 'RecordParkedEventRetry'; data: ParkedEventRetried['data'] };
export type RecordRebuildStarted = { type: 'RecordRebuildStarted'; data: ProjectionRebuildStarted['data'] };
export type OperationCommand = RecordParkedEventRetry | RecordRebuildStarted;

/** One stream per parked event (its retries) and per read model (its rebuilds). */
export const parkedEventStream = (parkedEventId: string) => `parkedEvent-${parkedEventId}`;
export const readModelStream = (readModel: string) => `readModel-${readModel}`;

/** How many operations the stream holds; the facts themselves need no rule beyond being recorded. */
export type OperationLog = { count: number };

export const operationsDecider: Decider<OperationCommand, OperationLog, OperationEvent> = {
  decide(command) {
    switch (command.type) {
      case 'RecordParkedEventRetry':
        return [{ type: 'ParkedEventRetried', version: 1, data: { ...command.data } }];
      case 'RecordRebuildStarted':
        return [{ type: 'ProjectionRebuildStarted', version: 1, data: { ...command.data } }];
      default: {
        const unknown: never = command;
        return unknown;
      }
    }
  },
  evolve: (state) => ({ count: state.count + 1 }),
  initialState: { count: 0 },
};
