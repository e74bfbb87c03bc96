import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import type { ExecutionStarter } from '../../command-api/workflows/execution-starter.ts';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent, type EngagementKind } from '../../domain/contacts/contact.ts';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { CommandContext, RecordedEvent } from '../../domain/events.ts';
import { conditionsHold } from '../../domain/workflows/conditions.ts';
import type { WorkflowDefinition } from '../../domain/workflows/definition.ts';
import { executionDecider, executionStream, type ExecutionCommand } from '../../domain/workflows/execution.ts';
import { contactSnapshotOf } from '../../domain/workflows/steps/step-type.ts';
import { executeBound, pgArray } from '../../infra/readmodels/orm.ts';
import { DependencyUnavailableError } from '../../infra/resilience.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { occurrences } from '../../domain/workflows/schedule.ts';
import { workflowDecider, workflowStream, type Workflow, type WorkflowEvent } from '../../domain/workflows/workflow.ts';
import type { ScheduleFirer } from './scheduler/schedule-firer.ts';
import { ExecutionViewSchema, WorkflowViewSchema, type WorkflowView } from './workflow-views.ts';
import { PlanLimitReachedError } from '../../domain/billing/quota.ts';

/** Read models a reactor consults must include the event it reacts to, or it would miss recent changes. */
export interface ReadModelProgress {
  waitFor(projections: readonly string[], position: string, timeoutMs: number): Promise<boolean>;
}

export interface ReactorDependencies {
  handler: CommandHandler;
  starter: ExecutionStarter;
  progress: ReadModelProgress;
  firer: ScheduleFirer;
  logger: Logger;
}

const activeStatuses = ['running', 'waiting', 'paused'];

async function readModelsAt(progress: ReadModelProgress, projections: string[], event: RecordedEvent): Promise<void> {
  if (!(await progress.waitFor(projections, event.position, 10_000))) {
    // Waited out like an outage: the runner retries the batch later; nothing is parked or skipped.
    throw new DependencyUnavailableError(`read models ${projections.join(', ')}`, `not at ${event.position} yet`);
  }
}

function contextFrom(event: RecordedEvent, organizationId: string, actor: string): CommandContext {
  return {
    tenantId: organizationId,
    actor: { type: 'system', id: actor },
    correlationId: event.metadata.correlationId,
    causationId: event.id,
    now: new Date(),
  };
}

/** Which event trigger an event is, and what it carries for the trigger's own filter. */
function triggerOf(
  event: RecordedEvent,
): { event: 'contact.created' | 'contact.tag_added' | 'contact.field_changed'; tag?: string; fields?: string[] } | null {
  switch (event.type) {
    case 'ContactCreated':
      return { event: 'contact.created' };
    case 'ContactTagged':
      return { event: 'contact.tag_added', tag: (event.data as { tag: string }).tag };
    case 'ContactUpdated': {
      const changes = (event.data as { changes: Record<string, unknown> }).changes;
      const fields = Object.keys(changes).flatMap((key) =>
        key === 'customFields' ? Object.keys(changes.customFields as Record<string, unknown>).map((k) => `customFields.${k}`) : [key],
      );
      return { event: 'contact.field_changed', fields };
    }
    default:
      return null;
  }
}

/**
 * Starts executions of workflows whose event trigger matches a contact event (created, tagged, a field
 * changed), and stops executions whose exit rules match an engagement (replied, bounced...). The event's id
 * is the cause: a redelivered event starts nothing new.
 */
export function contactEventReactor(deps: ReactorDependencies): Projection {
  return {
    name: 'workflow-contact-reactor',
    reactor: true,
    eventTypes: new Set(['ContactCreated', 'ContactTagged', 'ContactUpdated', 'ContactEngagementRecorded']),
    async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
      // One look at the workflows for the whole batch: most contact events match no trigger at all.
      const triggering = events.filter((event) => triggerOf(event) !== null);
      const organizations = [...new Set(triggering.map((event) => event.metadata.tenantId).filter((id): id is string => id !== null))];
      let candidates: Pick<WorkflowView, 'id' | 'organizationId' | 'definition'>[] = [];
      if (organizations.length > 0) {
        await readModelsAt(deps.progress, ['workflows'], triggering[triggering.length - 1]!);
        // Three columns in one bound statement, not the ORM's entities: this runs for every batch of contact events.
        candidates = await executeBound<Pick<WorkflowView, 'id' | 'organizationId' | 'definition'>>(
          em,
          `SELECT id, organization_id AS "organizationId", definition FROM workflows
           WHERE organization_id = ANY(?::uuid[]) AND status = 'active' AND trigger_type = 'event'`,
          [pgArray(organizations)],
        );
      }
      for (const event of events) {
        const organizationId = event.metadata.tenantId;
        if (!organizationId) throw new ProjectionError(`${event.type} ${event.id} has no tenant`);
        const contactId = (event.data as { contactId: string }).contactId;
        if (event.type === 'ContactEngagementRecorded') {
          await exitOnEngagement(deps, em, event, organizationId, contactId, (event.data as { kind: EngagementKind }).kind);
          continue;
        }
        const trigger = triggerOf(event);
        if (!trigger) continue;
        const matching = candidates.filter((workflow) => {
          if (workflow.organizationId !== organizationId) return false;
          const t = (workflow.definition as unknown as WorkflowDefinition).trigger;
          if (t.type !== 'event' || t.event !== trigger.event) return false;
          if (t.tag && t.tag !== trigger.tag) return false;
          if (t.field && !trigger.fields?.includes(t.field)) return false;
          return true;
        });
        if (matching.length === 0) continue;
        const contact = (await deps.handler.load<Contact, ContactEvent>(contactStream(contactId), contactDecider)).state;
        if (contact.status !== 'active') continue;
        for (const workflow of matching) {
          const filter = ((workflow.definition as unknown as WorkflowDefinition).trigger as { filter?: Parameters<typeof conditionsHold>[1] }).filter;
          if (filter && !conditionsHold(contactSnapshotOf(contact), filter)) continue;
          try {
            await deps.starter.start(contextFrom(event, organizationId, 'workflow-triggers'), {
              organizationId,
              workflowId: workflow.id,
              contactId,
              cause: { type: 'event', id: event.id },
            });
          } catch (err) {
            // Paused or deleted since the read model said otherwise: nothing to start.
            if (err instanceof NotFoundError || (err instanceof ConflictError && err.code === 'workflow_paused')) continue;
            // The plan's executions for this billing period are spent: the trigger starts nothing (not retried).
            if (err instanceof PlanLimitReachedError) {
              deps.logger.warn({ organizationId, workflowId: workflow.id, contactId, limit: err.limit }, err.message);
              continue;
            }
            throw err;
          }
        }
      }
    },
  };
}

