import { randomUUID } from 'node:crypto';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import { sessionDecider, sessionStream } from '../../domain/sessions/session.ts';
import { userDecider, userStream } from '../../domain/users/user.ts';
import { at, entityStream, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { UserViewSchema, type UserView } from './user-view.ts';
import { usersProjection } from './users-projection.ts';

describe('users projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(usersProjection);

  /** An organization whose owner signed up, as the sign-up records it (organization, then the owner's user). */
  function signedUp(email = 'grace@acme.test') {
    const organizationId = randomUUID();
    const ownerId = randomUUID();
    const tenant = { tenantId: organizationId, actor: { type: 'user' as const, id: ownerId } };
    const organization = entityStream(organizationDecider, organizationStream(organizationId), tenant);
    const created = organization.decide({
      type: 'CreateOrganization',
      data: { organizationId, name: 'Acme', ownerUserId: ownerId, timezone: 'UTC', ownerEmail: email, trialEndsAt: at(14 * 24 * 60) },
    });
    const owner = entityStream(userDecider, userStream(ownerId), tenant);
    const registered = owner.decide({
      type: 'RegisterUser',
      data: { userId: ownerId, organizationId, name: 'Grace Hopper', email, passwordHash: 'scrypt$owner', role: 'owner' },
    });
    return { organizationId, ownerId, organization, owner, tenant, facts: [...created, ...registered] };
  }

  /** A member who accepted an invitation: their user registered, then the organization records the joining. */
  function joined(org: ReturnType<typeof signedUp>, role: 'admin' | 'member' | 'viewer', minutes: number) {
    const userId = randomUUID();
    const invitationId = randomUUID();
    const email = `${userId}@acme.test`;
    const invited = org.organization.decide(
      {
        type: 'InviteMember',
        data: {
          organizationId: org.organizationId,
          invitationId,
          email,
          role,
          userId,
          secretHash: 'sha',
          expiresAt: at(7 * 24 * 60),
          invitedBy: org.ownerId,
          byRole: 'owner',
          now: at(minutes),
        },
      },
      minutes,
    );
    const user = entityStream(userDecider, userStream(userId), { ...org.tenant, actor: { type: 'user', id: userId } });
    const registered = user.decide(
      { type: 'RegisterUser', data: { userId, organizationId: org.organizationId, name: 'Ada Lovelace', email, passwordHash: 'scrypt$ada', role } },
      minutes + 1,
    );
    const accepted = org.organization.decide(
      { type: 'AcceptInvitation', data: { organizationId: org.organizationId, invitationId, secretHash: 'sha', now: at(minutes + 1) } },
      minutes + 1,
    );
    return { userId, email, user, facts: [...invited, ...registered, ...accepted] };
  }

  const row = (overrides: Partial<UserView> & Pick<UserView, 'id' | 'organizationId' | 'email'>): UserView => ({
    name: 'Grace Hopper',
    role: 'owner',
    status: 'active',
    mfaEnabled: false,
    lastSignInAt: null,
    createdAt: new Date(at(0)),
    updatedAt: new Date(at(0)),
    revision: 0,
    ...overrides,
  });

  it('adds a user when they register, active and without two factors, for their organization only', async () => {
    const org = signedUp();
    const scenario = spec.given(org.facts);
    await scenario.then(rowsOf(UserViewSchema, { tenant: org.organizationId }), [
      row({ id: org.ownerId, organizationId: org.organizationId, email: 'grace@acme.test' }),
    ]);
    await scenario.then(rowsOf(UserViewSchema, { tenant: randomUUID() }), []);
  });

  it("takes role and status from the organization's membership, without moving the user's own revision", async () => {
    const org = signedUp();
    const ada = joined(org, 'member', 10);
    const admin = org.organization.decide(
      { type: 'ChangeMemberRole', data: { organizationId: org.organizationId, userId: ada.userId, role: 'admin', byRole: 'owner' } },
      20,
    );
    const off = org.organization.decide(
      { type: 'DeactivateMember', data: { organizationId: org.organizationId, userId: ada.userId, byRole: 'owner' } },
      30,
    );
    const on = org.organization.decide(
      { type: 'ReactivateMember', data: { organizationId: org.organizationId, userId: ada.userId, byRole: 'owner' } },
      40,
    );
    const off2 = org.organization.decide(
      { type: 'DeactivateMember', data: { organizationId: org.organizationId, userId: ada.userId, byRole: 'owner' } },
      50,
    );
    const owner = row({ id: org.ownerId, organizationId: org.organizationId, email: 'grace@acme.test' });
    const member = (overrides: Partial<UserView>) =>
      row({ id: ada.userId, organizationId: org.organizationId, email: ada.email, name: 'Ada Lovelace', createdAt: new Date(at(11)), ...overrides });

    const users = rowsOf(UserViewSchema, { tenant: org.organizationId, orderBy: { createdAt: 'asc' } });
    await spec.given(org.facts, ada.facts, admin).then(users, [owner, member({ role: 'admin', updatedAt: new Date(at(20)) })]);
    await spec
      .given(org.facts, ada.facts, admin, off)
      .then(users, [owner, member({ role: 'admin', status: 'deactivated', updatedAt: new Date(at(30)) })]);
    await spec
      .given(org.facts, ada.facts)
      .when(admin, off, on, off2)
      .then(users, [owner, member({ role: 'admin', status: 'deactivated', updatedAt: new Date(at(50)) })]);
  });

  it("records two-factor changes at their revision of the user's stream (events it does not show still count)", async () => {
    const org = signedUp();
    const enrolled = org.owner.decide({ type: 'StartMfaEnrollment', data: { encryptedSecret: 'sealed' } }, 5);
    const enabled = org.owner.decide({ type: 'EnableMfa', data: { step: 100, recoveryCodeHashes: ['c0'] } }, 6);
    const password = org.owner.decide({ type: 'ChangePassword', data: { passwordHash: 'scrypt$new', now: at(7) } }, 7);
    const disabled = org.owner.decide({ type: 'DisableMfa', data: {} }, 8);
    const users = rowsOf(UserViewSchema, { tenant: org.organizationId });
    const owner = row({ id: org.ownerId, organizationId: org.organizationId, email: 'grace@acme.test' });

    await spec.given(org.facts, enrolled, enabled).then(users, [{ ...owner, mfaEnabled: true, updatedAt: new Date(at(6)), revision: 2 }]);
    await spec
      .given(org.facts, enrolled, enabled)
      .when(password, disabled)
      .then(users, [{ ...owner, mfaEnabled: false, updatedAt: new Date(at(8)), revision: 4 }]);
  });

  it('notes when a user last signed in, which changes nothing else about them', async () => {
    const org = signedUp();
    /** A sign-in: a session of its own, started at `minutes`. */
    const signIn = (minutes: number) => {
      const sessionId = randomUUID();
      return entityStream(sessionDecider, sessionStream(sessionId), org.tenant).decide(
        {
          type: 'StartSession',
          data: {
            sessionId,
            userId: org.ownerId,
            organizationId: org.organizationId,
            tokenId: 't',
            expiresAt: at(minutes + 60),
            startedAt: at(minutes),
          },
        },
        minutes,
      );
    };
    const owner = row({ id: org.ownerId, organizationId: org.organizationId, email: 'grace@acme.test' });
    const users = rowsOf(UserViewSchema, { tenant: org.organizationId });
    await spec.given(org.facts, signIn(3)).then(users, [{ ...owner, lastSignInAt: new Date(at(3)) }]);
    await spec
      .given(org.facts, signIn(3))
      .when(signIn(90))
      .then(users, [{ ...owner, lastSignInAt: new Date(at(90)) }]);
  });

  it('builds the same rows whether the events come in one batch or one by one', async () => {
    const org = signedUp();
    const ada = joined(org, 'viewer', 10);
    const facts = [
      ...org.facts,
      ...ada.facts,
      ...org.organization.decide(
        { type: 'ChangeMemberRole', data: { organizationId: org.organizationId, userId: ada.userId, role: 'member', byRole: 'owner' } },
        20,
      ),
      ...ada.user.decide({ type: 'StartMfaEnrollment', data: { encryptedSecret: 's' } }, 21),
      ...ada.user.decide({ type: 'EnableMfa', data: { step: 1, recoveryCodeHashes: [] } }, 22),
    ];
    const users = rowsOf(UserViewSchema, { tenant: org.organizationId });
    const together = await spec.given(facts).rows(users);
    await spec.given(facts).inBatchesOf(1).then(users, together);
    await spec.given(facts.slice(0, 4)).when(facts.slice(4)).then(users, together);
  });

  it('parks a second registration of the same user and an event about a user it never saw, and goes on', async () => {
    const org = signedUp();
    const again = entityStream(userDecider, `${userStream(org.ownerId)}-copy`, org.tenant).decide({
      type: 'RegisterUser',
      data: { userId: org.ownerId, organizationId: org.organizationId, name: 'Impostor', email: 'x@acme.test', passwordHash: 'h', role: 'admin' },
    });
    const stranger = randomUUID();
    const unknown = entityStream(userDecider, userStream(stranger), org.tenant);
    unknown.decide({
      type: 'RegisterUser',
      data: { userId: stranger, organizationId: org.organizationId, name: 'S', email: 's@acme.test', passwordHash: 'h', role: 'member' },
    });
    const mfaOfStranger = [
      ...unknown.decide({ type: 'StartMfaEnrollment', data: { encryptedSecret: 's' } }),
      ...unknown.decide({ type: 'EnableMfa', data: { step: 1, recoveryCodeHashes: [] } }),
    ].filter((f) => f.event.type === 'MfaEnabled');
    const signIn = entityStream(sessionDecider, sessionStream(randomUUID()), org.tenant).decide(
      {
        type: 'StartSession',
        data: {
          sessionId: randomUUID(),
          userId: org.ownerId,
          organizationId: org.organizationId,
          tokenId: 't',
          expiresAt: at(90),
          startedAt: at(30),
        },
      },
      30,
    );
    const scenario = spec.given(org.facts, again, mfaOfStranger, signIn);
    await scenario.thenParked([
      { eventType: 'UserRegistered', error: new RegExp(`user ${org.ownerId} already exists`) },
      { eventType: 'MfaEnabled', error: new RegExp(`user ${stranger} is not in the read model`) },
    ]);
    await scenario.then(rowsOf(UserViewSchema, { tenant: org.organizationId }), [
      row({ id: org.ownerId, organizationId: org.organizationId, email: 'grace@acme.test', lastSignInAt: new Date(at(30)) }),
    ]);
  });
});
