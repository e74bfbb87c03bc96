import { ContainerModule } from 'inversify';
import { TOKENS } from '../../infra/di/tokens.ts';
import { PersonalDataErasure } from './erasure.ts';

/** Erasure that keeps the log: delete, record, destroy the person's key. */
export const privacyCommandsModule = new ContainerModule((bind) => {
  bind(TOKENS.PersonalDataErasure).to(PersonalDataErasure);
});
