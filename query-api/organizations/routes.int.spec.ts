import { expect } from 'chai';
import { organizationStream } from '../../domain/organizations/organization.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at, type Fact } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant } from '../../test/support/query-api-spec.ts';

describe('query API: organizations (GET /organizations/current)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  /** The revision of an organization's stream after `facts` (what If-Match on its commands is compared with). */
  const streamRevision = (organizationId: string, facts: Fact[]) => facts.filter((f) => f.streamId === organizationStream(organizationId)).length - 1;

  it("answers the caller's organization with its live contact and user counts, revision and ETag", async () => {
    const acme = tenant('Acme', 'Europe/Paris');
    const globex = tenant('Globex');
    const member = acme.member('member', 1);
    const contacts = [1, 2, 3].map((minute) => acme.contact({}, minute));
    const renamed = acme.organization.decide({ type: 'RenameOrganization', data: { organizationId: acme.id, name: 'Acme Corp' } }, 20);
    const facts = [
      ...acme.signup,
      ...globex.signup,
      ...member.facts,
      ...contacts.flatMap((c) => c.facts),
      ...contacts[0]!.stream.decide({ type: 'DeleteContact', data: { contactId: contacts[0]!.id, organizationId: acme.id } }, 10),
      ...renamed,
      ...globex.contact({}, 1).facts,
    ];
    await api.given(facts);

    const reply = await api.get(acme.owner, '/organizations/current');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.deep.equal({
      id: acme.id,
      name: 'Acme Corp',
      timezone: 'Europe/Paris',
      status: 'active',
      ownerUserId: acme.owner.userId,
      aiEnabled: true,
      contactCount: 2,
      userCount: 2,
      createdAt: at(0),
      updatedAt: at(20),
      revision: streamRevision(acme.id, facts),
    });
    expect(reply.headers.get('etag')).to.equal(`"${reply.body.revision}"`);

    const theirs = await api.get(globex.owner, '/organizations/current');
    expect(theirs.body).to.include({ id: globex.id, name: 'Globex', contactCount: 1, userCount: 1 });
  });

  it("keeps its revision (ETag) at its stream's, for If-Match on its commands, also when members change after the last rename", async () => {
    const acme = tenant();
    const renamed = acme.organization.decide({ type: 'RenameOrganization', data: { organizationId: acme.id, name: 'Acme Corp' } }, 2);
    const joined = acme.member('member', 5);
    const deactivated = acme.organization.decide(
      { type: 'DeactivateMember', data: { organizationId: acme.id, userId: joined.member.userId, byRole: 'owner' } },
      9,
    );
    const facts = [...acme.signup, ...renamed, ...joined.facts, ...deactivated];
    await api.given(facts);

    const reply = await api.get(acme.owner, '/organizations/current');
    expect(reply.body).to.include({ name: 'Acme Corp', revision: streamRevision(acme.id, facts) });
    expect(reply.headers.get('etag')).to.equal(`"${streamRevision(acme.id, facts)}"`);
  });

  it('shows the AI setting, on unless its managers turned it off', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const off = acme.organization.decide({ type: 'ChangeAiSettings', data: { organizationId: acme.id, enabled: false } }, 3);
    const facts = [...acme.signup, ...globex.signup, ...off];
    await api.given(facts);

    const reply = await api.get(acme.owner, '/organizations/current');
    expect(reply.body).to.include({ aiEnabled: false, updatedAt: at(3), revision: streamRevision(acme.id, facts) });
    expect((await api.get(globex.owner, '/organizations/current')).body).to.include({ aiEnabled: true });
  });

  it('serves every role (organization:read), and a suspended organization still reads', async () => {
    const acme = tenant();
    const viewer = acme.member('viewer', 1);
    await api.given(
      acme.signup,
      viewer.facts,
      acme.organization.decide({ type: 'SuspendOrganization', data: { organizationId: acme.id, reason: 'unpaid' } }, 5),
    );
    for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
      const reply = await api.get({ ...viewer.member, role }, '/organizations/current');
      expect(reply.status, role).to.equal(200);
      expect(reply.body).to.include({ id: acme.id, status: 'suspended' });
    }
    expectProblem(await api.http.get('/organizations/current'), 401);
  });

  it('is 404 until the read models have the organization; X-Min-Position waits for it', async () => {
    const acme = tenant();
    const position = await api.append(acme.signup);
    expectProblem(await api.get(acme.owner, '/organizations/current'), 404);

    const waiting = api.get(acme.owner, '/organizations/current', { 'X-Min-Position': position });
    await api.project();
    const reply = await waiting;
    expect(reply.status).to.equal(200);
    expect(reply.body.id).to.equal(acme.id);
    expectProblem(await api.get(acme.owner, '/organizations/current', { 'X-Min-Position': '-1' }), 400, ['X-Min-Position']);
  });
});
