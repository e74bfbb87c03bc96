import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { apiKeysProjection } from './api-keys-projection.ts';

/** API keys (their prefixes, scopes and last use; never the secret). */
export const apiKeyProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => apiKeysProjection);
});
