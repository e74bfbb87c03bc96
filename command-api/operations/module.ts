import { ContainerModule } from 'inversify';
import { TOKENS } from '../../infra/di/tokens.ts';
import { ParkedEventRetries } from './parked-event-retries.ts';

/** Retrying parked events, each retry recorded (who, when, outcome): the console's and the command line's. */
export const operationsCommandsModule = new ContainerModule((bind) => {
  bind(TOKENS.ParkedEventRetries).to(ParkedEventRetries);
});
