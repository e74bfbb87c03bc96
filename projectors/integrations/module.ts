import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { integrationsProjection } from './integrations-projection.ts';

/** CRM integrations and their sync runs (never the credentials). */
export const integrationProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => integrationsProjection);
});
