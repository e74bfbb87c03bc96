import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable, optional } from 'inversify';
import { randomUUID } from 'node:crypto';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../domain/contacts/contact.ts';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { executionDecider, executionStream, type ExecutionCause } from '../../domain/workflows/execution.ts';
import { claimDecider, type Claim, type ClaimEvent } from '../../domain/uniqueness/claim.ts';
import { workflowDecider, workflowStream, type Workflow, type WorkflowEvent } from '../../domain/workflows/workflow.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';
import type { CommandHandler } from '../command-handling.ts';
import { WrongExpectedRevisionError, type StreamAppend } from '../ports.ts';
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
 * Each execution takes a unit of the plan's executions per billing period in the same append (QuotaGate):
 * beyond the limit none starts (PlanLimitReachedError, 402 for a manual run).
 */
@injectable()
export class ExecutionStarter {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.ValueClaims) private readonly claims: ValueClaims,
    /** The plan limits (absent where a role or a test's spec does not enforce them). */
    @inject(TOKENS.QuotaGate) @optional() private readonly quotas?: QuotaGate,
  ) {}

  async start(context: CommandContext, request: StartRequest): Promise<Started> {
    const { organizationId, workflowId, contactId, cause } = request;
    // Both streams read at once (one round trip where the store reads streams together); the workflow's
    // answer comes first, as if read first.
    const workflowRead = this.handler.loadFor<Workflow, WorkflowEvent>(workflowStream(workflowId), workflowDecider, context);
    const contactRead = this.handler.loadFor<Contact, ContactEvent>(contactStream(contactId), contactDecider, context);
    contactRead.catch(() => undefined); // not awaited when the workflow is refused
    const workflow = (await workflowRead).state;
    if (workflow.status === 'absent' || workflow.status === 'deleted' || workflow.organizationId !== organizationId)
      throw new NotFoundError('Workflow');
    if (workflow.status === 'paused') throw new ConflictError('The workflow is paused: resume it to start executions', 'workflow_paused');
    const contact = (await contactRead).state;
    if (contact.status !== 'active' || contact.organizationId !== organizationId) throw new NotFoundError('Contact');

    const executionId = randomUUID();
    const causeStream = claimStreamId('executionCause', workflowId, cause.type, cause.id);
    const startTaking = (quota: StreamAppend[]) =>
      this.handler.handle(
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
        { newStream: true, together: [...quota, this.claims.firstClaim(causeStream, executionId, context)] },
      );
    try {
      const outcome = this.quotas
        ? await this.quotas.taking(context, organizationId, 'executionsPerMonth', executionId, startTaking)
        : await startTaking([]);
      return { executionId, position: outcome.position, created: true };
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError && err.streamId === causeStream)) throw err;
      // This cause already started an execution: that one is the answer.
      const claim = await this.handler.load<Claim, ClaimEvent>(causeStream, claimDecider);
      return { executionId: claim.state.ownerId!, position: claim.position, created: false };
    }
  }
}
