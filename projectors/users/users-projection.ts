import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { userEventTypes, type UserEvent } from '../../domain/users/user.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { UserViewSchema } from './user-view.ts';

export const usersProjection: Projection = {
  name: 'users',
  eventTypes: new Set(userEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const ids = [...new Set(events.map((event) => (event.data as { userId: string }).userId))];
    const existing = new Set((await em.find(UserViewSchema, { id: { $in: ids } }, { filters: false })).map((u) => u.id));
    for (const event of events as RecordedEvent<UserEvent>[]) {
      const at = new Date(event.metadata.occurredAt);
      switch (event.type) {
        case 'UserRegistered': {
          const { userId, organizationId, name, email, role } = event.data;
          if (existing.has(userId)) throw new ProjectionError(`user ${userId} already exists`);
          em.create(UserViewSchema, {
            id: userId,
            organizationId,
            name,
            email,
            role,
            createdAt: at,
            updatedAt: at,
            revision: event.revision,
          });
          existing.add(userId);
          break;
        }
      }
    }
  },
};
