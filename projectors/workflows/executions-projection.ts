import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { executionEventTypes, type ExecutionEvent } from '../../domain/workflows/execution.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import {
  ExecutionQueueSchema,
  ExecutionStepViewSchema,
  ExecutionViewSchema,
  type ExecutionQueueEntry,
  type ExecutionStepView,
  type ExecutionView,
} from './workflow-views.ts';

const ended = new Set(['ExecutionCompleted', 'ExecutionFailed', 'ExecutionCancelled', 'ExecutionExited']);

/**
 * Executions, their step history, and the runner's queue of when each is due, from the executions' events.
 * The queue is in this projection (same transaction as its checkpoint) so timers are exactly what the log says.
 */
export const executionsProjection: Projection = {
  name: 'executions',
  eventTypes: new Set(executionEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<ExecutionEvent>[];
    const ids = [...new Set(handled.map((e) => e.data.executionId))];
    const executions = new Map<string, ExecutionView>(
      (await em.find(ExecutionViewSchema, { id: { $in: ids } }, { filters: false })).map((e) => [e.id, e]),
    );
    const queue = new Map<string, ExecutionQueueEntry>(
      (await em.find(ExecutionQueueSchema, { executionId: { $in: ids } })).map((q) => [q.executionId, q]),
    );
    const running = new Map<string, ExecutionStepView>(
      (await em.find(ExecutionStepViewSchema, { executionId: { $in: ids }, status: 'running' }, { filters: false })).map((s) => [
        `${s.executionId}:${s.stepId}:${s.attempt}`,
        s,
      ]),
    );

    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'ExecutionStarted') {
        const { executionId, organizationId, workflowId, version, contactId, cause, entryStepId, startedAt, queuedBehind } = event.data;
        if (executions.has(executionId)) throw new ProjectionError(`execution ${executionId} already exists`);
        executions.set(
          executionId,
          em.create(ExecutionViewSchema, {
            id: executionId,
            organizationId,
            workflowId,
            version,
            contactId,
            status: 'running',
            currentStepId: entryStepId,
            waitReason: null,
            dueAt: new Date(startedAt),
            causeType: cause.type,
            causeId: cause.id,
            error: null,
            exitReason: null,
            stepCount: 0,
            timeline: [{ type: 'started', at: startedAt, cause, ...(queuedBehind ? { queuedBehind } : {}) }],
            startedAt: new Date(startedAt),
            endedAt: null,
            durationMs: null,
            updatedAt: at,
            revision: event.revision,
          }),
        );
        queue.set(
          executionId,
          em.create(ExecutionQueueSchema, { executionId, organizationId, dueAt: new Date(startedAt), leaseOwner: null, leaseUntil: null }),
        );
        continue;
      }
      const execution = executions.get(event.data.executionId);
      const entry = queue.get(event.data.executionId);
      if (!execution || !entry) throw new ProjectionError(`execution ${event.data.executionId} is not in the read model`);
      const note = (type: string, details: Record<string, unknown> = {}) => {
        execution.timeline = [...execution.timeline, { type, at: at.toISOString(), ...details }];
      };
      switch (event.type) {
        case 'StepStarted': {
          const { stepId, stepType, attempt, idempotencyKey, startedAt, takeover, input } = event.data;
          const key = `${execution.id}:${stepId}:${attempt}`;
          const previous = running.get(key);
          // A takeover re-runs the attempt a dead runner left in flight: that one is marked as abandoned.
          if (previous) {
            previous.status = 'failed';
            previous.error = { code: 'runner_lost', message: 'the runner stopped during this step; another took it over' };
            previous.endedAt = new Date(startedAt);
          }
          execution.stepCount += 1;
          running.set(
            key,
            em.create(ExecutionStepViewSchema, {
              executionId: execution.id,
              seq: execution.stepCount,
              organizationId: execution.organizationId,
              stepId,
              stepType,
              attempt,
              status: 'running',
              idempotencyKey,
              takeover,
              input: input ?? null,
              output: null,
              error: null,
              startedAt: new Date(startedAt),
              endedAt: null,
              durationMs: null,
            }),
          );
          execution.status = execution.status === 'paused' ? 'paused' : 'running';
          execution.currentStepId = stepId;
          execution.waitReason = null;
          break;
        }
        case 'StepCompleted':
        case 'StepFailed': {
          const { stepId, attempt } = event.data;
          const key = `${execution.id}:${stepId}:${attempt}`;
          const step = running.get(key);
          if (!step) throw new ProjectionError(`step ${key} finished but never started`);
          running.delete(key);
          const endedAt = new Date(event.type === 'StepCompleted' ? event.data.completedAt : event.data.failedAt);
          step.endedAt = endedAt;
          step.durationMs = endedAt.getTime() - step.startedAt.getTime();
          if (event.type === 'StepCompleted') {
            step.status = 'completed';
            step.output = event.data.output;
            execution.currentStepId = event.data.nextStepId;
            if (execution.status !== 'paused') execution.status = 'running';
            entry.dueAt = execution.status === 'paused' ? null : endedAt;
          } else {
            step.status = 'failed';
            step.error = event.data.error;
          }
          break;
        }
        case 'RetryScheduled':
          note('retry_scheduled', { stepId: event.data.stepId, attempt: event.data.attempt, retryAt: event.data.retryAt });
          execution.waitReason = 'retry';
          execution.dueAt = new Date(event.data.retryAt);
          if (execution.status !== 'paused') {
            execution.status = 'waiting';
            entry.dueAt = execution.dueAt;
          }
          break;
        case 'ExecutionWaiting':
          note('waiting', { stepId: event.data.stepId, until: event.data.until, reason: event.data.reason });
          execution.currentStepId = event.data.stepId;
          execution.waitReason = event.data.reason;
          execution.dueAt = new Date(event.data.until);
          if (execution.status !== 'paused') {
            execution.status = 'waiting';
            entry.dueAt = execution.dueAt;
          }
          break;
        case 'ExecutionPaused':
          note('paused', { by: event.data.by, reason: event.data.reason });
          execution.status = 'paused';
          entry.dueAt = null;
          break;
        case 'ExecutionResumed':
          note('resumed', { dueAt: event.data.dueAt });
          execution.dueAt = new Date(event.data.dueAt);
          execution.status = execution.dueAt.getTime() > Date.parse(event.data.resumedAt) ? 'waiting' : 'running';
          entry.dueAt = execution.dueAt;
          break;
        default: {
          if (!ended.has(event.type)) break;
          const endedAt = new Date(
            event.type === 'ExecutionCompleted'
              ? event.data.completedAt
              : event.type === 'ExecutionFailed'
                ? event.data.failedAt
                : event.type === 'ExecutionCancelled'
                  ? event.data.cancelledAt
                  : (event.data as { exitedAt: string }).exitedAt,
          );
          execution.status = {
            ExecutionCompleted: 'completed',
            ExecutionFailed: 'failed',
            ExecutionCancelled: 'cancelled',
            ExecutionExited: 'exited',
          }[event.type as 'ExecutionCompleted'];
          if (event.type === 'ExecutionFailed') execution.error = event.data.error;
          if (event.type === 'ExecutionExited') execution.exitReason = event.data.reason;
          if (event.type === 'ExecutionCancelled') note('cancelled', { reason: event.data.reason });
          if (event.type === 'ExecutionExited') note('exited', { reason: event.data.reason, stepId: event.data.stepId });
          execution.endedAt = endedAt;
          execution.durationMs = endedAt.getTime() - execution.startedAt.getTime();
          execution.dueAt = null;
          execution.waitReason = null;
          entry.dueAt = null;
        }
      }
      execution.updatedAt = at;
      execution.revision = event.revision;
    }
  },
};
