import type { RecordedEvent } from '../../domain/events.ts';
import type { ExecutionEvent } from '../../domain/workflows/execution.ts';
import type { WorkflowEvent } from '../../domain/workflows/workflow.ts';
import type { Projection } from '../runner/projection.ts';
import type { IntegrationEventBus, IntegrationMessage } from './integration-event-bus.ts';

type Published = Extract<
  WorkflowEvent | ExecutionEvent,
  {
    type: 'WorkflowCreated' | 'WorkflowUpdated' | 'WorkflowDeleted' | 'ExecutionStarted' | 'ExecutionCompleted' | 'ExecutionFailed' | 'StepCompleted';
  }
>;

/** Our events → the integration events the product documents (Workflow Engine, "Events Published"). */
export function toIntegrationMessage(event: RecordedEvent<Published>): IntegrationMessage {
  const base = {
    id: event.id,
    organizationId: event.metadata.tenantId ?? '',
    occurredAt: event.metadata.occurredAt,
    correlationId: event.metadata.correlationId,
  };
  switch (event.type) {
    case 'WorkflowCreated':
    case 'WorkflowUpdated': {
      const { workflowId, name, version, definition } = event.data;
      return {
        ...base,
        type: event.type === 'WorkflowCreated' ? 'workflow.created' : 'workflow.updated',
        data: { workflowId, name, version, trigger: definition.trigger.type },
      };
    }
    case 'WorkflowDeleted':
      return { ...base, type: 'workflow.deleted', data: { workflowId: event.data.workflowId } };
    case 'ExecutionStarted': {
      const { executionId, workflowId, version, contactId, cause } = event.data;
      return { ...base, type: 'workflow.execution.started', data: { executionId, workflowId, version, contactId, cause } };
    }
    case 'ExecutionCompleted':
      return { ...base, type: 'workflow.execution.completed', data: { executionId: event.data.executionId, workflowId: event.data.workflowId } };
    case 'ExecutionFailed': {
      const { executionId, workflowId, stepId, error } = event.data;
      return { ...base, type: 'workflow.execution.failed', data: { executionId, workflowId, stepId, error } };
    }
    case 'StepCompleted': {
      const { executionId, workflowId, stepId, stepType, attempt } = event.data;
      return { ...base, type: 'workflow.step.completed', data: { executionId, workflowId, stepId, stepType, attempt } };
    }
  }
}

/**
 * Publishes integration events from the event store subscription, at least once: a batch is published and
 * confirmed before the checkpoint moves (in the same runner, same transaction as the checkpoint), so a
 * broker outage leaves the checkpoint where it was and publishing resumes from there when it returns.
 */
export function workflowEventsPublisher(bus: IntegrationEventBus): Projection {
  return {
    name: 'integration-events',
    background: true,
    eventTypes: new Set([
      'WorkflowCreated',
      'WorkflowUpdated',
      'WorkflowDeleted',
      'ExecutionStarted',
      'ExecutionCompleted',
      'ExecutionFailed',
      'StepCompleted',
    ]),
    async apply(events: RecordedEvent[]): Promise<void> {
      await bus.publish((events as RecordedEvent<Published>[]).map(toIntegrationMessage));
    },
  };
}
