import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { WorkflowDefinition } from '../../domain/workflows/definition.ts';
import { validateDefinition } from '../../domain/workflows/validation.ts';
import { workflowDecider, workflowStream, type Workflow } from '../../domain/workflows/workflow.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';

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

/** Creating, editing (each edit is a new version), pausing, resuming and deleting workflows. */
@injectable()
export class WorkflowCommands {
  constructor(@inject(TOKENS.CommandHandler) private readonly handler: CommandHandler) {}

  async create(context: CommandContext, organizationId: string, input: WorkflowInput): Promise<WorkflowOutcome> {
    const definition = definitionOf(input);
    const workflowId = randomUUID();
    const outcome = await this.handler.handle(
      workflowStream(workflowId),
      workflowDecider,
      { type: 'CreateWorkflow', data: { workflowId, organizationId, name: input.name, description: input.description ?? null, definition } },
      context,
      { newStream: true },
    );
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

  async change(
    context: CommandContext,
    organizationId: string,
    workflowId: string,
    change: 'PauseWorkflow' | 'ResumeWorkflow' | 'DeleteWorkflow',
  ): Promise<WorkflowOutcome> {
    const outcome = await this.handler.handle(
      workflowStream(workflowId),
      workflowDecider,
      { type: change, data: { workflowId, organizationId } },
      context,
    );
    return { ...outcome, id: workflowId, version: versionOf(outcome) };
  }
}
