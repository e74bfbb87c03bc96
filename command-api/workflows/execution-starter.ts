import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { randomUUID } from 'node:crypto';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../domain/contacts/contact.ts';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { executionDecider, executionStream, type ExecutionCause } from '../../domain/workflows/execution.ts';
import { claimDecider, type Claim, type ClaimEvent } from '../../domain/uniqueness/claim.ts';
import { workflowDecider, workflowStream, type Workflow, type WorkflowEvent } from '../../domain/workflows/workflow.ts';
import type { CommandHandler } from '../command-handling.ts';
import { WrongExpectedRevisionError } from '../ports.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';

export interface StartRequest {
  organizationId: string;
  workflowId: string;
  contactId: string;
  cause: ExecutionCause;
  queuedBehind?: string;
}

export interface Started {
  executionId: string;
  position: string | null;
  /** False when this cause had already started an execution (the one returned). */
  created: boolean;
}

/**
 * Starts executions: manual runs, triggers and schedules alike. A cause (a request, an event, a schedule
 * firing) starts at most one execution of a workflow: a claim on the cause is appended together with the
 * execution's first event, so a trigger delivered twice, or two schedulers firing the same minute, start one.
 */
@injectable()
export class ExecutionStarter {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.ValueClaims) private readonly claims: ValueClaims,
  ) {}

  async start(context: CommandContext, request: StartRequest): Promise<Started> {
    const { organizationId, workflowId, contactId, cause } = request;
    const workflow = (await this.handler.loadFor<Workflow, WorkflowEvent>(workflowStream(workflowId), workflowDecider, context)).state;
    if (workflow.status === 'absent' || workflow.status === 'deleted' || workflow.organizationId !== organizationId)
      throw new NotFoundError('Workflow');
    if (workflow.status === 'paused') throw new ConflictError('The workflow is paused: resume it to start executions', 'workflow_paused');
    const contact = (await this.handler.loadFor<Contact, ContactEvent>(contactStream(contactId), contactDecider, context)).state;
    if (contact.status !== 'active' || contact.organizationId !== organizationId) throw new NotFoundError('Contact');

    const executionId = randomUUID();
    const causeStream = claimStreamId('executionCause', workflowId, cause.type, cause.id);
    try {
      const outcome = await this.handler.handle(
        executionStream(executionId),
        executionDecider,
        {
          type: 'StartExecution',
          data: {
            executionId,
            organizationId,
            workflowId,
            version: workflow.version,
            contactId,
            cause,
            entryStepId: workflow.versions[workflow.version]!.steps[0]!.id,
            startedAt: context.now.toISOString(),
            ...(request.queuedBehind ? { queuedBehind: request.queuedBehind } : {}),
          },
        },
        context,
        { newStream: true, together: [this.claims.firstClaim(causeStream, executionId, context)] },
      );
      return { executionId, position: outcome.position, created: true };
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError && err.streamId === causeStream)) throw err;
      // This cause already started an execution: that one is the answer.
      const claim = await this.handler.load<Claim, ClaimEvent>(causeStream, claimDecider);
      return { executionId: claim.state.ownerId!, position: claim.position, created: false };
    }
  }
}
