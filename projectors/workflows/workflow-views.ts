import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/** A workflow with its latest version's definition. */
export interface WorkflowView {
  id: string;
  organizationId: string;
  name: string;
  description: string | null;
  status: 'active' | 'paused' | 'deleted';
  version: number;
  triggerType: string;
  definition: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  revision: number;
}

export const WorkflowViewSchema = new EntitySchema<WorkflowView>({
  name: 'WorkflowView',
  tableName: 'workflows',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    name: { type: 'text' },
    description: { type: 'text', nullable: true },
    status: { type: 'text' },
    version: { type: 'integer' },
    triggerType: { type: 'text' },
    definition: { type: 'json' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});

/** One execution: where it is, and a timeline of what happened to it besides its steps. */
export interface ExecutionView {
  id: string;
  organizationId: string;
  workflowId: string;
  version: number;
  contactId: string;
  status: string;
  currentStepId: string | null;
  waitReason: string | null;
  dueAt: Date | null;
  causeType: string;
  causeId: string;
  error: { code: string; message: string } | null;
  exitReason: string | null;
  stepCount: number;
  timeline: { type: string; at: string; [detail: string]: unknown }[];
  startedAt: Date;
  endedAt: Date | null;
  durationMs: number | null;
  updatedAt: Date;
  revision: number;
}

export const ExecutionViewSchema = new EntitySchema<ExecutionView>({
  name: 'ExecutionView',
  tableName: 'workflow_executions',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    workflowId: { type: 'uuid' },
    version: { type: 'integer' },
    contactId: { type: 'uuid' },
    status: { type: 'text' },
    currentStepId: { type: 'text', nullable: true },
    waitReason: { type: 'text', nullable: true },
    dueAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    causeType: { type: 'text' },
    causeId: { type: 'text' },
    error: { type: 'json', nullable: true },
    exitReason: { type: 'text', nullable: true },
    stepCount: { type: 'integer' },
    timeline: { type: 'json' },
    startedAt: { type: 'datetime', columnType: 'timestamptz' },
    endedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    durationMs: { type: 'bigint', nullable: true, runtimeType: 'number' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});

/** One attempt of one step: inputs, outputs, errors, timings. */
export interface ExecutionStepView {
  executionId: string;
  seq: number;
  organizationId: string;
  stepId: string;
  stepType: string;
  attempt: number;
  status: 'running' | 'completed' | 'failed';
  idempotencyKey: string;
  takeover: boolean;
  input: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  startedAt: Date;
  endedAt: Date | null;
  durationMs: number | null;
}

export const ExecutionStepViewSchema = new EntitySchema<ExecutionStepView>({
  name: 'ExecutionStepView',
  tableName: 'workflow_execution_steps',
  properties: {
    executionId: { type: 'uuid', primary: true },
    seq: { type: 'integer', primary: true },
    organizationId: { type: 'uuid' },
    stepId: { type: 'text' },
    stepType: { type: 'text' },
    attempt: { type: 'integer' },
    status: { type: 'text' },
    idempotencyKey: { type: 'text' },
    takeover: { type: 'boolean' },
    input: { type: 'json', nullable: true },
    output: { type: 'json', nullable: true },
    error: { type: 'json', nullable: true },
    startedAt: { type: 'datetime', columnType: 'timestamptz' },
    endedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    durationMs: { type: 'integer', nullable: true },
  },
  filters: tenantFilter(),
});

/**
 * When each execution is due, for the runner: durable timers. A row per execution; `dueAt` null when it
 * is not runnable (paused, ended). The executions projection writes `dueAt` from the log; a runner writes
 * its lease, and, when it lets an execution go, the due time of the state it just wrote (newer knowledge
 * wins, by `revision`): the runner never waits for the projection to learn what it did itself.
 */
export interface ExecutionQueueEntry {
  executionId: string;
  organizationId: string;
  dueAt: Date | null;
  /**
   * The revision of the execution's stream `dueAt` was known at. The runner (which knows the state it just
   * wrote) and the executions projection (which learns it later from the log) both write the row; only newer
   * knowledge replaces it, so neither ever puts back an older due time.
   */
  revision: number;
  leaseOwner: string | null;
  leaseUntil: Date | null;
}

export const ExecutionQueueSchema = new EntitySchema<ExecutionQueueEntry>({
  name: 'ExecutionQueueEntry',
  tableName: 'workflow_execution_queue',
  properties: {
    executionId: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    dueAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revision: { type: 'integer' },
    leaseOwner: { type: 'text', nullable: true },
    leaseUntil: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});

/**
 * Workflows with a schedule trigger and when each fires next, for the scheduler. The projection sets the
 * schedule (and its first firing after the event that set it); schedulers move `nextFireAt` as they fire.
 */
export interface ScheduleEntry {
  workflowId: string;
  organizationId: string;
  cron: string;
  timezone: string;
  status: 'active' | 'paused' | 'deleted';
  nextFireAt: Date | null;
  lastFiredAt: Date | null;
  /** A scheduler firing it holds it until then. */
  leaseUntil: Date | null;
  revision: number;
}

export const ScheduleSchema = new EntitySchema<ScheduleEntry>({
  name: 'ScheduleEntry',
  tableName: 'workflow_schedules',
  properties: {
    workflowId: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    cron: { type: 'text' },
    timezone: { type: 'text' },
    status: { type: 'text' },
    nextFireAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    lastFiredAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    leaseUntil: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revision: { type: 'integer' },
  },
});
