import { expect } from 'chai';
import { ConflictError, NotFoundError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { fold, sequenceOf } from '../decider.ts';
import { executionDecider, NotRunnableError, recordedTogether, stepStartIn, type ExecutionEvent } from './execution.ts';

const spec = deciderSpec(executionDecider);
const id = 'e-1';
const t = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 12, minutes)).toISOString();
const started: ExecutionEvent = {
  type: 'ExecutionStarted',
  version: 1,
  data: {
    executionId: id,
    organizationId: 'org-a',
    workflowId: 'w-1',
    version: 1,
    contactId: 'c-1',
    cause: { type: 'manual', id: 'r-1' },
    entryStepId: 'a',
    startedAt: t(0),
  },
};
const stepStarted = (stepId: string, attempt = 1, visit = 1, at = t(0), takeover = false): ExecutionEvent => ({
  type: 'StepStarted',
  version: 1,
  data: { executionId: id, stepId, stepType: 'send_email', attempt, idempotencyKey: `${id}:${stepId}:${visit}`, startedAt: at, takeover },
});
const begin = (stepId: string, now = t(0), maxStepsPerExecution = 1_000) => ({
  type: 'BeginStep' as const,
  data: { stepId, stepType: 'send_email', now, maxStepsPerExecution },
});
const complete = (stepId: string, nextStepId: string | null, extra: { attempt?: number; waitUntil?: string; now?: string } = {}) => ({
  type: 'CompleteStep' as const,
  data: {
    stepId,
    stepType: 'send_email',
    attempt: extra.attempt ?? 1,
    output: {},
    nextStepId,
    now: extra.now ?? t(0),
    ...(extra.waitUntil ? { waitUntil: extra.waitUntil } : {}),
  },
});
const completed = (stepId: string, nextStepId: string | null, attempt = 1, at = t(0)): ExecutionEvent => ({
  type: 'StepCompleted',
  version: 2,
  data: { executionId: id, workflowId: 'w-1', stepId, stepType: 'send_email', attempt, output: {}, nextStepId, completedAt: at },
});
const fail = (attempt: number, retryable = true) => ({
  type: 'FailStep' as const,
  data: {
    stepId: 'a',
    stepType: 'send_email',
    attempt,
    error: { code: 'http_503', message: 'down' },
    retryable,
    maxAttempts: 3,
    retryAt: t(5),
    now: t(1),
  },
});

/** Step a's attempt failed, retryably. */
const failed = (attempt: number): ExecutionEvent => ({
  type: 'StepFailed',
  version: 1,
  data: {
    executionId: id,
    stepId: 'a',
    stepType: 'send_email',
    attempt,
    error: { code: 'http_503', message: 'down' },
    retryable: true,
    failedAt: t(1),
  },
});
/** The execution failed instead of starting another step visit: its step budget is spent. */
const budgetSpent = (stepId: string, at: string, count: string): ExecutionEvent => ({
  type: 'ExecutionFailed',
  version: 1,
  data: {
    executionId: id,
    workflowId: 'w-1',
    stepId,
    error: { code: 'step_budget_exhausted', message: `ran ${count}, the limit per execution` },
    failedAt: at,
  },
});

