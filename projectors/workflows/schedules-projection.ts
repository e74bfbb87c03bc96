import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { nextOccurrence } from '../../domain/workflows/schedule.ts';
import type { WorkflowEvent } from '../../domain/workflows/workflow.ts';
import type { Projection } from '../runner/projection.ts';
import { ScheduleSchema, type ScheduleEntry } from './workflow-views.ts';

/**
 * Which workflows fire on a schedule. Times come from the events (when the schedule was set or resumed),
 * never the clock, so replaying the log rebuilds the same table. A resume fires from the resume on: what
 * a pause skipped is only made up by an explicit backfill.
 */
export const schedulesProjection: Projection = {
  name: 'workflow-schedules',
  eventTypes: new Set(['WorkflowCreated', 'WorkflowUpdated', 'WorkflowPaused', 'WorkflowResumed', 'WorkflowDeleted']),
  feedsRunner: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<WorkflowEvent>[];
    const ids = [...new Set(handled.map((e) => e.data.workflowId))];
    const rows = new Map<string, ScheduleEntry>((await em.find(ScheduleSchema, { workflowId: { $in: ids } })).map((r) => [r.workflowId, r]));
    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      const row = rows.get(event.data.workflowId);
      switch (event.type) {
        case 'WorkflowCreated':
        case 'WorkflowUpdated': {
          const trigger = event.data.definition.trigger;
          if (trigger.type !== 'schedule') {
            if (row) row.status = 'deleted';
            break;
          }
          if (!row) {
            rows.set(
              event.data.workflowId,
              em.create(ScheduleSchema, {
                workflowId: event.data.workflowId,
                organizationId: event.data.organizationId,
                cron: trigger.cron,
                timezone: trigger.timezone,
                status: 'active',
                nextFireAt: nextOccurrence(trigger.cron, trigger.timezone, at),
                lastFiredAt: null,
                leaseUntil: null,
                revision: event.revision,
              }),
            );
            break;
          }
          if (row.cron !== trigger.cron || row.timezone !== trigger.timezone || row.status === 'deleted') {
            row.cron = trigger.cron;
            row.timezone = trigger.timezone;
            row.nextFireAt = nextOccurrence(trigger.cron, trigger.timezone, at);
          }
          if (row.status === 'deleted') row.status = 'active';
          row.revision = event.revision;
          break;
        }
        case 'WorkflowPaused':
          if (row && row.status === 'active') row.status = 'paused';
          break;
        case 'WorkflowResumed':
          if (row && row.status === 'paused') {
            row.status = 'active';
            row.nextFireAt = nextOccurrence(row.cron, row.timezone, at);
          }
          break;
        case 'WorkflowDeleted':
          if (row) row.status = 'deleted';
          break;
      }
    }
  },
};
