import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { invitationsProjection } from './invitations-projection.ts';
import { usersProjection } from './users-projection.ts';

/** Members and invitations. */
export const userProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => usersProjection);
  bindProjection(bind, () => invitationsProjection);
});
