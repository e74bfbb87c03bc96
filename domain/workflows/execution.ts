import { ConflictError, NotFoundError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';
import type { ExitReason } from './definition.ts';

/**
 * One run of a workflow for one contact, as an event-sourced process. Its state says which step runs next
 * and when (`dueAt`): the runner claims due executions, records StepStarted BEFORE doing a step's side effect
 * (so only one runner can take a step: the stream's optimistic concurrency decides), then the outcome.
 * Waits, retries and send windows are just a later `dueAt`: timers are the event log itself.
 */
export type ExecutionCause = { type: 'manual' | 'event' | 'schedule' | 'backfill'; id: string };
export type WaitReason = 'wait' | 'send_window' | 'throttle' | 'retry' | 'queued';
export type PausedBy = 'user' | 'workflow' | 'exit_rule';
export interface StepErrorInfo {
  code: string;
  message: string;
}

export type ExecutionStarted = DomainEvent<
  'ExecutionStarted',
  {
    executionId: string;
    organizationId: string;
    workflowId: string;
    version: number;
    contactId: string;
    cause: ExecutionCause;
    entryStepId: string;
    startedAt: string;
    /** Overlap policy "queue": this execution waits until that one has ended. */
    queuedBehind?: string;
  }
>;
export type StepStarted = DomainEvent<
  'StepStarted',
  {
    executionId: string;
    stepId: string;
    stepType: string;
    attempt: number;
    idempotencyKey: string;
    startedAt: string;
    takeover: boolean;
    /** The step's configuration as it ran (for the history). */
    input?: Record<string, unknown>;
  }
>;
/** A step's start, as StepStarted records it (and StepCompleted, for a step recorded with its start). */
export interface StepStart {
  attempt: number;
  idempotencyKey: string;
  startedAt: string;
  takeover: boolean;
  /** The step's configuration as it ran (for the history). */
  input?: Record<string, unknown>;
}
/**
 * Version 2 may carry `started`: the step's start, when it was recorded in the same append as its outcome
 * (a step whose effects are all in the log needs no start of its own; see recordedTogether). Version 1 never
 * does (upcast unchanged: domain/upcasting.ts).
 */
export type StepCompleted = DomainEvent<
  'StepCompleted',
  {
    executionId: string;
    workflowId: string;
    stepId: string;
    stepType: string;
    attempt: number;
    output: Record<string, unknown>;
    nextStepId: string | null;
    completedAt: string;
    started?: StepStart;
  }
>;
export type StepFailed = DomainEvent<
  'StepFailed',
  { executionId: string; stepId: string; stepType: string; attempt: number; error: StepErrorInfo; retryable: boolean; failedAt: string }
>;
export type RetryScheduled = DomainEvent<'RetryScheduled', { executionId: string; stepId: string; attempt: number; retryAt: string }>;
export type ExecutionWaiting = DomainEvent<
  'ExecutionWaiting',
  { executionId: string; stepId: string; until: string; reason: Exclude<WaitReason, 'retry'> }
>;
export type ExecutionPaused = DomainEvent<'ExecutionPaused', { executionId: string; by: PausedBy; reason: string; pausedAt: string }>;
export type ExecutionResumed = DomainEvent<'ExecutionResumed', { executionId: string; dueAt: string; resumedAt: string }>;
export type ExecutionCancelled = DomainEvent<'ExecutionCancelled', { executionId: string; reason: string; cancelledAt: string }>;
export type ExecutionCompleted = DomainEvent<'ExecutionCompleted', { executionId: string; workflowId: string; completedAt: string }>;
export type ExecutionFailed = DomainEvent<
  'ExecutionFailed',
  { executionId: string; workflowId: string; stepId: string; error: StepErrorInfo; failedAt: string }
>;
export type ExecutionExited = DomainEvent<'ExecutionExited', { executionId: string; reason: ExitReason; stepId: string; exitedAt: string }>;

export type ExecutionEvent =
  | ExecutionStarted
  | StepStarted
  | StepCompleted
  | StepFailed
  | RetryScheduled
  | ExecutionWaiting
  | ExecutionPaused
  | ExecutionResumed
  | ExecutionCancelled
  | ExecutionCompleted
  | ExecutionFailed
  | ExecutionExited;

export const executionEventTypes = [
  'ExecutionStarted',
  'StepStarted',
  'StepCompleted',
  'StepFailed',
  'RetryScheduled',
  'ExecutionWaiting',
  'ExecutionPaused',
  'ExecutionResumed',
  'ExecutionCancelled',
  'ExecutionCompleted',
  'ExecutionFailed',
  'ExecutionExited',
] as const satisfies readonly ExecutionEvent['type'][];

export const activeStatuses = ['running', 'waiting', 'paused'] as const;
export type ExecutionStatus = (typeof activeStatuses)[number] | 'completed' | 'failed' | 'cancelled' | 'exited';

interface Common {
  id: string;
  organizationId: string;
  workflowId: string;
  version: number;
  contactId: string;
  startedAt: string;
  cause: ExecutionCause;
  queuedBehind: string | null;
}

export type Active = Common & {
  status: 'running' | 'waiting' | 'paused';
  /** The step to run when due. */
  nextStepId: string;
  /** Attempt number of that step's current visit (1-based). */
  attempt: number;
  /** Completed visits per step: the idempotency key of a visit is stable across its retries. */
  visits: Record<string, number>;
  /**
   * Step visits started so far, every step type and every pass through a cycle: what the per-execution step
   * budget counts. Retries and takeovers of a visit do not count again (retries are bounded per visit by the
   * step's retry.maxAttempts; a takeover finishes a visit that was already counted).
   */
  stepsStarted: number;
  /** A step recorded as started whose outcome is not recorded yet (a runner is on it, or died on it). */
  inFlight: { stepId: string; attempt: number } | null;
  dueAt: string;
  waitReason: WaitReason | null;
  pausedBy: PausedBy | null;
};

export type Ended = Common & { status: 'completed' | 'failed' | 'cancelled' | 'exited'; endedAt: string };

export type Execution = { status: 'absent' } | Active | Ended;

export type StartExecution = { type: 'StartExecution'; data: ExecutionStarted['data'] };
export type BeginStep = {
  type: 'BeginStep';
  data: {
    stepId: string;
    stepType: string;
    input?: Record<string, unknown>;
    now: string;
    /** The step budget: an execution that has started this many step visits fails instead of starting another. */
    maxStepsPerExecution: number;
  };
};
export type CompleteStep = {
  type: 'CompleteStep';
  data: {
    stepId: string;
    stepType: string;
    attempt: number;
    output: Record<string, unknown>;
    nextStepId: string | null;
    /** The step was a wait: the next step is due then. */
    waitUntil?: string;
    now: string;
  };
};
export type FailStep = {
  type: 'FailStep';
  data: {
    stepId: string;
    stepType: string;
    attempt: number;
    error: StepErrorInfo;
    retryable: boolean;
    maxAttempts: number;
    /** When to try again (the runner draws the backoff's jitter). */
    retryAt: string;
    now: string;
  };
};
export type DeferStep = { type: 'DeferStep'; data: { stepId: string; until: string; reason: 'send_window' | 'throttle' | 'queued' } };
export type PauseExecution = { type: 'PauseExecution'; data: { by: PausedBy; reason: string; now: string } };
export type ResumeExecution = { type: 'ResumeExecution'; data: { now: string; onlyIfPausedBy?: PausedBy } };
export type CancelExecution = { type: 'CancelExecution'; data: { reason: string; now: string } };
export type ExitExecution = { type: 'ExitExecution'; data: { reason: ExitReason; action: 'stop' | 'pause'; stepId: string; now: string } };
export type ExecutionCommand =
  StartExecution | BeginStep | CompleteStep | FailStep | DeferStep | PauseExecution | ResumeExecution | CancelExecution | ExitExecution;

export const executionStream = (executionId: string) => `execution-${executionId}`;
export const initialExecution: Execution = { status: 'absent' };

export function isActive(state: Execution): state is Active {
  return state.status === 'running' || state.status === 'waiting' || state.status === 'paused';
}

function ended(state: Execution, status: Ended['status'], endedAt: string): Execution {
  if (!isActive(state)) return state;
  const { id, organizationId, workflowId, version, contactId, startedAt, cause, queuedBehind } = state;
  return { status, id, organizationId, workflowId, version, contactId, startedAt, cause, queuedBehind, endedAt };
}

/** A start that begins a new visit of its step (neither a retry nor a takeover): what the step budget counts. */
const isNewVisit = (start: Pick<StepStart, 'attempt' | 'takeover'>) => !start.takeover && start.attempt === 1;

/** A paused execution stays paused whatever a step's outcome says (its resume decides what comes next). */
function keepPaused(state: Active, next: Active['status']): Active['status'] {
  return state.status === 'paused' ? 'paused' : next;
}

export function evolveExecution(state: Execution, event: ExecutionEvent): Execution {
  if (event.type === 'ExecutionStarted') {
    const { executionId, organizationId, workflowId, version, contactId, cause, entryStepId, startedAt, queuedBehind } = event.data;
    return {
      status: 'running',
      id: executionId,
      organizationId,
      workflowId,
      version,
      contactId,
      startedAt,
      cause,
      queuedBehind: queuedBehind ?? null,
      nextStepId: entryStepId,
      attempt: 1,
      visits: {},
      stepsStarted: 0,
      inFlight: null,
      dueAt: startedAt,
      waitReason: null,
      pausedBy: null,
    };
  }
  if (!isActive(state)) return state;
  switch (event.type) {
    case 'StepStarted':
      return {
        ...state,
        status: keepPaused(state, 'running'),
        inFlight: { stepId: event.data.stepId, attempt: event.data.attempt },
        stepsStarted: state.stepsStarted + (isNewVisit(event.data) ? 1 : 0),
      };
    case 'StepCompleted': {
      const { stepId, nextStepId, completedAt, started } = event.data;
      const visits = { ...state.visits, [stepId]: (state.visits[stepId] ?? 0) + 1 };
      return {
        ...state,
        status: keepPaused(state, 'running'),
        visits,
        inFlight: null,
        nextStepId: nextStepId ?? stepId,
        attempt: 1,
        dueAt: completedAt,
        waitReason: null,
        stepsStarted: state.stepsStarted + (started && isNewVisit(started) ? 1 : 0),
      };
    }
    case 'StepFailed':
      return { ...state, inFlight: null };
    case 'RetryScheduled':
      return { ...state, status: keepPaused(state, 'waiting'), attempt: event.data.attempt, dueAt: event.data.retryAt, waitReason: 'retry' };
    case 'ExecutionWaiting':
      return {
        ...state,
        status: keepPaused(state, 'waiting'),
        nextStepId: event.data.stepId,
        dueAt: event.data.until,
        waitReason: event.data.reason,
      };
    case 'ExecutionPaused':
      return { ...state, status: 'paused', pausedBy: event.data.by };
    case 'ExecutionResumed': {
      const waiting = Date.parse(event.data.dueAt) > Date.parse(event.data.resumedAt);
      return { ...state, status: waiting ? 'waiting' : 'running', dueAt: event.data.dueAt, pausedBy: null };
    }
    case 'ExecutionCancelled':
      return ended(state, 'cancelled', event.data.cancelledAt);
    case 'ExecutionCompleted':
      return ended(state, 'completed', event.data.completedAt);
    case 'ExecutionFailed':
      return ended(state, 'failed', event.data.failedAt);
    case 'ExecutionExited':
      return ended(state, 'exited', event.data.exitedAt);
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** The execution is not ready for this (not due, paused, ended, or another step is next): nothing to do now. */
export class NotRunnableError extends ConflictError {
  constructor(message: string) {
    super(message, 'not_runnable');
  }
}

function requireActive(state: Execution): Active {
  if (state.status === 'absent') throw new NotFoundError('Execution');
  if (!isActive(state))
    throw new ConflictError(`The execution has already ${state.status === 'exited' ? 'exited' : state.status}`, 'execution_ended');
  return state;
}

function requireRunnable(state: Execution, stepId: string): Active {
  if (!isActive(state)) throw new NotRunnableError(`execution is ${state.status}`);
  if (state.status === 'paused') throw new NotRunnableError('execution is paused');
  if (state.nextStepId !== stepId) throw new NotRunnableError(`the next step is ${state.nextStepId}, not ${stepId}`);
  return state;
}

const stepCount = (n: number) => `${n.toLocaleString('en-US')} step${n === 1 ? '' : 's'}`;

export function idempotencyKeyOf(state: Active, stepId: string): string {
  return `${state.id}:${stepId}:${(state.visits[stepId] ?? 0) + 1}`;
}

export function decideExecution(command: ExecutionCommand, state: Execution): ExecutionEvent[] {
  switch (command.type) {
    case 'StartExecution':
      if (state.status !== 'absent') return [];
      return [{ type: 'ExecutionStarted', version: 1, data: { ...command.data } }];
    case 'BeginStep': {
      const { stepId, stepType, input, now, maxStepsPerExecution } = command.data;
      const execution = requireRunnable(state, stepId);
      if (Date.parse(execution.dueAt) > Date.parse(now)) throw new NotRunnableError(`not due before ${execution.dueAt}`);
      // A step started but never finished: its runner died (its lease ran out). Run it again, same attempt
      // and same idempotency key, so the side effect it may already have done is not done twice.
      const takeover = execution.inFlight !== null;
      if (execution.inFlight && execution.inFlight.stepId !== stepId) throw new NotRunnableError(`step ${execution.inFlight.stepId} is in flight`);
      // The step budget: however the workflow cycles (through waits), an execution ends. A new visit past
      // the budget fails the execution instead; a retry or a takeover finishes a visit already counted.
      if (!takeover && execution.attempt === 1 && execution.stepsStarted >= maxStepsPerExecution) {
        const error = { code: 'step_budget_exhausted', message: `ran ${stepCount(execution.stepsStarted)}, the limit per execution` };
        return [
          {
            type: 'ExecutionFailed',
            version: 1,
            data: { executionId: execution.id, workflowId: execution.workflowId, stepId, error, failedAt: now },
          },
        ];
      }
      return [
        {
          type: 'StepStarted',
          version: 1,
          data: {
            executionId: execution.id,
            stepId,
            stepType,
            attempt: execution.attempt,
            idempotencyKey: idempotencyKeyOf(execution, stepId),
            startedAt: now,
            takeover,
            ...(input ? { input } : {}),
          },
        },
      ];
    }
    case 'CompleteStep': {
      const { stepId, stepType, attempt, output, nextStepId, waitUntil, now } = command.data;
      if (!isActive(state) || state.inFlight?.stepId !== stepId || state.inFlight.attempt !== attempt) {
        throw new NotRunnableError(`step ${stepId} attempt ${attempt} is not in flight`);
      }
      const events: ExecutionEvent[] = [
        {
          type: 'StepCompleted',
          version: 2,
          data: { executionId: state.id, workflowId: state.workflowId, stepId, stepType, attempt, output, nextStepId, completedAt: now },
        },
      ];
      if (nextStepId === null)
        events.push({ type: 'ExecutionCompleted', version: 1, data: { executionId: state.id, workflowId: state.workflowId, completedAt: now } });
      else if (waitUntil && Date.parse(waitUntil) > Date.parse(now)) {
        events.push({ type: 'ExecutionWaiting', version: 1, data: { executionId: state.id, stepId: nextStepId, until: waitUntil, reason: 'wait' } });
      }
      return events;
    }
    case 'FailStep': {
      const { stepId, stepType, attempt, error, retryable, maxAttempts, retryAt, now } = command.data;
      if (!isActive(state) || state.inFlight?.stepId !== stepId || state.inFlight.attempt !== attempt) {
        throw new NotRunnableError(`step ${stepId} attempt ${attempt} is not in flight`);
      }
      const failed: ExecutionEvent = {
        type: 'StepFailed',
        version: 1,
        data: { executionId: state.id, stepId, stepType, attempt, error, retryable, failedAt: now },
      };
      if (retryable && attempt < maxAttempts) {
        return [failed, { type: 'RetryScheduled', version: 1, data: { executionId: state.id, stepId, attempt: attempt + 1, retryAt } }];
      }
      const final = retryable ? { ...error, message: `${error.message} (gave up after ${attempt} attempts)` } : error;
      return [
        failed,
        { type: 'ExecutionFailed', version: 1, data: { executionId: state.id, workflowId: state.workflowId, stepId, error: final, failedAt: now } },
      ];
    }
    case 'DeferStep': {
      const execution = requireRunnable(state, command.data.stepId);
      if (execution.inFlight) throw new NotRunnableError('a step is in flight');
      return [{ type: 'ExecutionWaiting', version: 1, data: { executionId: execution.id, ...command.data } }];
    }
    case 'PauseExecution': {
      const execution = requireActive(state);
      if (execution.status === 'paused') return [];
      return [
        {
          type: 'ExecutionPaused',
          version: 1,
          data: { executionId: execution.id, by: command.data.by, reason: command.data.reason, pausedAt: command.data.now },
        },
      ];
    }
    case 'ResumeExecution': {
      const execution = requireActive(state);
      if (execution.status !== 'paused') return [];
      if (command.data.onlyIfPausedBy && execution.pausedBy !== command.data.onlyIfPausedBy) return [];
      const dueAt = Date.parse(execution.dueAt) > Date.parse(command.data.now) ? execution.dueAt : command.data.now;
      return [{ type: 'ExecutionResumed', version: 1, data: { executionId: execution.id, dueAt, resumedAt: command.data.now } }];
    }
    case 'CancelExecution': {
      const execution = requireActive(state);
      return [
        { type: 'ExecutionCancelled', version: 1, data: { executionId: execution.id, reason: command.data.reason, cancelledAt: command.data.now } },
      ];
    }
    case 'ExitExecution': {
      const execution = requireActive(state);
      const { reason, action, stepId, now } = command.data;
      if (action === 'pause') {
        if (execution.status === 'paused') return [];
        return [{ type: 'ExecutionPaused', version: 1, data: { executionId: execution.id, by: 'exit_rule', reason, pausedAt: now } }];
      }
      return [{ type: 'ExecutionExited', version: 1, data: { executionId: execution.id, reason, stepId, exitedAt: now } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

/**
 * The events of one append as they are recorded: a step started and completed in it (nothing between the
 * two) is recorded as its completion carrying its start, one event instead of two. The execution evolves to
 * the same state from either (a unit test checks it); the log says no less (when, with which key and input
 * it started), and every reader of the log handles one event fewer per such step.
 */
export function recordedTogether(events: ExecutionEvent[]): ExecutionEvent[] {
  let folded: ExecutionEvent[] | null = null;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const next = events[i + 1];
    if (
      event.type === 'StepStarted' &&
      next?.type === 'StepCompleted' &&
      !next.data.started &&
      next.data.stepId === event.data.stepId &&
      next.data.attempt === event.data.attempt
    ) {
      folded ??= events.slice(0, i);
      const { attempt, idempotencyKey, startedAt, takeover, input } = event.data;
      const started: StepStart = { attempt, idempotencyKey, startedAt, takeover, ...(input ? { input } : {}) };
      folded.push({ ...next, data: { ...next.data, started } });
      i++;
    } else folded?.push(event);
  }
  return folded ?? events;
}

/** The step start an event records, if any: a StepStarted's, or a StepCompleted's recorded with it. */
export function stepStartIn(event: { type: string; data: unknown }): (StepStart & { stepId: string; stepType: string }) | null {
  if (event.type === 'StepStarted') {
    const data = event.data as StepStarted['data'];
    return data;
  }
  if (event.type === 'StepCompleted') {
    const data = event.data as StepCompleted['data'];
    return data.started ? { ...data.started, stepId: data.stepId, stepType: data.stepType } : null;
  }
  return null;
}

export const executionDecider: Decider<ExecutionCommand, Execution, ExecutionEvent> = {
  decide: decideExecution,
  evolve: evolveExecution,
  initialState: initialExecution,
};
