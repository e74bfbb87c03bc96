import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { executionEventTypes, type ExecutionEvent, type StepStart } from '../../domain/workflows/execution.ts';
import { executeBound, writeBound } from '../../infra/readmodels/orm.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import type { ExecutionStepView, ExecutionView } from './workflow-views.ts';

const ended = new Set(['ExecutionCompleted', 'ExecutionFailed', 'ExecutionCancelled', 'ExecutionExited']);

/** An execution's row in the runner's queue as of one of its events: due then (null: not runnable). */
interface QueueRow {
  organizationId: string;
  dueAt: Date | null;
  revision: number;
}

/**
 * Executions, their step history, and the runner's queue of when each is due, from the executions' events.
 * The queue is in this projection (same transaction as its checkpoint) so timers are exactly what the log says;
 * the runner also records there what it just did (see writeQueue).
 *
 * Plain SQL, one statement per table and batch: the rows the batch touches are loaded at once, folded in
 * memory, and written back together (executions and steps as upserts, the queue guarded by revision).
 */
export const executionsProjection: Projection = {
  name: 'executions',
  eventTypes: new Set(executionEventTypes),
  sqlOnly: true,
  feedsRunner: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<ExecutionEvent>[];
    // Every execution of the batch, those it starts included: a second start of one already stored is parked.
    const ids = [...new Set(handled.map((e) => e.data.executionId))];
    const loaded = await loadExecutions(em, ids);
    const loadedSteps =
      loaded.length === 0
        ? []
        : await loadRunningSteps(
            em,
            loaded.map((e) => e.id),
          );
    const executions = new Map<string, ExecutionView>(loaded.map((e) => [e.id, e]));
    const running = new Map<string, ExecutionStepView>(loadedSteps.map((s) => [`${s.executionId}:${s.stepId}:${s.attempt}`, s]));
    const changedExecutions = new Set<ExecutionView>();
    const changedSteps = new Set<ExecutionStepView>();
    const queue = new Map<string, QueueRow>();

    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'ExecutionStarted') {
        const { executionId, organizationId, workflowId, version, contactId, cause, entryStepId, startedAt, queuedBehind } = event.data;
        if (executions.has(executionId)) throw new ProjectionError(`execution ${executionId} already exists`);
        const execution: ExecutionView = {
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
        };
        executions.set(executionId, execution);
        changedExecutions.add(execution);
        queue.set(executionId, { organizationId, dueAt: new Date(startedAt), revision: event.revision });
        continue;
      }
      const execution = executions.get(event.data.executionId);
      if (!execution) throw new ProjectionError(`execution ${event.data.executionId} is not in the read model`);
      changedExecutions.add(execution);
      const note = (type: string, details: Record<string, unknown> = {}) => {
        execution.timeline = [...execution.timeline, { type, at: at.toISOString(), ...details }];
      };
      /** The execution is due then in the runner's queue, as of this event. */
      const due = (dueAt: Date | null) => {
        queue.set(execution.id, { organizationId: execution.organizationId, dueAt, revision: event.revision });
      };
      /** A step's start: its row in the history, running. */
      const begin = (stepId: string, stepType: string, { attempt, idempotencyKey, startedAt, takeover, input }: StepStart) => {
        const key = `${execution.id}:${stepId}:${attempt}`;
        const previous = running.get(key);
        // A takeover re-runs the attempt a dead runner left in flight: that one is marked as abandoned.
        if (previous) {
          previous.status = 'failed';
          previous.error = { code: 'runner_lost', message: 'the runner stopped during this step; another took it over' };
          previous.endedAt = new Date(startedAt);
          changedSteps.add(previous);
        }
        execution.stepCount += 1;
        const step: ExecutionStepView = {
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
        };
        running.set(key, step);
        changedSteps.add(step);
        execution.status = execution.status === 'paused' ? 'paused' : 'running';
        execution.currentStepId = stepId;
        execution.waitReason = null;
      };
      switch (event.type) {
        case 'StepStarted':
          begin(event.data.stepId, event.data.stepType, event.data);
          break;
        case 'StepCompleted':
        case 'StepFailed': {
          const { stepId, attempt } = event.data;
          // Recorded with its start (a step whose effects are all in the log).
          if (event.type === 'StepCompleted' && event.data.started) begin(stepId, event.data.stepType, event.data.started);
          const key = `${execution.id}:${stepId}:${attempt}`;
          const step = running.get(key);
          if (!step) throw new ProjectionError(`step ${key} finished but never started`);
          running.delete(key);
          changedSteps.add(step);
          const endedAt = new Date(event.type === 'StepCompleted' ? event.data.completedAt : event.data.failedAt);
          step.endedAt = endedAt;
          step.durationMs = endedAt.getTime() - step.startedAt.getTime();
          if (event.type === 'StepCompleted') {
            step.status = 'completed';
            step.output = event.data.output;
            execution.currentStepId = event.data.nextStepId;
            if (execution.status !== 'paused') execution.status = 'running';
            due(execution.status === 'paused' ? null : endedAt);
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
            due(execution.dueAt);
          }
          break;
        case 'ExecutionWaiting':
          note('waiting', { stepId: event.data.stepId, until: event.data.until, reason: event.data.reason });
          execution.currentStepId = event.data.stepId;
          execution.waitReason = event.data.reason;
          execution.dueAt = new Date(event.data.until);
          if (execution.status !== 'paused') {
            execution.status = 'waiting';
            due(execution.dueAt);
          }
          break;
        case 'ExecutionPaused':
          note('paused', { by: event.data.by, reason: event.data.reason });
          execution.status = 'paused';
          due(null);
          break;
        case 'ExecutionResumed':
          note('resumed', { dueAt: event.data.dueAt });
          execution.dueAt = new Date(event.data.dueAt);
          execution.status = execution.dueAt.getTime() > Date.parse(event.data.resumedAt) ? 'waiting' : 'running';
          due(execution.dueAt);
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
          due(null);
        }
      }
      execution.updatedAt = at;
      execution.revision = event.revision;
    }
    await writeExecutions(em, [...changedExecutions]);
    await writeSteps(em, [...changedSteps]);
    await writeQueue(em, queue);
  },
};

