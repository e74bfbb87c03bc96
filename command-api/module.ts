import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import { Lifecycle } from '../infra/di/lifecycle.ts';
import { deps } from '../infra/di/resolve.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import { BackgroundWork } from './background.ts';
import { CommandHandler } from './command-handling.ts';
import { ValueClaims } from './uniqueness/value-claims.ts';

/**
 * What every command needs, whichever capability: the command handler (read, decide, append), claims on
 * unique values, and background work that outlives its request (drained at stop). The capability modules
 * (command-api/<capability>/module.ts) build on it.
 */
export const commandCoreModule = new ContainerModule((bind) => {
  bind(TOKENS.CommandHandler).to(CommandHandler);
  bind(TOKENS.ValueClaims).to(ValueClaims);
  bind<BackgroundWork>(TOKENS.BackgroundWork).toDynamicValue(async (ctx) => {
    const [logger, lifecycle] = await deps<[Logger, Lifecycle]>(ctx, TOKENS.Logger, TOKENS.Lifecycle);
    const background = new BackgroundWork(logger.child({ component: 'background' }));
    lifecycle.onStop('background work', () => background.drain());
    return background;
  });
});
