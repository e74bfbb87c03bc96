import type { ResourceWithOptions } from 'adminjs';
import { workflowStream } from '../../../domain/workflows/workflow.ts';
import { WorkflowViewSchema } from '../../../projectors/workflows/workflow-views.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { historyAction, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** Tenants' workflows, read-only. */
export function workflowsResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const resource = new ReadModelResource({
    id: 'Workflow',
    orm: deps.orm,
    entity: WorkflowViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'name', type: 'string' },
      { path: 'organizationId', type: 'reference', reference: 'Organization' },
      { path: 'status', type: 'string' },
      { path: 'version', type: 'number' },
      { path: 'triggerType', type: 'string' },
      { path: 'createdAt', type: 'datetime' },
      { path: 'updatedAt', type: 'datetime' },
    ],
  });
  return { resource, options: { navigation: navigation.activity, actions: { ...readOnly, history: historyAction(workflowStream) } } };
}