describe('Execution decider', () => {
  describe('When started', () => {
    it('begins the entry step, with an idempotency key stable for the visit', () => {
      spec
        .given(started)
        .when(begin('a'))
        .then([stepStarted('a')]);
    });

    it('refuses another step, or a step before it is due', () => {
      spec.given(started).when(begin('b')).thenError(NotRunnableError);
      spec
        .given(started, stepStarted('a'), completed('a', 'b'), {
          type: 'ExecutionWaiting',
          version: 1,
          data: { executionId: id, stepId: 'b', until: t(30), reason: 'wait' },
        })
        .when(begin('b', t(10)))
        .thenError(NotRunnableError);
    });
  });

  describe('When a step is in flight', () => {
    it('completes it and moves to the next step; a wait makes the next one due later; no next ends the execution', () => {
      spec
        .given(started, stepStarted('a'))
        .when(complete('a', 'b'))
        .then([completed('a', 'b')]);
      spec
        .given(started, stepStarted('a'))
        .when(complete('a', 'b', { waitUntil: t(60) }))
        .then([completed('a', 'b'), { type: 'ExecutionWaiting', version: 1, data: { executionId: id, stepId: 'b', until: t(60), reason: 'wait' } }]);
      spec
        .given(started, stepStarted('a'))
        .when(complete('a', null))
        .then([completed('a', null), { type: 'ExecutionCompleted', version: 1, data: { executionId: id, workflowId: 'w-1', completedAt: t(0) } }]);
    });

    it('is taken over, same attempt and key, when its runner died', () => {
      spec
        .given(started, stepStarted('a'))
        .when(begin('a', t(2)))
        .then([stepStarted('a', 1, 1, t(2), true)]);
    });

    it('refuses a completion for an attempt that is not in flight (a stale runner)', () => {
      spec
        .given(started, stepStarted('a'))
        .when(complete('a', 'b', { attempt: 2 }))
        .thenError(NotRunnableError);
      spec.given(started).when(complete('a', 'b')).thenError(NotRunnableError);
    });
  });

  describe('retries', () => {
    it('schedules the next attempt after a retryable failure', () => {
      spec
        .given(started, stepStarted('a'))
        .when(fail(1))
        .then([failed(1), { type: 'RetryScheduled', version: 1, data: { executionId: id, stepId: 'a', attempt: 2, retryAt: t(5) } }]);
    });

    it('keeps the idempotency key across attempts and fails the execution when attempts run out', () => {
      const retried: ExecutionEvent = { type: 'RetryScheduled', version: 1, data: { executionId: id, stepId: 'a', attempt: 2, retryAt: t(5) } };
      spec
        .given(started, stepStarted('a'), failed(1), retried)
        .when(begin('a', t(6)))
        .then([stepStarted('a', 2, 1, t(6))]);
      const third: ExecutionEvent = { type: 'RetryScheduled', version: 1, data: { executionId: id, stepId: 'a', attempt: 3, retryAt: t(5) } };
      spec
        .given(started, stepStarted('a'), failed(1), retried, stepStarted('a', 2), failed(2), third, stepStarted('a', 3))
        .when(fail(3))
        .then([
          failed(3),
          {
            type: 'ExecutionFailed',
            version: 1,
            data: {
              executionId: id,
              workflowId: 'w-1',
              stepId: 'a',
              error: { code: 'http_503', message: 'down (gave up after 3 attempts)' },
              failedAt: t(1),
            },
          },
        ]);
    });

    it('fails at once on a failure that retrying cannot fix', () => {
      const events = executionDecider.decide(
        fail(1, false),
        [started, stepStarted('a')].reduce(executionDecider.evolve, executionDecider.initialState),
      );
      if (events.map((e) => e.type).join() !== 'StepFailed,ExecutionFailed') throw new Error(JSON.stringify(events));
    });
  });

  describe('the step budget', () => {
    // A cycle a → w (a wait of one minute) → a …, gone round twice: four visits started, a is due at t(2).
    const waited = (stepId: string, until: string): ExecutionEvent => ({
      type: 'ExecutionWaiting',
      version: 1,
      data: { executionId: id, stepId, until, reason: 'wait' },
    });
    const twiceRound = [
      started,
      stepStarted('a', 1, 1, t(0)),
      completed('a', 'w', 1, t(0)),
      stepStarted('w', 1, 1, t(0)),
      completed('w', 'a', 1, t(0)),
      waited('a', t(1)),
      stepStarted('a', 1, 2, t(1)),
      completed('a', 'w', 1, t(1)),
      stepStarted('w', 1, 2, t(1)),
      completed('w', 'a', 1, t(1)),
      waited('a', t(2)),
    ];

    it('fails an execution that has started the budget of step visits, with the reason, instead of starting another', () => {
      // Given four visits through a cycle with a wait, When the next is due with a budget of four, Then the
      // execution fails with the reason and nothing starts
      spec
        .given(...twiceRound)
        .when(begin('a', t(2), 4))
        .then([budgetSpent('a', t(2), '4 steps')]);
      // Given the default budget of 1,000 spent (a step that leads to itself), Then the reason says so
      const many: ExecutionEvent[] = [started];
      for (let visit = 1; visit <= 1_000; visit++) many.push(stepStarted('a', 1, visit, t(0)), completed('a', 'a', 1, t(0)));
      spec
        .given(...many)
        .when(begin('a', t(0), 1_000))
        .then([budgetSpent('a', t(0), '1,000 steps')]);
    });

    it('starts the next step while under the budget', () => {
      spec
        .given(...twiceRound)
        .when(begin('a', t(2), 5))
        .then([stepStarted('a', 1, 3, t(2))]);
    });

    it('lets a retry or a takeover finish a visit already counted, even at the budget', () => {
      const failed: ExecutionEvent = {
        type: 'StepFailed',
        version: 1,
        data: {
          executionId: id,
          stepId: 'w',
          stepType: 'send_email',
          attempt: 1,
          error: { code: 'http_503', message: 'down' },
          retryable: true,
          failedAt: t(2),
        },
      };
      const retry: ExecutionEvent = { type: 'RetryScheduled', version: 1, data: { executionId: id, stepId: 'w', attempt: 2, retryAt: t(3) } };
      // Given the sixth visit (w) started with a budget of six
      const sixth = [...twiceRound, stepStarted('a', 1, 3, t(2)), completed('a', 'w', 1, t(2)), stepStarted('w', 1, 3, t(2))];
      // When it failed and its second attempt is due, Then that attempt starts (same visit, same key)
      spec
        .given(...sixth, failed, retry)
        .when(begin('w', t(3), 6))
        .then([stepStarted('w', 2, 3, t(3))]);
      // When its runner died, Then it is taken over
      spec
        .given(...sixth)
        .when(begin('w', t(3), 6))
        .then([stepStarted('w', 1, 3, t(3), true)]);
      // When it completed and the cycle goes on, Then the next visit is refused
      spec
        .given(...sixth, completed('w', 'a', 1, t(2)), waited('a', t(3)))
        .when(begin('a', t(3), 6))
        .then([budgetSpent('a', t(3), '6 steps')]);
    });
  });

  describe('a step started and completed in one append', () => {
    const decideAll = (history: ExecutionEvent[], ...commands: Parameters<typeof executionDecider.decide>[0][]) =>
      sequenceOf(executionDecider).decide({ type: 'RecordRunnerDecisions', commands }, fold(executionDecider, history));
    const withStart = (
      stepId: string,
      nextStepId: string | null,
      start: { attempt?: number; visit?: number; at?: string; takeover?: boolean } = {},
    ) => {
      const event = completed(stepId, nextStepId, start.attempt ?? 1, start.at ?? t(0)) as Extract<ExecutionEvent, { type: 'StepCompleted' }>;
      const attempt = start.attempt ?? 1;
      return {
        ...event,
        data: {
          ...event.data,
          started: { attempt, idempotencyKey: `${id}:${stepId}:${start.visit ?? 1}`, startedAt: start.at ?? t(0), takeover: start.takeover ?? false },
        },
      };
    };

    it('is recorded as its completion carrying its start; a step started alone keeps its StepStarted', () => {
      // Given a started execution, When a step (a) runs within the append and the next (b) is started for its
      // side effect, Then a is one event with its start, and b's start stays on its own
      const decided = decideAll([started], begin('a'), complete('a', 'b'), begin('b'));
      expect(decided.map((e) => e.type)).to.deep.equal(['StepStarted', 'StepCompleted', 'StepStarted']);
      expect(recordedTogether(decided)).to.deep.equal([withStart('a', 'b'), stepStarted('b')]);
      // And the execution's end stays an event of its own
      const last = decideAll([started], begin('a'), complete('a', null));
      expect(recordedTogether(last).map((e) => e.type)).to.deep.equal(['StepCompleted', 'ExecutionCompleted']);
      // And events with nothing to fold are answered as they are
      const alone = [stepStarted('a')];
      expect(recordedTogether(alone)).to.equal(alone);
    });

    it('leaves the execution in the same state as its two events, the step budget included', () => {
      const twice = [started, stepStarted('a', 1, 1, t(0)), completed('a', 'w', 1, t(0)), stepStarted('w', 1, 1, t(0)), completed('w', 'a', 1, t(0))];
      const folded = recordedTogether(twice);
      expect(folded).to.have.length(3);
      expect(fold(executionDecider, folded)).to.deep.equal(fold(executionDecider, twice));
      // A takeover and a retry start no new visit, recorded together or not
      const retried: ExecutionEvent[] = [
        started,
        stepStarted('a'),
        failed(1),
        { type: 'RetryScheduled', version: 1, data: { executionId: id, stepId: 'a', attempt: 2, retryAt: t(1) } },
        stepStarted('a', 2, 1, t(1)),
        completed('a', 'b', 2, t(1)),
      ];
      expect(fold(executionDecider, recordedTogether(retried))).to.deep.equal(fold(executionDecider, retried));
      const takenOver = [started, stepStarted('a'), stepStarted('a', 1, 1, t(1), true), completed('a', 'b', 1, t(1))];
      expect(recordedTogether(takenOver).at(-1)).to.deep.equal(withStart('a', 'b', { at: t(1), takeover: true }));
      expect(fold(executionDecider, recordedTogether(takenOver))).to.deep.equal(fold(executionDecider, takenOver));
      // Given two visits recorded with their starts, When a third is due with a budget of two, Then it fails
      spec
        .given(started, withStart('a', 'a'), withStart('a', 'a', { visit: 2 }))
        .when(begin('a', t(0), 2))
        .then([budgetSpent('a', t(0), '2 steps')]);
    });

    it('is found as a start by readers of either shape', () => {
      expect(stepStartIn(stepStarted('a'))).to.include({ stepId: 'a', attempt: 1, takeover: false, startedAt: t(0) });
      expect(stepStartIn(withStart('a', 'b', { at: t(3) }))).to.include({ stepId: 'a', stepType: 'send_email', startedAt: t(3) });
      expect(stepStartIn(completed('a', 'b'))).to.equal(null);
      expect(stepStartIn(started)).to.equal(null);
    });
  });

  describe('pause, resume, cancel, exit', () => {
    const waiting: ExecutionEvent = { type: 'ExecutionWaiting', version: 1, data: { executionId: id, stepId: 'b', until: t(30), reason: 'wait' } };
    const paused: ExecutionEvent = { type: 'ExecutionPaused', version: 1, data: { executionId: id, by: 'user', reason: 'holiday', pausedAt: t(10) } };
    it('keeps the rest of a wait when resumed early, and runs at once when resumed late', () => {
      spec
        .given(started, stepStarted('a'), completed('a', 'b'), waiting)
        .when({ type: 'PauseExecution', data: { by: 'user', reason: 'holiday', now: t(10) } })
        .then([paused]);
      spec
        .given(started, stepStarted('a'), completed('a', 'b'), waiting, paused)
        .when({ type: 'ResumeExecution', data: { now: t(20) } })
        .then([{ type: 'ExecutionResumed', version: 1, data: { executionId: id, dueAt: t(30), resumedAt: t(20) } }]);
      spec
        .given(started, stepStarted('a'), completed('a', 'b'), waiting, paused)
        .when({ type: 'ResumeExecution', data: { now: t(40) } })
        .then([{ type: 'ExecutionResumed', version: 1, data: { executionId: id, dueAt: t(40), resumedAt: t(40) } }]);
      spec
        .given(started, paused)
        .when(begin('a', t(50)))
        .thenError(NotRunnableError);
    });

    it('resumes for the workflow only what the workflow paused', () => {
      spec
        .given(started, paused)
        .when({ type: 'ResumeExecution', data: { now: t(20), onlyIfPausedBy: 'workflow' } })
        .thenNothing();
    });

    it('cancels once; an ended execution refuses', () => {
      const cancelled: ExecutionEvent = { type: 'ExecutionCancelled', version: 1, data: { executionId: id, reason: 'by user', cancelledAt: t(3) } };
      spec
        .given(started)
        .when({ type: 'CancelExecution', data: { reason: 'by user', now: t(3) } })
        .then([cancelled]);
      spec
        .given(started, cancelled)
        .when({ type: 'CancelExecution', data: { reason: 'again', now: t(4) } })
        .thenError(ConflictError, { code: 'execution_ended' });
      spec
        .given()
        .when({ type: 'CancelExecution', data: { reason: 'x', now: t(4) } })
        .thenError(NotFoundError);
    });

    it('exits on an exit rule, or pauses, with the reason', () => {
      spec
        .given(started)
        .when({ type: 'ExitExecution', data: { reason: 'replied', action: 'stop', stepId: 'a', now: t(3) } })
        .then([{ type: 'ExecutionExited', version: 1, data: { executionId: id, reason: 'replied', stepId: 'a', exitedAt: t(3) } }]);
      spec
        .given(started)
        .when({ type: 'ExitExecution', data: { reason: 'out_of_office', action: 'pause', stepId: 'a', now: t(3) } })
        .then([{ type: 'ExecutionPaused', version: 1, data: { executionId: id, by: 'exit_rule', reason: 'out_of_office', pausedAt: t(3) } }]);
    });
  });
});
