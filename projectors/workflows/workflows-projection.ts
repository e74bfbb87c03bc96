import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { workflowEventTypes, type WorkflowEvent } from '../../domain/workflows/workflow.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { WorkflowViewSchema, type WorkflowView } from './workflow-views.ts';

export const workflowsProjection: Projection = {
  name: 'workflows',
  eventTypes: new Set(workflowEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<WorkflowEvent>[];
    const ids = [...new Set(handled.map((e) => e.data.workflowId))];
    const rows = new Map<string, WorkflowView>((await em.find(WorkflowViewSchema, { id: { $in: ids } }, { filters: false })).map((w) => [w.id, w]));
    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'WorkflowCreated') {
        const { workflowId, organizationId, name, description, definition } = event.data;
        if (rows.has(workflowId)) throw new ProjectionError(`workflow ${workflowId} already exists`);
        rows.set(
          workflowId,
          em.create(WorkflowViewSchema, {
            id: workflowId,
            organizationId,
            name,
            description,
            status: 'active',
            version: 1,
            triggerType: definition.trigger.type,
            definition: definition as unknown as Record<string, unknown>,
            createdAt: at,
            updatedAt: at,
            revision: event.revision,
          }),
        );
        continue;
      }
      const row = rows.get(event.data.workflowId);
      if (!row) throw new ProjectionError(`workflow ${event.data.workflowId} is not in the read model`);
      switch (event.type) {
        case 'WorkflowUpdated':
          row.name = event.data.name;
          row.description = event.data.description;
          row.version = event.data.version;
          row.triggerType = event.data.definition.trigger.type;
          row.definition = event.data.definition as unknown as Record<string, unknown>;
          break;
        case 'WorkflowPaused':
          row.status = 'paused';
          break;
        case 'WorkflowResumed':
          row.status = 'active';
          break;
        case 'WorkflowDeleted':
          row.status = 'deleted';
          break;
      }
      row.updatedAt = at;
      row.revision = event.revision;
    }
  },
};
