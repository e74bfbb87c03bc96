import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import type { InvitationRevoked, MemberInvited, MemberJoined } from '../../domain/organizations/organization.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { InvitationViewSchema, type InvitationView } from './invitation-view.ts';

type Handled = MemberInvited | InvitationRevoked | MemberJoined;

export const invitationsProjection: Projection = {
  name: 'invitations',
  eventTypes: new Set(['MemberInvited', 'InvitationRevoked', 'MemberJoined']),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<Handled>[];
    const ids = [...new Set(handled.map((event) => event.data.invitationId))];
    const invitations = new Map<string, InvitationView>(
      (await em.find(InvitationViewSchema, { id: { $in: ids } }, { filters: false })).map((i) => [i.id, i]),
    );
    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'MemberInvited') {
        const { invitationId, organizationId, email, role, invitedBy, expiresAt } = event.data;
        if (invitations.has(invitationId)) throw new ProjectionError(`invitation ${invitationId} already exists`);
        invitations.set(
          invitationId,
          em.create(InvitationViewSchema, {
            id: invitationId,
            organizationId,
            email,
            role,
            status: 'pending',
            invitedBy,
            userId: null,
            expiresAt: new Date(expiresAt),
            createdAt: at,
            updatedAt: at,
          }),
        );
        continue;
      }
      const invitation = invitations.get(event.data.invitationId);
      if (!invitation) throw new ProjectionError(`invitation ${event.data.invitationId} is not in the read model`);
      if (event.type === 'MemberJoined') {
        invitation.status = 'accepted';
        invitation.userId = event.data.userId;
      } else {
        invitation.status = 'revoked';
      }
      invitation.updatedAt = at;
    }
  },
};
