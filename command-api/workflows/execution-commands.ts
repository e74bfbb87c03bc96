import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { CommandContext } from '../../domain/events.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { executionDecider, executionStream, type Execution, type ExecutionCommand, type ExecutionEvent } from '../../domain/workflows/execution.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';

/** A person pausing, resuming or cancelling one execution. */
@injectable()
export class ExecutionCommands {
  constructor(@inject(TOKENS.CommandHandler) private readonly handler: CommandHandler) {}

  async act(
    context: CommandContext,
    workflowId: string,
    executionId: string,
    action: 'pause' | 'resume' | 'cancel',
    reason: string,
  ): Promise<CommandOutcome<Execution>> {
    const current = await this.handler.loadFor<Execution, ExecutionEvent>(executionStream(executionId), executionDecider, context);
    if (current.state.status === 'absent' || current.state.workflowId !== workflowId) throw new NotFoundError('Execution');
    const now = context.now.toISOString();
    const command: ExecutionCommand =
      action === 'pause'
        ? { type: 'PauseExecution', data: { by: 'user', reason, now } }
        : action === 'resume'
          ? { type: 'ResumeExecution', data: { now } }
          : { type: 'CancelExecution', data: { reason, now } };
    return this.handler.handle(executionStream(executionId), executionDecider, command, context);
  }
}
