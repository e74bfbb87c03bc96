import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { contactsProjection } from './contacts-projection.ts';

/** The contacts read model (one row per live contact). */
export const contactProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => contactsProjection);
});
