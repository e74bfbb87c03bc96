import type { ResourceWithOptions } from 'adminjs';
import { staffStream } from '../../../domain/staff/staff-member.ts';
import { StaffViewSchema } from '../../../projectors/staff/staff-view.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { historyAction, may, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** The staff themselves, read-only, for those allowed to see them. */
export function staffResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const resource = new ReadModelResource({
    id: 'Staff',
    orm: deps.orm,
    entity: StaffViewSchema,
    properties: [
      { path: 'id', type: 'uuid', isId: true },
      { path: 'email', type: 'string' },
      { path: 'name', type: 'string' },
      { path: 'role', type: 'string' },
      { path: 'status', type: 'string' },
      { path: 'totpEnabled', type: 'boolean' },
      { path: 'lastSignInAt', type: 'datetime' },
      { path: 'createdAt', type: 'datetime' },
    ],
  });
  return {
    resource,
    options: {
      navigation: navigation.operations,
      actions: {
        ...readOnly,
        list: { isAccessible: may('staff:read') },
        show: { isAccessible: may('staff:read') },
        search: { isAccessible: may('staff:read') },
        history: { ...historyAction(staffStream), isAccessible: may('staff:read') },
      },
    },
  };
}
