import { randomUUID } from 'node:crypto';
import type { Role } from '../../domain/access/permissions.ts';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import { at, entityStream, fact, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { InvitationViewSchema, type InvitationView } from './invitation-view.ts';
import { invitationsProjection } from './invitations-projection.ts';

describe('invitations projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(invitationsProjection);

  function organization() {
    const organizationId = randomUUID();
    const ownerUserId = randomUUID();
    const tenant = { tenantId: organizationId, actor: { type: 'user' as const, id: ownerUserId } };
    const stream = entityStream(organizationDecider, organizationStream(organizationId), tenant);
    const created = stream.decide({
      type: 'CreateOrganization',
      data: { organizationId, name: 'Acme', ownerUserId, timezone: 'UTC', ownerEmail: 'owner@acme.test', trialEndsAt: null },
    });
    const invite = (email: string, role: Role, minutes: number) => {
      const invitationId = randomUUID();
      const userId = randomUUID();
      const facts = stream.decide(
        {
          type: 'InviteMember',
          data: {
            organizationId,
            invitationId,
            email,
            role,
            userId,
            secretHash: `sha-${invitationId}`,
            expiresAt: at(minutes + 7 * 24 * 60),
            invitedBy: ownerUserId,
            byRole: 'owner',
            now: at(minutes),
          },
        },
        minutes,
      );
      const row = (overrides: Partial<InvitationView> = {}): InvitationView => ({
        id: invitationId,
        organizationId,
        email,
        role,
        status: 'pending',
        invitedBy: ownerUserId,
        userId: null,
        expiresAt: new Date(at(minutes + 7 * 24 * 60)),
        createdAt: new Date(at(minutes)),
        updatedAt: new Date(at(minutes)),
        ...overrides,
      });
      const accept = (at_: number) =>
        stream.decide({ type: 'AcceptInvitation', data: { organizationId, invitationId, secretHash: `sha-${invitationId}`, now: at(at_) } }, at_);
      const revoke = (at_: number) => stream.decide({ type: 'RevokeInvitation', data: { organizationId, invitationId } }, at_);
      return { invitationId, userId, facts, row, accept, revoke };
    };
    const rows = rowsOf(InvitationViewSchema, { tenant: organizationId, orderBy: { createdAt: 'asc' } });
    return { organizationId, tenant, created, invite, rows };
  }

  it('lists a pending invitation (never its secret) for the inviting organization only', async () => {
    const acme = organization();
    const ada = acme.invite('ada@acme.test', 'admin', 5);
    const scenario = spec.given(acme.created, ada.facts);
    await scenario.then(acme.rows, [ada.row()]);
    await scenario.then(rowsOf(InvitationViewSchema, { tenant: randomUUID() }), []);
  });

  it('marks an invitation accepted, with the user the invitee became, or revoked', async () => {
    const acme = organization();
    const ada = acme.invite('ada@acme.test', 'member', 5);
    const bob = acme.invite('bob@acme.test', 'viewer', 6);
    const cy = acme.invite('cy@acme.test', 'viewer', 7);
    const expected = [
      ada.row({ status: 'accepted', userId: ada.userId, updatedAt: new Date(at(20)) }),
      bob.row({ status: 'revoked', updatedAt: new Date(at(21)) }),
      cy.row(),
    ];
    const changes = [...ada.accept(20), ...bob.revoke(21)];
    await spec.given(acme.created, ada.facts, bob.facts, cy.facts, changes).then(acme.rows, expected);
    await spec.given(acme.created, ada.facts, bob.facts, cy.facts).when(changes).then(acme.rows, expected);
    await spec.given(acme.created, ada.facts, bob.facts, cy.facts, changes).inBatchesOf(1).then(acme.rows, expected);
  });

  it('parks a second invitation with the same id and a change to an invitation it never saw, and goes on', async () => {
    const acme = organization();
    const ada = acme.invite('ada@acme.test', 'member', 5);
    const copy = fact(`${organizationStream(acme.organizationId)}-copy`, ada.facts[0]!.event, acme.tenant);
    const ghost = fact(
      organizationStream(acme.organizationId),
      { type: 'InvitationRevoked', version: 1, data: { organizationId: acme.organizationId, invitationId: randomUUID() } },
      acme.tenant,
    );
    const revoked = ada.revoke(9);
    const scenario = spec.given(acme.created, ada.facts, copy, ghost, revoked);
    await scenario.thenParked([
      { eventType: 'MemberInvited', error: /already exists/ },
      { eventType: 'InvitationRevoked', error: /is not in the read model/ },
    ]);
    await scenario.then(acme.rows, [ada.row({ status: 'revoked', updatedAt: new Date(at(9)) })]);
  });
});
