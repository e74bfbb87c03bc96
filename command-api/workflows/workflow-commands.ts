import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable, optional } from 'inversify';
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { WorkflowDefinition } from '../../domain/workflows/definition.ts';
import { validateDefinition } from '../../domain/workflows/validation.ts';
import { workflowDecider, workflowStream, type Workflow } from '../../domain/workflows/workflow.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';
import { WrongExpectedRevisionError, type StreamAppend } from '../ports.ts';

export interface WorkflowInput {
  name: string;
  description?: string | null;
  trigger?: unknown;
  settings?: unknown;
  steps: unknown[];
}

export type WorkflowOutcome = CommandOutcome<Workflow> & { id: string; version: number };

/** A definition that is a valid graph, or a ValidationError naming every problem by its path in the body. */
function definitionOf(input: WorkflowInput): WorkflowDefinition {
  const { name: _name, description: _description, ...definition } = input;
  const result = validateDefinition(definition);
  if ('problems' in result) throw new ValidationError(result.problems, 'The workflow definition is not valid.');
  return result.definition;
}

const versionOf = (outcome: CommandOutcome<Workflow>) => (outcome.state.status === 'absent' ? 0 : outcome.state.version);

type StatusChange = 'PauseWorkflow' | 'ResumeWorkflow' | 'DeleteWorkflow';

/** Tries at a pause, resume or delete when another write moved the workflow between our read and our append. */
const MAX_TRIES = 5;

/**
 * What a change does to the plan's active-workflows limit, from the state it is decided on: resuming a
 * paused workflow takes a unit, pausing or deleting an active one gives it back; deleting a paused one, or
 * a change to what is already so, neither (the metering read model counts the same way).
 */
function quotaEffect(change: StatusChange, state: Workflow, organizationId: string): 'take' | 'release' | null {
  if (state.status === 'absent' || state.organizationId !== organizationId) return null;
  if (change === 'ResumeWorkflow') return state.status === 'paused' ? 'take' : null;
  return state.status === 'active' ? 'release' : null;
}

/**
 * Creating, editing (each edit is a new version), pausing, resuming and deleting workflows. A workflow is
 * active from its creation until paused or deleted, and the active ones count against the plan's limit
 * (QuotaGate): creating or resuming takes a unit in the same append, pausing or deleting gives it back.
 */
@injectable()
export class WorkflowCommands {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    /** The plan limits (absent where a role does not enforce them: a test's command spec). */
    @inject(TOKENS.QuotaGate) @optional() private readonly quotas?: QuotaGate,
  ) {}

  async create(context: CommandContext, organizationId: string, input: WorkflowInput): Promise<WorkflowOutcome> {
    const definition = definitionOf(input);
    const workflowId = randomUUID();
    const create = (together: StreamAppend[]) =>
      this.handler.handle(
        workflowStream(workflowId),
        workflowDecider,
        { type: 'CreateWorkflow', data: { workflowId, organizationId, name: input.name, description: input.description ?? null, definition } },
        context,
        { newStream: true, together },
      );
    // A new workflow starts active: it takes a unit.
    const outcome = this.quotas ? await this.quotas.taking(context, organizationId, 'activeWorkflows', workflowId, create) : await create([]);
    return { ...outcome, id: workflowId, version: versionOf(outcome) };
  }

  async update(
    context: CommandContext,
    organizationId: string,
    workflowId: string,
    input: WorkflowInput,
    expectedRevision?: number,
  ): Promise<WorkflowOutcome> {
    const definition = definitionOf(input);
    const outcome = await this.handler.handle(
      workflowStream(workflowId),
      workflowDecider,
      { type: 'UpdateWorkflow', data: { workflowId, organizationId, name: input.name, description: input.description ?? null, definition } },
      context,
      expectedRevision === undefined ? {} : { expectedRevision },
    );
    return { ...outcome, id: workflowId, version: versionOf(outcome) };
  }

  async backfill(context: CommandContext, organizationId: string, workflowId: string, range: { from: string; to: string }): Promise<WorkflowOutcome> {
    const outcome = await this.handler.handle(
      workflowStream(workflowId),
      workflowDecider,
      {
        type: 'BackfillSchedule',
        data: {
          workflowId,
          organizationId,
          from: new Date(range.from).toISOString(),
          to: new Date(range.to).toISOString(),
          now: context.now.toISOString(),
        },
      },
      context,
    );
    return { ...outcome, id: workflowId, version: versionOf(outcome) };
  }

  async change(context: CommandContext, organizationId: string, workflowId: string, change: StatusChange): Promise<WorkflowOutcome> {
    const streamId = workflowStream(workflowId);
    const command = { type: change, data: { workflowId, organizationId } };
    for (let attempt = 1; ; attempt++) {
      // Whether the change takes or gives back a unit depends on the state it is decided on, so it is decided
      // on exactly the state read here (appended at its revision, never decided again on another with the
      // same quota append): a write between the read and the append means reading and deciding again.
      const known = await this.handler.loadFor(streamId, workflowDecider, context);
      const write = (together: StreamAppend[]) =>
        this.handler.handle(streamId, workflowDecider, command, context, { known, expectedRevision: known.revision, together });
      // Decided first (a pure function): a workflow not found is that, not a limit reached.
      const effect = this.quotas && workflowDecider.decide(command, known.state).length > 0 ? quotaEffect(change, known.state, organizationId) : null;
      try {
        const outcome =
          effect === 'take'
            ? await this.quotas!.taking(context, organizationId, 'activeWorkflows', workflowId, write)
            : effect === 'release'
              ? await write(await this.quotas!.releasing(context, organizationId, 'activeWorkflows', workflowId))
              : await write([]);
        return { ...outcome, id: workflowId, version: versionOf(outcome) };
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError && err.streamId === streamId) || attempt >= MAX_TRIES) throw err;
      }
    }
  }
}
