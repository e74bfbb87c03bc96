import { randomUUID } from 'node:crypto';
import { contactStream, type ContactEvent } from '../../domain/contacts/contact.ts';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import { userDecider, userStream } from '../../domain/users/user.ts';
import { at, entityStream, fact, projectionSpec, rowsOf, type Fact } from '../../test/support/projection-spec.ts';
import { OrganizationViewSchema, type OrganizationView } from './organization-view.ts';
import { organizationsProjection } from './organizations-projection.ts';

describe('organizations projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(organizationsProjection);

  function organization(name = 'Acme') {
    const organizationId = randomUUID();
    const ownerUserId = randomUUID();
    const tenant = { tenantId: organizationId, actor: { type: 'user' as const, id: ownerUserId } };
    const stream = entityStream(organizationDecider, organizationStream(organizationId), tenant);
    const created = stream.decide({
      type: 'CreateOrganization',
      data: { organizationId, name, ownerUserId, timezone: 'Europe/Paris', ownerEmail: 'owner@acme.test', trialEndsAt: at(14 * 24 * 60) },
    });
    const owner = entityStream(userDecider, userStream(ownerUserId), tenant).decide({
      type: 'RegisterUser',
      data: { userId: ownerUserId, organizationId, name: 'Grace', email: 'owner@acme.test', passwordHash: 'h', role: 'owner' },
    });
    const row = (overrides: Partial<OrganizationView> = {}): OrganizationView => ({
      id: organizationId,
      name,
      ownerUserId,
      timezone: 'Europe/Paris',
      status: 'active',
      contactCount: 0,
      planId: null,
      trialEndsAt: new Date(at(14 * 24 * 60)),
      aiEnabled: true,
      userCount: 1,
      createdAt: new Date(at(0)),
      updatedAt: new Date(at(0)),
      revision: 0,
      ...overrides,
    });
    /** A contact of this organization's, created (and deleted) in its own stream. */
    const contact = (minutes = 0) => {
      const contactId = randomUUID();
      const email = `${contactId}@example.com`;
      const event = (e: ContactEvent) => fact(contactStream(contactId), e, { ...tenant, occurredAt: at(minutes) });
      return {
        created: event({
          type: 'ContactCreated',
          version: 1,
          data: {
            contactId,
            organizationId,
            email,
            firstName: 'Ada',
            lastName: null,
            phone: null,
            company: null,
            title: null,
            timezone: null,
            customFields: {},
            tags: [],
          },
        }),
        deleted: event({ type: 'ContactDeleted', version: 1, data: { contactId, email } }),
      };
    };
    return { organizationId, stream, tenant, created, owner, row, contact, rows: rowsOf(OrganizationViewSchema, { tenant: organizationId }) };
  }

  it('adds an organization when it is created, seen by that organization only', async () => {
    const acme = organization();
    const scenario = spec.given(acme.created, acme.owner);
    await scenario.then(acme.rows, [acme.row()]);
    await scenario.then(rowsOf(OrganizationViewSchema, { tenant: randomUUID() }), []);
  });

  it('follows the AI setting (on from its creation) at the revision of its stream', async () => {
    const acme = organization();
    const ai = (enabled: boolean, minutes: number) =>
      acme.stream.decide({ type: 'ChangeAiSettings', data: { organizationId: acme.organizationId, enabled } }, minutes);
    const off = ai(false, 1);
    const renamed = acme.stream.decide({ type: 'RenameOrganization', data: { organizationId: acme.organizationId, name: 'Acme Corp' } }, 2);
    const on = ai(true, 3);

    await spec.given(acme.created, acme.owner, off).then(acme.rows, [acme.row({ aiEnabled: false, updatedAt: new Date(at(1)), revision: 1 })]);
    await spec
      .given(acme.created, acme.owner, off, renamed)
      .then(acme.rows, [acme.row({ name: 'Acme Corp', aiEnabled: false, updatedAt: new Date(at(2)), revision: 2 })]);
    await spec
      .given(acme.created, acme.owner, off, renamed)
      .when(on)
      .then(acme.rows, [acme.row({ name: 'Acme Corp', aiEnabled: true, updatedAt: new Date(at(3)), revision: 3 })]);
  });

  it('follows renames, suspensions, plan changes and trial extensions at the revision of its stream', async () => {
    const acme = organization();
    const planId = randomUUID();
    const invited = acme.stream.decide(
      {
        type: 'InviteMember',
        data: {
          organizationId: acme.organizationId,
          invitationId: randomUUID(),
          email: 'new@acme.test',
          role: 'member',
          userId: randomUUID(),
          secretHash: 's',
          expiresAt: at(9_000),
          invitedBy: 'owner',
          byRole: 'owner',
          now: at(1),
        },
      },
      1,
    );
    const renamed = acme.stream.decide({ type: 'RenameOrganization', data: { organizationId: acme.organizationId, name: 'Acme Corp' } }, 2);
    const suspended = acme.stream.decide({ type: 'SuspendOrganization', data: { organizationId: acme.organizationId, reason: 'unpaid' } }, 3);
    const onPlan = acme.stream.decide({ type: 'ChangeOrganizationPlan', data: { organizationId: acme.organizationId, planId, plan: 'active' } }, 4);
    const extended = acme.stream.decide(
      { type: 'ExtendTrial', data: { organizationId: acme.organizationId, trialEndsAt: at(30 * 24 * 60), now: at(5) } },
      5,
    );
    const reactivated = acme.stream.decide({ type: 'ReactivateOrganization', data: { organizationId: acme.organizationId } }, 6);

    await spec
      .given(acme.created, acme.owner, invited, renamed, suspended)
      .then(acme.rows, [acme.row({ name: 'Acme Corp', status: 'suspended', updatedAt: new Date(at(3)), revision: 3 })]);
    await spec
      .given(acme.created, acme.owner, invited, renamed, suspended)
      .when(onPlan, extended, reactivated)
      .then(acme.rows, [acme.row({ name: 'Acme Corp', planId, trialEndsAt: new Date(at(30 * 24 * 60)), updatedAt: new Date(at(6)), revision: 6 })]);
  });

  it("counts its live contacts and its users from their own streams, without touching the organization's revision", async () => {
    const acme = organization();
    const other = organization('Globex');
    const [a, b, c] = [acme.contact(10), acme.contact(11), acme.contact(12)];
    const theirs = other.contact(13);
    const scenario = spec
      .given(acme.created, acme.owner, other.created, other.owner, a.created, b.created, theirs.created)
      .when(c.created, a.deleted);
    await scenario.then(acme.rows, [acme.row({ contactCount: 2 })]);
    await scenario.then(other.rows, [other.row({ contactCount: 1 })]);
  });

  it('builds the same row whether the events come in one batch, one by one, or across a restart', async () => {
    const acme = organization();
    const contacts = [acme.contact(1), acme.contact(2), acme.contact(3)];
    const facts: Fact[] = [
      ...acme.created,
      ...acme.owner,
      ...contacts.map((contact) => contact.created),
      ...acme.stream.decide({ type: 'RenameOrganization', data: { organizationId: acme.organizationId, name: 'Acme Two' } }, 4),
      contacts[1]!.deleted,
      ...acme.stream.decide({ type: 'SuspendOrganization', data: { organizationId: acme.organizationId, reason: 'abuse' } }, 5),
    ];
    const expected = [acme.row({ name: 'Acme Two', status: 'suspended', contactCount: 2, updatedAt: new Date(at(5)), revision: 2 })];
    await spec.given(facts).then(acme.rows, expected);
    await spec.given(facts).inBatchesOf(1).then(acme.rows, expected);
    await spec.given(facts.slice(0, 3)).when(facts.slice(3)).inBatchesOf(2).then(acme.rows, expected);
  });

  it('parks a second creation, a count for an organization it never saw and a count without a tenant, and goes on', async () => {
    const acme = organization();
    const again = fact(`${organizationStream(acme.organizationId)}-copy`, acme.created[0]!.event, acme.tenant);
    const unknown = organization().contact(1).created;
    const untenanted = acme.contact(2).created;
    untenanted.metadata = { ...untenanted.metadata, tenantId: null };
    const counted = acme.contact(3).created;
    const scenario = spec.given(acme.created, again, unknown, untenanted, counted, acme.owner);
    await scenario.thenParked([
      { eventType: 'OrganizationCreated', error: /already exists/ },
      { eventType: 'ContactCreated', error: /is not in the read model/ },
      { eventType: 'ContactCreated', error: /has no tenant in its metadata/ },
    ]);
    await scenario.then(acme.rows, [acme.row({ contactCount: 1 })]);
  });
});
