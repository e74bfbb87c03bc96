import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { plansProjection } from './plans-projection.ts';

/** The plan catalog. */
export const planProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => plansProjection);
});
