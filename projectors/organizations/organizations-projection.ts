import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { organizationEventTypes, organizationStream, type OrganizationEvent } from '../../domain/organizations/organization.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { OrganizationViewSchema, type OrganizationView } from './organization-view.ts';

type Handled = OrganizationEvent | RecordedEvent<{ type: 'ContactCreated' | 'ContactDeleted' | 'UserRegistered'; version: number; data: unknown }>;

/**
 * Events of the organization's stream that change nothing the row shows: they move its revision only, which
 * must stay the stream's (it is the ETag that If-Match on the organization's commands is compared with).
 */
const revisionOnly = new Set<string>([
  'MemberInvited',
  'InvitationRevoked',
  'MemberJoined',
  'MemberRoleChanged',
  'MemberDeactivated',
  'MemberReactivated',
  'ImpersonationStarted',
]);

/** Organizations, with live contact and user counts (kept per event, so a double-apply would show). */
export const organizationsProjection: Projection = {
  name: 'organizations',
  eventTypes: new Set([
    'OrganizationCreated',
    'OrganizationRenamed',
    'OrganizationSuspended',
    'OrganizationReactivated',
    'OrganizationPlanChanged',
    'TrialExtended',
    'ContactCreated',
    'ContactDeleted',
    'UserRegistered',
    ...revisionOnly,
  ]),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const ids = [...new Set(events.map(organizationOf))];
    const rows = await em.find(OrganizationViewSchema, { id: { $in: ids } }, { filters: false });
    const organizations = new Map<string, OrganizationView>(rows.map((row) => [row.id, row]));

    for (const event of events as RecordedEvent<Handled>[]) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'OrganizationCreated') {
        const { organizationId, name, ownerUserId, timezone, trialEndsAt } = (
          event as RecordedEvent<OrganizationEvent & { type: 'OrganizationCreated' }>
        ).data;
        if (organizations.has(organizationId)) throw new ProjectionError(`organization ${organizationId} already exists`);
        organizations.set(
          organizationId,
          em.create(OrganizationViewSchema, {
            id: organizationId,
            name,
            ownerUserId,
            timezone,
            status: 'active',
            contactCount: 0,
            planId: null,
            trialEndsAt: trialEndsAt ? new Date(trialEndsAt) : null,
            userCount: 0,
            createdAt: at,
            updatedAt: at,
            revision: event.revision,
          }),
        );
        continue;
      }
      const id = organizationOf(event);
      const view = organizations.get(id);
      if (!view) throw new ProjectionError(`organization ${id} is not in the read model`);
      switch (event.type) {
        case 'OrganizationRenamed':
          view.name = (event.data as { name: string }).name;
          break;
        case 'OrganizationSuspended':
        case 'OrganizationReactivated':
          view.status = event.type === 'OrganizationSuspended' ? 'suspended' : 'active';
          break;
        case 'OrganizationPlanChanged':
          view.planId = (event.data as { planId: string }).planId;
          break;
        case 'TrialExtended':
          view.trialEndsAt = new Date((event.data as { trialEndsAt: string }).trialEndsAt);
          break;
        case 'ContactCreated':
          view.contactCount += 1;
          break;
        case 'ContactDeleted':
          view.contactCount -= 1;
          break;
        case 'UserRegistered':
          view.userCount += 1;
          break;
      }
      // A change of the organization's own stream (the counts come from other streams).
      if (event.streamId === organizationStream(id)) {
        view.revision = event.revision;
        if (!revisionOnly.has(event.type)) view.updatedAt = at;
      }
    }
  },
};

function organizationOf(event: RecordedEvent): string {
  if ((organizationEventTypes as readonly string[]).includes(event.type)) {
    return (event.data as { organizationId: string }).organizationId;
  }
  const tenantId = event.metadata.tenantId;
  if (!tenantId) throw new ProjectionError(`${event.type} ${event.id} has no tenant in its metadata`);
  return tenantId;
}
