import type { DomainEvent } from './events.ts';

/**
 * A decider: pure functions that decide which facts a command produces given the current state, and fold
 * facts into state. No I/O; time and ids arrive inside the command.
 */
export interface Decider<Command, State, Event extends DomainEvent> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState: State;
}

export function fold<State, Event extends DomainEvent>(
  decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
  events: readonly Event[],
): State {
  return events.reduce(decider.evolve, decider.initialState);
}

/** Several commands decided as one (see sequenceOf); `type` names the sequence (in metrics and logs). */
export interface CommandSequence<Command> {
  type: string;
  commands: readonly Command[];
}

/**
 * Deciding a sequence of commands as one: each is decided on the state the ones before it left, and their
 * events go to the stream together (one append, all or nothing). A process manager uses it to record several
 * decisions it took on a state it knows in one round trip.
 */
export function sequenceOf<Command, State, Event extends DomainEvent>(
  decider: Decider<Command, State, Event>,
): Decider<CommandSequence<Command>, State, Event> {
  return {
    decide(sequence, state) {
      const events: Event[] = [];
      let current = state;
      for (const command of sequence.commands) {
        const decided = decider.decide(command, current);
        events.push(...decided);
        current = decided.reduce(decider.evolve, current);
      }
      return events;
    },
    evolve: decider.evolve,
    initialState: decider.initialState,
  };
}
