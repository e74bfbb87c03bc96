import { ConflictError, NotFoundError, RuleViolationError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';
import type { WorkflowDefinition } from './definition.ts';

/**
 * A workflow definition, versioned: every update records a new version, and an execution keeps the version
 * it started on (its events name it), so editing a workflow never changes what is already running.
 */
export type WorkflowCreated = DomainEvent<
  'WorkflowCreated',
  { workflowId: string; organizationId: string; name: string; description: string | null; version: 1; definition: WorkflowDefinition }
>;
export type WorkflowUpdated = DomainEvent<
  'WorkflowUpdated',
  { workflowId: string; organizationId: string; name: string; description: string | null; version: number; definition: WorkflowDefinition }
>;
export type WorkflowPaused = DomainEvent<'WorkflowPaused', { workflowId: string; organizationId: string }>;
export type WorkflowResumed = DomainEvent<'WorkflowResumed', { workflowId: string; organizationId: string }>;
export type WorkflowDeleted = DomainEvent<'WorkflowDeleted', { workflowId: string; organizationId: string }>;
/** Firings of a schedule in a past range, to be made now (those that already happened start nothing new). */
export type WorkflowBackfillRequested = DomainEvent<
  'WorkflowBackfillRequested',
  { workflowId: string; organizationId: string; from: string; to: string }
>;
export type WorkflowEvent = WorkflowCreated | WorkflowUpdated | WorkflowPaused | WorkflowResumed | WorkflowDeleted | WorkflowBackfillRequested;

export const workflowEventTypes = [
  'WorkflowCreated',
  'WorkflowUpdated',
  'WorkflowPaused',
  'WorkflowResumed',
  'WorkflowDeleted',
  'WorkflowBackfillRequested',
] as const satisfies readonly WorkflowEvent['type'][];

export type Workflow =
  | { status: 'absent' }
  | {
      status: 'active' | 'paused' | 'deleted';
      id: string;
      organizationId: string;
      name: string;
      description: string | null;
      version: number;
      /** Every version's definition: executions run the one they started on. */
      versions: Record<number, WorkflowDefinition>;
    };

type Existing = Exclude<Workflow, { status: 'absent' }>;

export type CreateWorkflow = { type: 'CreateWorkflow'; data: Omit<WorkflowCreated['data'], 'version'> };
export type UpdateWorkflow = {
  type: 'UpdateWorkflow';
  data: { workflowId: string; organizationId: string; name: string; description: string | null; definition: WorkflowDefinition };
};
export type PauseWorkflow = { type: 'PauseWorkflow'; data: { workflowId: string; organizationId: string } };
export type ResumeWorkflow = { type: 'ResumeWorkflow'; data: { workflowId: string; organizationId: string } };
export type DeleteWorkflow = { type: 'DeleteWorkflow'; data: { workflowId: string; organizationId: string } };
export type BackfillSchedule = { type: 'BackfillSchedule'; data: WorkflowBackfillRequested['data'] & { now: string } };
export type WorkflowCommand = CreateWorkflow | UpdateWorkflow | PauseWorkflow | ResumeWorkflow | DeleteWorkflow | BackfillSchedule;

export const workflowStream = (workflowId: string) => `workflow-${workflowId}`;
export const initialWorkflow: Workflow = { status: 'absent' };

export function evolveWorkflow(state: Workflow, event: WorkflowEvent): Workflow {
  switch (event.type) {
    case 'WorkflowCreated': {
      const { workflowId, organizationId, name, description, definition } = event.data;
      return { status: 'active', id: workflowId, organizationId, name, description, version: 1, versions: { 1: definition } };
    }
    case 'WorkflowUpdated':
      if (state.status === 'absent') return state;
      return {
        ...state,
        name: event.data.name,
        description: event.data.description,
        version: event.data.version,
        versions: { ...state.versions, [event.data.version]: event.data.definition },
      };
    case 'WorkflowPaused':
      return state.status === 'active' ? { ...state, status: 'paused' } : state;
    case 'WorkflowResumed':
      return state.status === 'paused' ? { ...state, status: 'active' } : state;
    case 'WorkflowDeleted':
      return state.status === 'absent' ? state : { ...state, status: 'deleted' };
    case 'WorkflowBackfillRequested':
      return state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** A deleted workflow, or one of another organization, is reported exactly like a missing one. */
function requireLive(state: Workflow, organizationId: string): Existing {
  if (state.status === 'absent' || state.status === 'deleted' || state.organizationId !== organizationId) throw new NotFoundError('Workflow');
  return state;
}

const sameDefinition = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function decideWorkflow(command: WorkflowCommand, state: Workflow): WorkflowEvent[] {
  switch (command.type) {
    case 'CreateWorkflow':
      if (state.status !== 'absent') throw new ConflictError('Workflow already exists', 'workflow_exists');
      return [{ type: 'WorkflowCreated', version: 1, data: { ...command.data, version: 1 } }];
    case 'UpdateWorkflow': {
      const workflow = requireLive(state, command.data.organizationId);
      const { name, description, definition } = command.data;
      if (workflow.name === name && workflow.description === description && sameDefinition(workflow.versions[workflow.version], definition))
        return [];
      return [{ type: 'WorkflowUpdated', version: 1, data: { ...command.data, version: workflow.version + 1 } }];
    }
    case 'PauseWorkflow': {
      const workflow = requireLive(state, command.data.organizationId);
      return workflow.status === 'paused' ? [] : [{ type: 'WorkflowPaused', version: 1, data: { ...command.data } }];
    }
    case 'ResumeWorkflow': {
      const workflow = requireLive(state, command.data.organizationId);
      return workflow.status === 'active' ? [] : [{ type: 'WorkflowResumed', version: 1, data: { ...command.data } }];
    }
    case 'DeleteWorkflow':
      requireLive(state, command.data.organizationId);
      return [{ type: 'WorkflowDeleted', version: 1, data: { ...command.data } }];
    case 'BackfillSchedule': {
      const workflow = requireLive(state, command.data.organizationId);
      if (workflow.versions[workflow.version]!.trigger.type !== 'schedule') {
        throw new RuleViolationError('Only a workflow with a schedule trigger can be backfilled', 'not_scheduled');
      }
      const { now, ...data } = command.data;
      if (Date.parse(data.to) > Date.parse(now)) throw new RuleViolationError('A backfill covers the past only', 'backfill_in_future', 'to');
      return [{ type: 'WorkflowBackfillRequested', version: 1, data }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const workflowDecider: Decider<WorkflowCommand, Workflow, WorkflowEvent> = {
  decide: decideWorkflow,
  evolve: evolveWorkflow,
  initialState: initialWorkflow,
};
