import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import type { StaffEvent } from '../../domain/staff/staff-member.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { StaffViewSchema } from './staff-view.ts';

/** Staff members, for the console. Platform-level: staff belong to no tenant. */
export const staffProjection: Projection = {
  name: 'staff',
  eventTypes: new Set(['StaffMemberCreated', 'StaffTotpEnabled', 'StaffMemberDisabled', 'StaffSignedIn']),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const typed = events as RecordedEvent<StaffEvent>[];
    const ids = [...new Set(typed.map((event) => event.data.staffId))];
    const rows = await em.find(StaffViewSchema, { id: { $in: ids } }, { filters: false });
    const staff = new Map(rows.map((row) => [row.id, row]));
    for (const event of typed) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'StaffMemberCreated') {
        const { staffId, email, name, role } = event.data;
        if (staff.has(staffId)) throw new ProjectionError(`staff member ${staffId} already exists`);
        staff.set(
          staffId,
          em.create(StaffViewSchema, {
            id: staffId,
            email,
            name,
            role,
            status: 'active',
            totpEnabled: false,
            lastSignInAt: null,
            createdAt: at,
            revision: event.revision,
          }),
        );
        continue;
      }
      const view = staff.get(event.data.staffId);
      if (!view) throw new ProjectionError(`staff member ${event.data.staffId} is not in the read model`);
      if (event.type === 'StaffTotpEnabled') view.totpEnabled = true;
      if (event.type === 'StaffMemberDisabled') view.status = 'disabled';
      if (event.type === 'StaffSignedIn') view.lastSignInAt = at;
      view.revision = event.revision;
    }
  },
};