async function exitOnEngagement(
  deps: ReactorDependencies,
  em: EntityManager,
  event: RecordedEvent,
  organizationId: string,
  contactId: string,
  kind: EngagementKind,
): Promise<void> {
  await readModelsAt(deps.progress, ['workflows', 'executions'], event);
  const executions = await em.find(ExecutionViewSchema, { organizationId, contactId, status: { $in: activeStatuses } }, { filters: false });
  for (const execution of executions) {
    const workflow = await em.findOne(WorkflowViewSchema, { id: execution.workflowId }, { filters: false });
    const settings = (workflow?.definition as unknown as WorkflowDefinition | undefined)?.settings;
    if (!settings?.exitOn.includes(kind)) continue;
    // Only engagement with this execution's emails: a reply recorded before the execution started does not count.
    if (kind === 'replied' && Date.parse((event.data as { at: string }).at) < execution.startedAt.getTime()) continue;
    await act(deps, execution.id, event, organizationId, {
      type: 'ExitExecution',
      data: { reason: kind, action: settings.exitAction, stepId: execution.currentStepId ?? '', now: new Date().toISOString() },
    });
  }
}

async function backfill(deps: ReactorDependencies, event: RecordedEvent, workflowId: string, organizationId: string): Promise<void> {
  const { from, to } = event.data as { from: string; to: string };
  const { state } = await deps.handler.load<Workflow, WorkflowEvent>(workflowStream(workflowId), workflowDecider);
  if (state.status !== 'active') return;
  const trigger = state.versions[state.version]!.trigger;
  if (trigger.type !== 'schedule') return;
  // The range includes its start: occurrences() counts strictly after its first argument.
  for (const fireAt of occurrences(trigger.cron, trigger.timezone, new Date(Date.parse(from) - 1), new Date(to), 1_000)) {
    await deps.firer.fire({ id: workflowId, organizationId }, trigger, fireAt);
  }
}

async function act(
  deps: ReactorDependencies,
  executionId: string,
  event: RecordedEvent,
  organizationId: string,
  command: ExecutionCommand,
): Promise<void> {
  try {
    await deps.handler.handle(executionStream(executionId), executionDecider, command, contextFrom(event, organizationId, 'workflow-lifecycle'));
  } catch (err) {
    // Ended meanwhile: nothing to do.
    if (err instanceof ConflictError && err.code === 'execution_ended') return;
    throw err;
  }
}

/**
 * A workflow paused, resumed or deleted acts on its executions: pausing pauses the active ones (the runner
 * also refuses to advance any of a paused workflow), resuming resumes those its pause paused, deleting
 * cancels them. A backfill makes a schedule's firings in a past range (each execution at most once).
 */
export function workflowLifecycleReactor(deps: ReactorDependencies): Projection {
  return {
    name: 'workflow-lifecycle-reactor',
    reactor: true,
    eventTypes: new Set(['WorkflowPaused', 'WorkflowResumed', 'WorkflowDeleted', 'WorkflowBackfillRequested']),
    async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
      for (const event of events) {
        const { workflowId, organizationId } = event.data as { workflowId: string; organizationId: string };
        if (event.type === 'WorkflowBackfillRequested') {
          await backfill(deps, event, workflowId, organizationId);
          continue;
        }
        await readModelsAt(deps.progress, ['executions'], event);
        const now = new Date().toISOString();
        const statuses = event.type === 'WorkflowResumed' ? ['paused'] : activeStatuses;
        const executions = await em.find(
          ExecutionViewSchema,
          { organizationId, workflowId, status: { $in: statuses } },
          { filters: false, fields: ['id'] },
        );
        const command: ExecutionCommand =
          event.type === 'WorkflowPaused'
            ? { type: 'PauseExecution', data: { by: 'workflow', reason: 'workflow paused', now } }
            : event.type === 'WorkflowResumed'
              ? { type: 'ResumeExecution', data: { now, onlyIfPausedBy: 'workflow' } }
              : { type: 'CancelExecution', data: { reason: 'workflow deleted', now } };
        for (const execution of executions) await act(deps, execution.id, event, organizationId, command);
      }
    },
  };
}
