import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import type { OrganizationEvent } from '../../domain/organizations/organization.ts';
import type { SessionEvent } from '../../domain/sessions/session.ts';
import type { UserEvent } from '../../domain/users/user.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { UserViewSchema, type UserView } from './user-view.ts';

type Handled = UserEvent | OrganizationEvent | SessionEvent;

/** The user each event is about. */
function userOf(event: RecordedEvent<Handled>): string {
  return (event.data as { userId: string }).userId;
}

/**
 * Members as people see them: identity from their own streams, role and status from the organization's
 * membership, whether they use two factors, and when they last signed in.
 */
export const usersProjection: Projection = {
  name: 'users',
  eventTypes: new Set([
    'UserRegistered',
    'MfaEnabled',
    'MfaDisabled',
    'MemberRoleChanged',
    'MemberDeactivated',
    'MemberReactivated',
    'SessionStarted',
  ]),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<Handled>[];
    const ids = [...new Set(handled.map(userOf))];
    const users = new Map<string, UserView>((await em.find(UserViewSchema, { id: { $in: ids } }, { filters: false })).map((u) => [u.id, u]));
    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'UserRegistered') {
        const { userId, organizationId, name, email, role } = event.data;
        if (users.has(userId)) throw new ProjectionError(`user ${userId} already exists`);
        users.set(
          userId,
          em.create(UserViewSchema, {
            id: userId,
            organizationId,
            name,
            email,
            role,
            status: 'active',
            mfaEnabled: false,
            lastSignInAt: null,
            createdAt: at,
            updatedAt: at,
            revision: event.revision,
          }),
        );
        continue;
      }
      const user = users.get(userOf(event));
      if (!user) throw new ProjectionError(`user ${userOf(event)} is not in the read model`);
      switch (event.type) {
        case 'MfaEnabled':
        case 'MfaDisabled':
          user.mfaEnabled = event.type === 'MfaEnabled';
          user.revision = event.revision;
          break;
        case 'MemberRoleChanged':
          user.role = event.data.role;
          break;
        case 'MemberDeactivated':
        case 'MemberReactivated':
          user.status = event.type === 'MemberDeactivated' ? 'deactivated' : 'active';
          break;
        case 'SessionStarted':
          user.lastSignInAt = at;
          continue; // signing in changes nothing about the user
        default:
          continue;
      }
      user.updatedAt = at;
    }
  },
};
