import { ContainerModule } from 'inversify';
import { TOKENS } from '../../infra/di/tokens.ts';
import { PlanCommands } from './plan-commands.ts';

/** The plan catalog: staff draft, revise, activate and retire plans. */
export const planCommandsModule = new ContainerModule((bind) => {
  bind(TOKENS.PlanCommands).to(PlanCommands);
});
