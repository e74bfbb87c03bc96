import { expect } from 'chai';
import { inviteMember, registerAccount, startTestSystem, uniqueEmail, type Account, type HttpClient, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

/**
 * No access outlives its grant: an API key acts with at most what its creator may do NOW (its scopes,
 * narrowed by the creator's current role, or for a key made by a key by what that key may do), only while
 * the creator is an active member, and a change takes effect at once, even for a key the process has just
 * verified (and keeps in its cache).
 */
describe("API keys follow their grant: the creator's current role and status (real PostgreSQL and Redis)", function () {
  this.timeout(120_000);
  let system: TestSystem;
  let http: HttpClient;
  let owner: Account;

  before(async () => {
    system = await startTestSystem();
    http = system.http;
    owner = await registerAccount(system, 'Grants');
  });
  after(async () => system?.stop());

  /** Creates a key (as a user, or with another key): its secret and its id. */
  async function createKey(token: string, body: Record<string, unknown>): Promise<{ key: string; id: string }> {
    const created = await http.post('/api-keys', body, { token });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    return { key: created.body.key, id: created.body.id };
  }

  async function setRole(userId: string, role: string): Promise<void> {
    const changed = await http.put(`/users/${userId}/role`, { role }, { token: owner.accessToken });
    expect(changed.status, JSON.stringify(changed.body)).to.equal(200);
  }

  /** A role change ends the member's access tokens; a refresh carries the new role. */
  async function refreshed(account: Account): Promise<Account> {
    const reply = await http.post('/auth/refresh', { refreshToken: account.refreshToken });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    return { ...account, accessToken: reply.body.accessToken, refreshToken: reply.body.refreshToken };
  }

  it("acts with at most the creator's current role: an admin demoted to viewer leaves a key that reads but cannot write nor mint", async () => {
    const admin = await inviteMember(system, owner, 'admin');
    const { key } = await createKey(admin.accessToken, { name: 'sync', scopes: ['contacts:read', 'contacts:write', 'apiKeys:manage', 'users:read'] });
    expect((await http.post('/contacts', { email: uniqueEmail('before') }, { token: key })).status, 'works while its creator is an admin').to.equal(
      201,
    );
    expect((await http.get('/contacts', { token: key })).status).to.equal(200);

    await setRole(admin.userId, 'viewer');
    // At once: the key was verified a moment ago, and its grant is cached in this process.
    const write = await http.post('/contacts', { email: uniqueEmail('after') }, { token: key });
    expectProblem(write, 403);
    expect(write.body.code).to.equal('insufficient_permission');
    expect((await http.get('/contacts', { token: key })).status, 'reads within viewer rights still work').to.equal(200);
    expect((await http.get('/users', { token: key })).status).to.equal(200);
    const mint = await http.post('/api-keys', { name: 'escalate' }, { token: key });
    expectProblem(mint, 403);
    expect(mint.body.permission).to.equal('apiKeys:manage');

    // Promoted again, the key's own scopes come back: it follows the grant both ways.
    await setRole(admin.userId, 'admin');
    expect((await http.post('/contacts', { email: uniqueEmail('again') }, { token: key })).status).to.equal(201);
  });

  it('is refused (401) while its creator is deactivated, and works again once they are reactivated', async () => {
    const admin = await inviteMember(system, owner, 'admin');
    const { key } = await createKey(admin.accessToken, { name: 'theirs', scopes: ['contacts:read', 'contacts:write'] });
    const { key: ownersKey } = await createKey(owner.accessToken, { name: "the owner's", scopes: ['contacts:read'] });
    expect((await http.get('/contacts', { token: key })).status).to.equal(200);

    const deactivated = await http.post(`/users/${admin.userId}/deactivate`, undefined, { token: owner.accessToken });
    expect(deactivated.status, JSON.stringify(deactivated.body)).to.equal(200);
    expectProblem(await http.get('/contacts', { token: key }), 401);
    expectProblem(await http.post('/contacts', { email: uniqueEmail('x') }, { token: key }), 401);
    expectProblem(await http.get('/contacts', { headers: { 'X-API-Key': key } }), 401);
    // Other members' keys are not affected.
    expect((await http.get('/contacts', { token: ownersKey })).status).to.equal(200);

    expect((await http.post(`/users/${admin.userId}/reactivate`, undefined, { token: owner.accessToken })).status).to.equal(200);
    expect((await http.get('/contacts', { token: key })).status, 'at once again').to.equal(200);
  });

  it('a key made by a key holds at most what its maker holds now, can mint no more than that, and dies with it', async () => {
    // A second owner, so that one of them can step down.
    let coOwner = await inviteMember(system, owner, 'admin');
    await setRole(coOwner.userId, 'owner');
    coOwner = await refreshed(coOwner);
    const { key: parent, id: parentId } = await createKey(coOwner.accessToken, { name: 'provisioner' });
    const { key: child } = await createKey(parent, { name: 'child', scopes: ['contacts:read', 'contacts:write', 'roles:manage'] });
    const target = await inviteMember(system, owner, 'viewer');
    expect((await http.put(`/users/${target.userId}/role`, { role: 'member' }, { token: child })).status, "an owner's grant").to.equal(200);

    await setRole(coOwner.userId, 'admin');
    const beyond = await http.post('/api-keys', { name: 'too much', scopes: ['contacts:read', 'roles:manage', 'billing:manage'] }, { token: parent });
    expectProblem(beyond, 403, ['scopes']);
    expect(beyond.body.code).to.equal('scope_not_allowed');
    expect(beyond.body.detail).to.include('billing:manage').and.include('roles:manage').and.not.include('contacts:read');
    const defaults = await http.post('/api-keys', { name: 'what I hold' }, { token: parent });
    expect(defaults.status, JSON.stringify(defaults.body)).to.equal(201);
    expect(defaults.body.scopes).to.include('apiKeys:manage').and.not.include.members(['roles:manage']);
    expect(defaults.body.scopes).not.to.include('billing:manage');
    // The child, made while its maker's creator was an owner, lost role management with them.
    expectProblem(await http.put(`/users/${target.userId}/role`, { role: 'viewer' }, { token: child }), 403);
    expect((await http.post('/contacts', { email: uniqueEmail('child') }, { token: child })).status).to.equal(201);

    await setRole(coOwner.userId, 'viewer');
    expectProblem(await http.post('/contacts', { email: uniqueEmail('child') }, { token: child }), 403);
    expect((await http.get('/contacts', { token: child })).status).to.equal(200);

    // Revoking the maker revokes what it made, at once.
    expect((await http.delete(`/api-keys/${parentId}`, { token: owner.accessToken })).status).to.equal(200);
    expectProblem(await http.get('/contacts', { token: parent }), 401);
    expectProblem(await http.get('/contacts', { token: child }), 401);
  });

  it('revokes at once, a key just verified included', async () => {
    const created = await http.post('/api-keys', { name: 'short-lived', scopes: ['contacts:read'] }, { token: owner.accessToken });
    expect((await http.get('/contacts', { token: created.body.key })).status).to.equal(200);
    expect((await http.delete(`/api-keys/${created.body.id}`, { token: owner.accessToken })).status).to.equal(200);
    expectProblem(await http.get('/contacts', { token: created.body.key }), 401);
  });
});