const date = (value: Date | string) => new Date(value);
const dateOrNull = (value: Date | string | null) => (value === null ? null : new Date(value));
/** A batch's rows as one JSON parameter, for jsonb_to_recordset (timestamps as ISO text). */
const json = (rows: object[]) => JSON.stringify(rows);

/** The rows of these executions as the fold works on them. */
async function loadExecutions(em: EntityManager, ids: string[]): Promise<ExecutionView[]> {
  const rows = await executeBound<ExecutionView & { durationMs: string | number | null }>(
    em,
    `SELECT id, organization_id AS "organizationId", workflow_id AS "workflowId", version, contact_id AS "contactId", status,
            current_step_id AS "currentStepId", wait_reason AS "waitReason", due_at AS "dueAt", cause_type AS "causeType",
            cause_id AS "causeId", error, exit_reason AS "exitReason", step_count AS "stepCount", timeline, started_at AS "startedAt",
            ended_at AS "endedAt", duration_ms AS "durationMs", updated_at AS "updatedAt", revision
     FROM workflow_executions WHERE id IN (SELECT value::uuid FROM json_array_elements_text(?::json))`,
    [JSON.stringify(ids)],
  );
  // The ORM's connection hands timestamps (and bigints) back as text.
  return rows.map((row) => ({
    ...row,
    dueAt: dateOrNull(row.dueAt),
    startedAt: date(row.startedAt),
    endedAt: dateOrNull(row.endedAt),
    durationMs: row.durationMs === null ? null : Number(row.durationMs),
    updatedAt: date(row.updatedAt),
  }));
}

/** The attempts of these executions still running (a step finishing, or taken over, in this batch). */
async function loadRunningSteps(em: EntityManager, ids: string[]): Promise<ExecutionStepView[]> {
  const rows = await executeBound<ExecutionStepView & { durationMs: string | number | null }>(
    em,
    `SELECT execution_id AS "executionId", seq, organization_id AS "organizationId", step_id AS "stepId", step_type AS "stepType",
            attempt, status, idempotency_key AS "idempotencyKey", takeover, input, output, error, started_at AS "startedAt",
            ended_at AS "endedAt", duration_ms AS "durationMs"
     FROM workflow_execution_steps
     WHERE execution_id IN (SELECT value::uuid FROM json_array_elements_text(?::json)) AND status = 'running'`,
    [JSON.stringify(ids)],
  );
  return rows.map((row) => ({
    ...row,
    startedAt: date(row.startedAt),
    endedAt: dateOrNull(row.endedAt),
    durationMs: row.durationMs === null ? null : Number(row.durationMs),
  }));
}

