import type { ResourceWithOptions } from 'adminjs';
import { executionStream } from '../../../domain/workflows/execution.ts';
import { ExecutionViewSchema } from '../../../projectors/workflows/workflow-views.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { historyAction, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** Workflow executions, read-only. */
export function executionsResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const resource = new ReadModelResource({
    id: 'Execution',
    orm: deps.orm,
    entity: ExecutionViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'workflowId', type: 'reference', reference: 'Workflow' },
      { path: 'organizationId', type: 'reference', reference: 'Organization' },
      { path: 'status', type: 'string' },
      { path: 'currentStepId', type: 'string' },
      { path: 'error', type: 'mixed' },
      { path: 'stepCount', type: 'number' },
      { path: 'startedAt', type: 'datetime' },
      { path: 'endedAt', type: 'datetime' },
      { path: 'durationMs', type: 'number' },
    ],
  });
  return {
    resource,
    options: {
      navigation: navigation.activity,
      listProperties: ['id', 'workflowId', 'organizationId', 'status', 'startedAt', 'endedAt'],
      actions: { ...readOnly, history: historyAction(executionStream) },
    },
  };
}
