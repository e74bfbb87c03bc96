import { expect } from 'chai';
import type { Decider } from '../../domain/decider.ts';
import { fold } from '../../domain/decider.ts';
import type { DomainEvent } from '../../domain/events.ts';

/**
 * Given events / When command / Then events or error, the shape every decider test takes. It also checks
 * that the events decided fold back into state without throwing, so evolve accepts what decide produces.
 */
export function deciderSpec<C, S, E extends DomainEvent>(decider: Decider<C, S, E>) {
  return {
    given(...history: E[]) {
      return {
        when(command: C) {
          const run = () => decider.decide(command, fold(decider, history));
          return {
            then(expected: E[]) {
              const events = run();
              expect(events).to.deep.equal(expected);
              fold(decider, [...history, ...events]);
            },
            thenNothing() {
              expect(run()).to.deep.equal([]);
            },
            thenError(type: new (...args: never[]) => Error, match?: Partial<Record<string, unknown>>) {
              let caught: unknown;
              try {
                run();
              } catch (err) {
                caught = err;
              }
              expect(caught, 'the decider should refuse the command').to.be.instanceOf(type);
              if (match) expect(caught).to.include(match);
            },
          };
        },
        state() {
          return fold(decider, history);
        },
      };
    },
  };
}
