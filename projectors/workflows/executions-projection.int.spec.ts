import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { executionDecider, executionStream, recordedTogether, type ExecutionEvent } from '../../domain/workflows/execution.ts';
import { at, entityStream, fact, projectionSpec, rowsOf, type Fact, type Scenario } from '../../test/support/projection-spec.ts';
import { executionsProjection } from './executions-projection.ts';
import {
  ExecutionQueueSchema,
  ExecutionStepViewSchema,
  ExecutionViewSchema,
  type ExecutionQueueEntry,
  type ExecutionStepView,
  type ExecutionView,
} from './workflow-views.ts';

describe('executions projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(executionsProjection);
  const minutes = (n: number) => n * 60_000;

  /** One execution driven by its decider, as the workflow runner drives it; times are at(minutes). */
  function execution(options: { organizationId?: string; queuedBehind?: string } = {}) {
    const organizationId = options.organizationId ?? randomUUID();
    const executionId = randomUUID();
    const workflowId = randomUUID();
    const contactId = randomUUID();
    const tenant = { tenantId: organizationId, actor: { type: 'system' as const, id: 'workflow-runner' } };
    const stream = entityStream(executionDecider, executionStream(executionId), tenant);
    const cause = { type: 'manual' as const, id: 'request-1' };
    const started = stream.decide({
      type: 'StartExecution',
      data: {
        executionId,
        organizationId,
        workflowId,
        version: 3,
        contactId,
        cause,
        entryStepId: 'hello',
        startedAt: at(0),
        ...(options.queuedBehind ? { queuedBehind: options.queuedBehind } : {}),
      },
    });
    const begin = (stepId: string, m: number) =>
      stream.decide(
        { type: 'BeginStep', data: { stepId, stepType: 'send_email', input: { subject: 'Hi' }, now: at(m), maxStepsPerExecution: 100 } },
        m,
      );
    const complete = (stepId: string, nextStepId: string | null, m: number, extra: { attempt?: number; waitUntil?: string } = {}) =>
      stream.decide(
        {
          type: 'CompleteStep',
          data: {
            stepId,
            stepType: 'send_email',
            attempt: extra.attempt ?? 1,
            output: { messageId: `m-${m}` },
            nextStepId,
            now: at(m),
            ...(extra.waitUntil ? { waitUntil: extra.waitUntil } : {}),
          },
        },
        m,
      );
    const fail = (attempt: number, m: number, retryable: boolean, retryAt = at(m + 10)) =>
      stream.decide(
        {
          type: 'FailStep',
          data: {
            stepId: 'hello',
            stepType: 'send_email',
            attempt,
            error: { code: 'http_503', message: 'mailbox down' },
            retryable,
            maxAttempts: 3,
            retryAt,
            now: at(m),
          },
        },
        m,
      );
    const pause = (m: number) => stream.decide({ type: 'PauseExecution', data: { by: 'user', reason: 'holiday', now: at(m) } }, m);
    const resume = (m: number) => stream.decide({ type: 'ResumeExecution', data: { now: at(m) } }, m);
    const row = (overrides: Partial<ExecutionView> = {}): ExecutionView => ({
      id: executionId,
      organizationId,
      workflowId,
      version: 3,
      contactId,
      status: 'running',
      currentStepId: 'hello',
      waitReason: null,
      dueAt: new Date(at(0)),
      causeType: 'manual',
      causeId: 'request-1',
      error: null,
      exitReason: null,
      stepCount: 0,
      timeline: [{ type: 'started', at: at(0), cause, ...(options.queuedBehind ? { queuedBehind: options.queuedBehind } : {}) }],
      startedAt: new Date(at(0)),
      endedAt: null,
      durationMs: null,
      updatedAt: new Date(at(0)),
      revision: 0,
      ...overrides,
    });
    const step = (seq: number, stepId: string, startedAt: number, overrides: Partial<ExecutionStepView> = {}): ExecutionStepView => ({
      executionId,
      seq,
      organizationId,
      stepId,
      stepType: 'send_email',
      attempt: 1,
      status: 'running',
      idempotencyKey: `${executionId}:${stepId}:1`,
      takeover: false,
      input: { subject: 'Hi' },
      output: null,
      error: null,
      startedAt: new Date(at(startedAt)),
      endedAt: null,
      durationMs: null,
      ...overrides,
    });
    const queued = (dueAt: string | null, revision: number): ExecutionQueueEntry => ({
      executionId,
      organizationId,
      dueAt: dueAt === null ? null : new Date(dueAt),
      revision,
      leaseOwner: null,
      leaseUntil: null,
    });
    const view = {
      executions: rowsOf(ExecutionViewSchema, { tenant: organizationId, where: { id: executionId } }),
      steps: rowsOf(ExecutionStepViewSchema, { tenant: organizationId, where: { executionId } }),
      queue: rowsOf(ExecutionQueueSchema, { where: { executionId } }),
    };
    /**
     * The three tables this projection writes, for this execution. The queue row carries the revision of the
     * event that last set its due time (a runner's newer knowledge is never replaced by older).
     */
    const then = async (
      scenario: Scenario,
      expected: { execution: ExecutionView; steps: ExecutionStepView[]; dueAt: string | null; queueRevision: number },
    ) => {
      await scenario.then(view.executions, [expected.execution]);
      await scenario.then(view.steps, expected.steps);
      await scenario.then(view.queue, [queued(expected.dueAt, expected.queueRevision)]);
    };
    return { executionId, organizationId, tenant, stream, started, begin, complete, fail, pause, resume, row, step, then };
  }

  it("starts running at its entry step, due at once in the runner's queue, seen by its organization only", async () => {
    const run = execution({ queuedBehind: randomUUID() });
    const scenario = spec.given(run.started);
    await run.then(scenario, { execution: run.row(), steps: [], dueAt: at(0), queueRevision: 0 });
    await scenario.then(rowsOf(ExecutionViewSchema, { tenant: randomUUID() }), []);
    await scenario.then(rowsOf(ExecutionStepViewSchema, { tenant: randomUUID() }), []);
  });

  it('records each step with its timings, waits until a wait is over, and ends completed', async () => {
    const run = execution();
    const first = [...run.begin('hello', 1), ...run.complete('hello', 'follow-up', 2, { waitUntil: at(60) })];
    const second = [...run.begin('follow-up', 60), ...run.complete('follow-up', null, 61)];
    const hello = run.step(1, 'hello', 1, { status: 'completed', output: { messageId: 'm-2' }, endedAt: new Date(at(2)), durationMs: minutes(1) });
    const waiting = { type: 'waiting', at: at(2), stepId: 'follow-up', until: at(60), reason: 'wait' };

    await run.then(spec.given(run.started, first), {
      execution: run.row({
        status: 'waiting',
        currentStepId: 'follow-up',
        waitReason: 'wait',
        dueAt: new Date(at(60)),
        stepCount: 1,
        timeline: [...run.row().timeline, waiting],
        updatedAt: new Date(at(2)),
        revision: 3,
      }),
      steps: [hello],
      dueAt: at(60),
      queueRevision: 3,
    });
    const completed = {
      execution: run.row({
        status: 'completed',
        currentStepId: null,
        dueAt: null,
        stepCount: 2,
        timeline: [...run.row().timeline, waiting],
        endedAt: new Date(at(61)),
        durationMs: minutes(61),
        updatedAt: new Date(at(61)),
        revision: 6,
      }),
      steps: [
        hello,
        run.step(2, 'follow-up', 60, { status: 'completed', output: { messageId: 'm-61' }, endedAt: new Date(at(61)), durationMs: minutes(1) }),
      ],
      dueAt: null,
      queueRevision: 6,
    };
    await run.then(spec.given(run.started, first, second), completed);
    await run.then(spec.given(run.started, first).when(second), completed);
    await run.then(spec.given(run.started, first, second).inBatchesOf(1), completed);
  });

  it('schedules a retry after a retryable failure, counts the new attempt as a step, and fails for good after a final one', async () => {
    const run = execution();
    const firstTry = [...run.begin('hello', 1), ...run.fail(1, 2, true, at(10))];
    const secondTry = [...run.begin('hello', 10), ...run.fail(2, 11, false)];
    const error = { code: 'http_503', message: 'mailbox down' };
    const failedFirst = run.step(1, 'hello', 1, { status: 'failed', error, endedAt: new Date(at(2)), durationMs: minutes(1) });
    const retry = { type: 'retry_scheduled', at: at(2), stepId: 'hello', attempt: 2, retryAt: at(10) };

    await run.then(spec.given(run.started, firstTry), {
      execution: run.row({
        status: 'waiting',
        waitReason: 'retry',
        dueAt: new Date(at(10)),
        stepCount: 1,
        timeline: [...run.row().timeline, retry],
        updatedAt: new Date(at(2)),
        revision: 3,
      }),
      steps: [failedFirst],
      dueAt: at(10),
      queueRevision: 3,
    });
    await run.then(spec.given(run.started, firstTry).when(secondTry), {
      execution: run.row({
        status: 'failed',
        error,
        stepCount: 2,
        dueAt: null,
        timeline: [...run.row().timeline, retry],
        endedAt: new Date(at(11)),
        durationMs: minutes(11),
        updatedAt: new Date(at(11)),
        revision: 6,
      }),
      steps: [failedFirst, run.step(2, 'hello', 10, { attempt: 2, status: 'failed', error, endedAt: new Date(at(11)), durationMs: minutes(1) })],
      dueAt: null,
      queueRevision: 6,
    });
  });

  /** The facts as the runner appends them: a step started and completed in one append is one event. */
  const together = (facts: Fact[]): Fact[] => {
    const events = recordedTogether(facts.map((f) => f.event as ExecutionEvent));
    expect(events).to.have.length(facts.length - 1);
    return events.map((event, i) => ({ ...facts[i + 1]!, event }));
  };

  it('marks the attempt a dead runner left in flight as abandoned when another runner takes the step over', async () => {
    const run = execution();
    const begun = run.begin('hello', 1);
    const takenOver = [...run.begin('hello', 5), ...run.complete('hello', null, 6)];
    const expected = (revision: number) => ({
      execution: run.row({
        status: 'completed',
        currentStepId: null,
        dueAt: null,
        stepCount: 2,
        endedAt: new Date(at(6)),
        durationMs: minutes(6),
        updatedAt: new Date(at(6)),
        revision,
      }),
      steps: [
        run.step(1, 'hello', 1, {
          status: 'failed',
          error: { code: 'runner_lost', message: 'the runner stopped during this step; another took it over' },
          endedAt: new Date(at(5)),
        }),
        run.step(2, 'hello', 5, {
          takeover: true,
          status: 'completed',
          output: { messageId: 'm-6' },
          endedAt: new Date(at(6)),
          durationMs: minutes(1),
        }),
      ],
      dueAt: null,
      queueRevision: revision,
    });
    await run.then(spec.given(run.started, begun, takenOver), expected(4));
    // The abandoned attempt comes from the table when the takeover arrives in a later batch.
    await run.then(spec.given(run.started, begun).when(takenOver), expected(4));
    // A takeover of a step of the log alone is recorded with its completion (one event fewer): the same rows.
    await run.then(spec.given(run.started, begun).when(together(takenOver)), expected(3));
  });

  it('records a step whose start came with its completion (one event, as the runner appends a step of the log alone) as it records the two', async () => {
    const run = execution();
    const ran = together([...run.begin('hello', 1), ...run.complete('hello', null, 2)]);
    const expected = {
      execution: run.row({
        status: 'completed',
        currentStepId: null,
        dueAt: null,
        stepCount: 1,
        endedAt: new Date(at(2)),
        durationMs: minutes(2),
        updatedAt: new Date(at(2)),
        revision: 2,
      }),
      steps: [run.step(1, 'hello', 1, { status: 'completed', output: { messageId: 'm-2' }, endedAt: new Date(at(2)), durationMs: minutes(1) })],
      dueAt: null,
      queueRevision: 2,
    };
    await run.then(spec.given(run.started, ran), expected);
    await run.then(spec.given(run.started).when(ran), expected);
    await run.then(spec.given(run.started, ran).inBatchesOf(1), expected);
  });

  it('leaves the queue while paused (what happens meanwhile keeps it paused), and is due again on resume', async () => {
    const run = execution();
    const inFlight = run.begin('hello', 1);
    const paused = run.pause(2);
    const finishedMeanwhile = run.complete('hello', 'next', 3, { waitUntil: at(60) });
    const resumed = run.resume(4);
    const hello = run.step(1, 'hello', 1, { status: 'completed', output: { messageId: 'm-3' }, endedAt: new Date(at(3)), durationMs: minutes(2) });
    const pausedNote = { type: 'paused', at: at(2), by: 'user', reason: 'holiday' };
    const waiting = { type: 'waiting', at: at(3), stepId: 'next', until: at(60), reason: 'wait' };
    const common = { currentStepId: 'next', waitReason: 'wait', dueAt: new Date(at(60)), stepCount: 1 };

    await run.then(spec.given(run.started, inFlight, paused, finishedMeanwhile), {
      execution: run.row({
        ...common,
        status: 'paused',
        timeline: [...run.row().timeline, pausedNote, waiting],
        updatedAt: new Date(at(3)),
        revision: 4,
      }),
      steps: [hello],
      dueAt: null,
      // The step that finished while paused (revision 3) left it out of the queue; the wait after it changes nothing there.
      queueRevision: 3,
    });
    // Resumed before the wait is over: waiting, due when the wait ends.
    await run.then(spec.given(run.started, inFlight, paused, finishedMeanwhile).when(resumed), {
      execution: run.row({
        ...common,
        status: 'waiting',
        timeline: [...run.row().timeline, pausedNote, waiting, { type: 'resumed', at: at(4), dueAt: at(60) }],
        updatedAt: new Date(at(4)),
        revision: 5,
      }),
      steps: [hello],
      dueAt: at(60),
      queueRevision: 5,
    });
    // Resumed when already due: running, due at the resume.
    const idle = execution();
    await idle.then(spec.given(idle.started, idle.pause(5), idle.resume(10)), {
      execution: idle.row({
        dueAt: new Date(at(10)),
        timeline: [
          ...idle.row().timeline,
          { type: 'paused', at: at(5), by: 'user', reason: 'holiday' },
          { type: 'resumed', at: at(10), dueAt: at(10) },
        ],
        updatedAt: new Date(at(10)),
        revision: 2,
      }),
      steps: [],
      dueAt: at(10),
      queueRevision: 2,
    });
  });

  it('ends cancelled or exited with the reason in its timeline, and leaves the queue', async () => {
    const cancelled = execution();
    const exited = execution({ organizationId: cancelled.organizationId });
    const cancel = cancelled.stream.decide({ type: 'CancelExecution', data: { reason: 'wrong contact', now: at(7) } }, 7);
    const exit = exited.stream.decide({ type: 'ExitExecution', data: { reason: 'replied', action: 'stop', stepId: 'hello', now: at(8) } }, 8);
    const scenario = spec.given(cancelled.started, exited.started, cancel, exit);
    await cancelled.then(scenario, {
      execution: cancelled.row({
        status: 'cancelled',
        dueAt: null,
        timeline: [...cancelled.row().timeline, { type: 'cancelled', at: at(7), reason: 'wrong contact' }],
        endedAt: new Date(at(7)),
        durationMs: minutes(7),
        updatedAt: new Date(at(7)),
        revision: 1,
      }),
      steps: [],
      dueAt: null,
      queueRevision: 1,
    });
    await exited.then(scenario, {
      execution: exited.row({
        status: 'exited',
        exitReason: 'replied',
        dueAt: null,
        timeline: [...exited.row().timeline, { type: 'exited', at: at(8), reason: 'replied', stepId: 'hello' }],
        endedAt: new Date(at(8)),
        durationMs: minutes(8),
        updatedAt: new Date(at(8)),
        revision: 1,
      }),
      steps: [],
      dueAt: null,
      queueRevision: 1,
    });
  });

  it('parks a second start, a step that finishes without having started and an event of an execution it never saw, and goes on', async () => {
    const run = execution();
    const copy = fact(`${executionStream(run.executionId)}-copy`, run.started[0]!.event, run.tenant);
    const neverStarted: ExecutionEvent = {
      type: 'StepCompleted',
      version: 1,
      data: {
        executionId: run.executionId,
        workflowId: randomUUID(),
        stepId: 'ghost',
        stepType: 'send_email',
        attempt: 1,
        output: {},
        nextStepId: null,
        completedAt: at(3),
      },
    };
    const strangerId = randomUUID();
    const stranger: ExecutionEvent = { type: 'ExecutionCancelled', version: 1, data: { executionId: strangerId, reason: 'x', cancelledAt: at(3) } };
    const begun = run.begin('hello', 4);
    const scenario = spec.given(
      run.started,
      copy,
      fact(executionStream(run.executionId), neverStarted, run.tenant),
      fact(executionStream(strangerId), stranger, run.tenant),
      begun,
    );
    await scenario.thenParked([
      { eventType: 'ExecutionStarted', error: /already exists/ },
      { eventType: 'StepCompleted', error: /finished but never started/ },
      { eventType: 'ExecutionCancelled', error: /is not in the read model/ },
    ]);
    await run.then(scenario, {
      execution: run.row({ stepCount: 1, updatedAt: new Date(at(4)), revision: 2 }),
      steps: [run.step(1, 'hello', 4)],
      dueAt: at(0),
      queueRevision: 0,
    });
  });
});
