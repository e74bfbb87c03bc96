import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { staffProjection } from './staff-projection.ts';

/** Staff members (for the console). */
export const staffProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => staffProjection);
});