/** New and changed executions in one statement. */
async function writeExecutions(em: EntityManager, rows: ExecutionView[]): Promise<void> {
  if (rows.length === 0) return;
  await writeBound(
    em,
    `INSERT INTO workflow_executions (id, organization_id, workflow_id, version, contact_id, status, current_step_id, wait_reason, due_at,
                                      cause_type, cause_id, error, exit_reason, step_count, timeline, started_at, ended_at, duration_ms,
                                      updated_at, revision)
     SELECT id, organization_id, workflow_id, version, contact_id, status, current_step_id, wait_reason, due_at, cause_type, cause_id,
            error, exit_reason, step_count, timeline, started_at, ended_at, duration_ms, updated_at, revision
     FROM jsonb_to_recordset(?::jsonb) AS r(id uuid, organization_id uuid, workflow_id uuid, version integer, contact_id uuid, status text,
          current_step_id text, wait_reason text, due_at timestamptz, cause_type text, cause_id text, error jsonb, exit_reason text,
          step_count integer, timeline jsonb, started_at timestamptz, ended_at timestamptz, duration_ms bigint, updated_at timestamptz,
          revision integer)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, current_step_id = EXCLUDED.current_step_id, wait_reason = EXCLUDED.wait_reason,
            due_at = EXCLUDED.due_at, error = EXCLUDED.error, exit_reason = EXCLUDED.exit_reason, step_count = EXCLUDED.step_count,
            timeline = EXCLUDED.timeline, ended_at = EXCLUDED.ended_at, duration_ms = EXCLUDED.duration_ms,
            updated_at = EXCLUDED.updated_at, revision = EXCLUDED.revision`,
    [
      json(
        rows.map((row) => ({
          id: row.id,
          organization_id: row.organizationId,
          workflow_id: row.workflowId,
          version: row.version,
          contact_id: row.contactId,
          status: row.status,
          current_step_id: row.currentStepId,
          wait_reason: row.waitReason,
          due_at: row.dueAt?.toISOString() ?? null,
          cause_type: row.causeType,
          cause_id: row.causeId,
          error: row.error,
          exit_reason: row.exitReason,
          step_count: row.stepCount,
          timeline: row.timeline,
          started_at: row.startedAt.toISOString(),
          ended_at: row.endedAt?.toISOString() ?? null,
          duration_ms: row.durationMs,
          updated_at: row.updatedAt.toISOString(),
          revision: row.revision,
        })),
      ),
    ],
  );
}

/** New and changed step attempts in one statement. */
async function writeSteps(em: EntityManager, rows: ExecutionStepView[]): Promise<void> {
  if (rows.length === 0) return;
  await writeBound(
    em,
    `INSERT INTO workflow_execution_steps (execution_id, seq, organization_id, step_id, step_type, attempt, status, idempotency_key, takeover,
                                           input, output, error, started_at, ended_at, duration_ms)
     SELECT execution_id, seq, organization_id, step_id, step_type, attempt, status, idempotency_key, takeover, input, output, error,
            started_at, ended_at, duration_ms
     FROM jsonb_to_recordset(?::jsonb) AS r(execution_id uuid, seq integer, organization_id uuid, step_id text, step_type text, attempt integer,
          status text, idempotency_key text, takeover boolean, input jsonb, output jsonb, error jsonb, started_at timestamptz,
          ended_at timestamptz, duration_ms integer)
     ON CONFLICT (execution_id, seq) DO UPDATE SET status = EXCLUDED.status, output = EXCLUDED.output, error = EXCLUDED.error,
            ended_at = EXCLUDED.ended_at, duration_ms = EXCLUDED.duration_ms`,
    [
      json(
        rows.map((row) => ({
          execution_id: row.executionId,
          seq: row.seq,
          organization_id: row.organizationId,
          step_id: row.stepId,
          step_type: row.stepType,
          attempt: row.attempt,
          status: row.status,
          idempotency_key: row.idempotencyKey,
          takeover: row.takeover,
          input: row.input,
          output: row.output,
          error: row.error,
          started_at: row.startedAt.toISOString(),
          ended_at: row.endedAt?.toISOString() ?? null,
          duration_ms: row.durationMs,
        })),
      ),
    ],
  );
}

/**
 * The batch's queue rows in one statement. A row already known at a later revision is left as it is: the
 * runner that wrote those events recorded their due time when it let the execution go (so it never waits
 * for this projection to see its own progress), and an older due time must never come back.
 */
async function writeQueue(em: EntityManager, rows: Map<string, QueueRow>): Promise<void> {
  if (rows.size === 0) return;
  await writeBound(
    em,
    `INSERT INTO workflow_execution_queue (execution_id, organization_id, due_at, revision)
     SELECT execution_id, organization_id, due_at, revision
       FROM jsonb_to_recordset(?::jsonb) AS r(execution_id uuid, organization_id uuid, due_at timestamptz, revision integer)
     ON CONFLICT (execution_id) DO UPDATE SET due_at = EXCLUDED.due_at, revision = EXCLUDED.revision
      WHERE workflow_execution_queue.revision < EXCLUDED.revision`,
    [
      json(
        [...rows].map(([executionId, row]) => ({
          execution_id: executionId,
          organization_id: row.organizationId,
          due_at: row.dueAt?.toISOString() ?? null,
          revision: row.revision,
        })),
      ),
    ],
  );
}
