import type { ResourceWithOptions } from 'adminjs';
import { userStream } from '../../../domain/users/user.ts';
import { UserViewSchema } from '../../../projectors/users/user-view.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { historyAction, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** Tenants' users, read-only. */
export function usersResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const resource = new ReadModelResource({
    id: 'User',
    orm: deps.orm,
    entity: UserViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'email', type: 'string' },
      { path: 'name', type: 'string' },
      { path: 'organizationId', type: 'reference', reference: 'Organization' },
      { path: 'role', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'mfaEnabled', type: 'boolean' },
      { path: 'lastSignInAt', type: 'datetime' },
      { path: 'createdAt', type: 'datetime' },
    ],
  });
  return {
    resource,
    options: {
      navigation: navigation.tenants,
      listProperties: ['email', 'name', 'organizationId', 'role', 'status', 'lastSignInAt'],
      actions: { ...readOnly, history: historyAction(userStream) },
    },
  };
}
