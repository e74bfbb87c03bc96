import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { ExecutionCommands } from './execution-commands.ts';
import { ExecutionStarter } from './execution-starter.ts';
import { workflowCommandRoutes } from './routes.ts';
import { WorkflowCommands } from './workflow-commands.ts';

/** Starting executions: the API's run and backfill, and the reactors' and scheduler's triggers. */
export const executionStarterModule = new ContainerModule((bind) => {
  bind(TOKENS.ExecutionStarter).to(ExecutionStarter);
});

/** Workflows' definitions and their executions' pause, resume and cancel. */
export const workflowCommandsModule = new ContainerModule((bind) => {
  bind(TOKENS.WorkflowCommands).to(WorkflowCommands);
  bind(TOKENS.ExecutionCommands).to(ExecutionCommands);
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [workflows, starter, executions] = await deps<[WorkflowCommands, ExecutionStarter, ExecutionCommands]>(
      ctx,
      TOKENS.WorkflowCommands,
      TOKENS.ExecutionStarter,
      TOKENS.ExecutionCommands,
    );
    return workflowCommandRoutes(workflows, starter, executions);
  });
});
