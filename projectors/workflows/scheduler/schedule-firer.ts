import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ExecutionStarter } from '../../../command-api/workflows/execution-starter.ts';
import { ConflictError, NotFoundError } from '../../../domain/errors.ts';
import type { Trigger } from '../../../domain/workflows/definition.ts';
import { ContactViewSchema } from '../../contacts/contact-view.ts';
import { ExecutionViewSchema } from '../workflow-views.ts';
import { PlanLimitReachedError } from '../../../domain/billing/quota.ts';

type ScheduleTrigger = Extract<Trigger, { type: 'schedule' }>;

const AUDIENCE_PAGE = 500;

/**
 * One firing of a schedule: an execution for every live contact of the audience (a tag), cause
 * "<firing time>:<contact>", so a firing made twice (two schedulers, a retry, a backfill over a range that
 * already fired) starts each execution once. The overlap policy decides about a contact whose previous
 * execution of the workflow is still running: skip it, queue the new one behind it, or allow both.
 */
export class ScheduleFirer {
  constructor(
    private readonly orm: MikroORM,
    private readonly starter: ExecutionStarter,
    private readonly logger: Logger,
  ) {}

  async fire(
    workflow: { id: string; organizationId: string },
    trigger: ScheduleTrigger,
    fireAt: Date,
  ): Promise<{ started: number; skipped: number }> {
    const em = this.orm.em.fork();
    const context = {
      tenantId: workflow.organizationId,
      actor: { type: 'system' as const, id: 'scheduler' },
      correlationId: `schedule:${workflow.id}:${fireAt.toISOString()}`,
      causationId: `schedule:${workflow.id}:${fireAt.toISOString()}`,
      now: new Date(),
    };
    let started = 0;
    let skipped = 0;
    let after: string | null = null;
    for (;;) {
      const contacts: { id: string }[] = await em.find(
        ContactViewSchema,
        { organizationId: workflow.organizationId, tags: { $contains: [trigger.audienceTag] }, ...(after ? { id: { $gt: after } } : {}) },
        { filters: false, orderBy: { id: 'asc' }, limit: AUDIENCE_PAGE, fields: ['id'] },
      );
      if (contacts.length === 0) break;
      after = contacts[contacts.length - 1]!.id;
      const running = await em.find(
        ExecutionViewSchema,
        { workflowId: workflow.id, contactId: { $in: contacts.map((c) => c.id) }, status: { $in: ['running', 'waiting', 'paused'] } },
        { filters: false, fields: ['id', 'contactId', 'causeId'] },
      );
      const previous = new Map(running.filter((e) => !e.causeId.startsWith(`${fireAt.toISOString()}:`)).map((e) => [e.contactId, e.id]));
      for (const contact of contacts) {
        const prior = previous.get(contact.id);
        if (prior && trigger.overlap === 'skip') {
          skipped++;
          continue;
        }
        try {
          const result = await this.starter.start(
            { ...context, now: new Date() },
            {
              organizationId: workflow.organizationId,
              workflowId: workflow.id,
              contactId: contact.id,
              cause: { type: 'schedule', id: `${fireAt.toISOString()}:${contact.id}` },
              ...(prior && trigger.overlap === 'queue' ? { queuedBehind: prior } : {}),
            },
          );
          if (result.created) started++;
        } catch (err) {
          if (err instanceof NotFoundError) continue; // the contact was deleted meanwhile
          if (err instanceof ConflictError && err.code === 'workflow_paused') return { started, skipped };
          if (err instanceof PlanLimitReachedError) {
            // The plan's executions for this billing period are spent: the rest of the audience is not started.
            this.logger.warn({ workflowId: workflow.id, fireAt: fireAt.toISOString(), started, limit: err.limit }, err.message);
            return { started, skipped };
          }
          throw err;
        }
      }
      if (contacts.length < AUDIENCE_PAGE) break;
    }
    this.logger.info({ workflowId: workflow.id, fireAt: fireAt.toISOString(), started, skipped }, 'schedule fired');
    return { started, skipped };
  }
}
