import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { organizationsProjection } from './organizations-projection.ts';

/** The organizations read model (counts, plan, status). */
export const organizationProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => organizationsProjection);
});
