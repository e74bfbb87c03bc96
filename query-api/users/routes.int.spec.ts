import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';

describe('query API: users and invitations (GET /users, /users/:id, /invitations)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  const ids = (reply: { body: { data: { id: string }[] } }) => reply.body.data.map((item) => item.id);
  const nextWeek = () => new Date(Date.now() + 7 * 86_400_000).toISOString();

  /** The owner (minute 0), an admin who joined at minute 2, a member at 4 (made admin later), a viewer at 6 (deactivated). */
  function team(org: Tenant) {
    const admin = org.member('admin', 1, 'Alan Turing');
    const member = org.member('member', 3, 'Barbara Liskov');
    const viewer = org.member('viewer', 5, 'Edsger Dijkstra');
    const changes = [
      ...org.organization.decide(
        { type: 'ChangeMemberRole', data: { organizationId: org.id, userId: member.member.userId, role: 'admin', byRole: 'owner' } },
        10,
      ),
      ...org.organization.decide({ type: 'DeactivateMember', data: { organizationId: org.id, userId: viewer.member.userId, byRole: 'owner' } }, 11),
      ...org.signIn(admin.member, 12),
    ];
    return { admin, member, viewer, facts: [...admin.facts, ...member.facts, ...viewer.facts, ...changes] };
  }

  it('lists the members oldest first with role, status and last sign-in, by role and status, a page at a time', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const people = team(acme);
    await api.given(acme.signup, globex.signup, people.facts, globex.member('viewer', 1).facts);

    const all = await api.get(acme.owner, '/users');
    expect(all.status).to.equal(200);
    expect(all.body.data.map((u: { name: string; role: string; status: string }) => [u.name, u.role, u.status])).to.deep.equal([
      ['Grace Hopper', 'owner', 'active'],
      ['Alan Turing', 'admin', 'active'],
      ['Barbara Liskov', 'admin', 'active'],
      ['Edsger Dijkstra', 'viewer', 'deactivated'],
    ]);
    expect(all.body.data[1]).to.deep.equal({
      id: people.admin.member.userId,
      name: 'Alan Turing',
      email: people.admin.member.email,
      role: 'admin',
      status: 'active',
      mfaEnabled: false,
      lastSignInAt: at(12),
      createdAt: at(2),
      // A sign-in changes nothing else about the member.
      updatedAt: at(2),
    });

    expect(ids(await api.get(acme.owner, '/users?role=admin'))).to.deep.equal([people.admin.member.userId, people.member.member.userId]);
    expect(ids(await api.get(acme.owner, '/users?status=deactivated'))).to.deep.equal([people.viewer.member.userId]);
    expect(ids(await api.get(acme.owner, '/users?status=active&role=owner'))).to.deep.equal([acme.owner.userId]);

    const first = await api.get(acme.owner, '/users?limit=3');
    expect(first.body.page).to.include({ limit: 3, hasMore: true });
    const second = await api.get(acme.owner, `/users?limit=3&cursor=${first.body.page.nextCursor}`);
    expect([...ids(first), ...ids(second)]).to.deep.equal(ids(all));
    expect(second.body.page).to.deep.equal({ limit: 3, hasMore: false, nextCursor: null });
  });

  it("answers one member to every role (users:read); another organization's member is 404", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const people = team(acme);
    const stranger = globex.member('member', 1);
    await api.given(acme.signup, globex.signup, people.facts, stranger.facts);

    for (const reader of [acme.owner, people.admin.member, people.member.member, { ...people.admin.member, role: 'viewer' as const }]) {
      const reply = await api.get(reader, `/users/${people.member.member.userId}`);
      expect(reply.status, reader.role).to.equal(200);
      expect(reply.body).to.include({ name: 'Barbara Liskov', role: 'admin', status: 'active' });
    }
    expectProblem(await api.get(acme.owner, `/users/${stranger.member.userId}`), 404);
    expectProblem(await api.get(acme.owner, `/users/${globex.owner.userId}`), 404);
    expectProblem(await api.get(acme.owner, `/users/${randomUUID()}`), 404);
    expectProblem(await api.get(acme.owner, '/users/me'), 404);
    expect((await api.get(globex.owner, `/users/${stranger.member.userId}`)).status).to.equal(200);
    expect(ids(await api.get(globex.owner, '/users'))).to.deep.equal([globex.owner.userId, stranger.member.userId]);
  });

  it('lists invitations oldest first: pending, accepted, revoked, and expired once past their date', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const accepted = acme.member('member', 1);
    const pending = acme.invite('viewer', 2, { email: 'pending@acme.test', expiresAt: nextWeek() });
    const revoked = acme.invite('member', 3, { email: 'revoked@acme.test', expiresAt: nextWeek() });
    const lapsed = acme.invite('admin', 4, { email: 'lapsed@acme.test' });
    await api.given(
      acme.signup,
      globex.signup,
      accepted.facts,
      pending.facts,
      revoked.facts,
      acme.organization.decide({ type: 'RevokeInvitation', data: { organizationId: acme.id, invitationId: revoked.invitationId } }, 5),
      lapsed.facts,
      globex.invite('viewer', 1, { expiresAt: nextWeek() }).facts,
    );

    const all = await api.get(acme.owner, '/invitations');
    expect(all.status).to.equal(200);
    expect(all.body.data.map((i: { email: string; role: string; status: string }) => [i.email, i.role, i.status])).to.deep.equal([
      [accepted.member.email, 'member', 'accepted'],
      ['pending@acme.test', 'viewer', 'pending'],
      ['revoked@acme.test', 'member', 'revoked'],
      ['lapsed@acme.test', 'admin', 'expired'],
    ]);
    expect(all.body.data[0]).to.deep.include({ invitedBy: acme.owner.userId, userId: accepted.member.userId, createdAt: at(1) });
    expect(all.body.data[1]).to.deep.include({ id: pending.invitationId, userId: null, createdAt: at(2) });

    const statuses = async (status: string) =>
      (await api.get(acme.owner, `/invitations?status=${status}`)).body.data.map((i: { email: string }) => i.email);
    expect(await statuses('accepted')).to.deep.equal([accepted.member.email]);
    expect(await statuses('revoked')).to.deep.equal(['revoked@acme.test']);
    // Expiry is a matter of time, not of a fact: the filter goes by the recorded status (the answer tells).
    expect(await statuses('pending')).to.deep.equal(['pending@acme.test', 'lapsed@acme.test']);

    const first = await api.get(acme.owner, '/invitations?limit=2');
    const second = await api.get(acme.owner, `/invitations?limit=2&cursor=${first.body.page.nextCursor}`);
    expect([...ids(first), ...ids(second)]).to.deep.equal(ids(all));
    expect(second.body.page.nextCursor).to.equal(null);
    expect((await api.get(globex.owner, '/invitations')).body.data).to.have.length(1);
  });

  it('answers 400 naming each bad query parameter', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const cases: [string, string][] = [
      ['/users?role=boss', 'role'],
      ['/users?status=gone', 'status'],
      ['/users?limit=0', 'limit'],
      ['/users?cursor=xyz', 'cursor'],
      ['/users?name=grace', 'name'],
      ['/invitations?status=expired', 'status'],
      ['/invitations?limit=1000', 'limit'],
    ];
    for (const [path, name] of cases) expectProblem(await api.get(acme.owner, path), 400, [name]);
  });

  it('waits for X-Min-Position: a member who just joined is listed once the users read model has the join', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const joined = acme.member('member', 1);
    const position = await api.append(joined.facts);
    const users = api.get(acme.owner, '/users', { 'X-Min-Position': position });
    const invitations = api.get(acme.owner, '/invitations', { 'X-Min-Position': position });
    await api.project();
    expect(ids(await users)).to.deep.equal([acme.owner.userId, joined.member.userId]);
    expect((await invitations).body.data.map((i: { status: string }) => i.status)).to.deep.equal(['accepted']);
  });
});
