import { expect } from 'chai';
import { allPermissions, permissionsOf } from '../../domain/access/permissions.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant } from '../../test/support/query-api-spec.ts';

describe('query API: the signed-in user (GET /auth/me)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  it('answers the user, the permissions of the role their token carries, and their organization', async () => {
    const acme = tenant('Acme');
    const admin = acme.member('admin', 1, 'Alan Turing');
    await api.given(acme.signup, admin.facts, acme.signIn(admin.member, 7));

    const reply = await api.get(admin.member, '/auth/me');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.deep.equal({
      id: admin.member.userId,
      name: 'Alan Turing',
      email: admin.member.email,
      role: 'admin',
      status: 'active',
      mfaEnabled: false,
      lastSignInAt: at(7),
      createdAt: at(2),
      updatedAt: at(2),
      permissions: permissionsOf('admin'),
      organization: { id: acme.id, name: 'Acme', status: 'active' },
    });
    expect(reply.headers.get('cache-control')).to.equal('private, no-cache');

    const owner = await api.get(acme.owner, '/auth/me');
    expect(owner.body).to.include({ id: acme.owner.userId, role: 'owner', name: 'Grace Hopper' });
    expect(owner.body.permissions).to.deep.equal(allPermissions);
  });

  it('goes by the role in the token (what the request was authorized with), even while the read model lags a role change', async () => {
    const acme = tenant();
    const member = acme.member('member', 1);
    await api.given(acme.signup, member.facts);
    const asViewer = await api.get({ ...member.member, role: 'viewer' }, '/auth/me');
    expect(asViewer.body).to.include({ role: 'viewer' });
    expect(asViewer.body.permissions).to.deep.equal(permissionsOf('viewer'));
    expect(asViewer.body.permissions).not.to.include('contacts:write');
  });

  it('is 404 until the read models have the user and their organization; X-Min-Position waits for both', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const joined = acme.member('viewer', 3);
    const position = await api.append(joined.facts);
    expectProblem(await api.get(joined.member, '/auth/me'), 404);

    const waiting = api.get(joined.member, '/auth/me', { 'X-Min-Position': position });
    await api.project();
    const reply = await waiting;
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body).to.include({ id: joined.member.userId, role: 'viewer' });

    const beyond = (BigInt(await api.head()) + 1n).toString();
    expectProblem(await api.get(joined.member, '/auth/me', { 'X-Min-Position': beyond }), 400, ['X-Min-Position']);
  });

  it("is the user's own account: no token is 401, and no API key holds account:self (403)", async () => {
    const acme = tenant();
    const everything = acme.apiKey(
      'Everything',
      permissionsOf('owner').filter((p) => p !== 'account:self'),
      1,
    );
    await api.given(acme.signup, everything.facts);
    expectProblem(await api.http.get('/auth/me'), 401);
    expectProblem(await api.http.get('/auth/me', { token: 'eyJhbGciOiJub25lIn0.e30.' }), 401);
    expectProblem(await api.http.get('/auth/me', { token: everything.key }), 403);
    // The same key reads what its scopes allow.
    expect((await api.http.get('/users', { token: everything.key })).status).to.equal(200);
  });
});
