import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { roleGrants, roles, type Role } from '../../domain/access/permissions.ts';
import { eventually } from '../support/events.ts';
import { operationsOf } from '../support/openapi.ts';
import {
  inviteMember,
  Mailbox,
  registerAccount,
  startTestSystem,
  uniqueEmail,
  type Account,
  type HttpClient,
  type TestSystem,
} from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

describe('Members, roles and API keys, end to end (real PostgreSQL and Redis)', function () {
  this.timeout(120_000);
  let system: TestSystem;
  let http: HttpClient;
  let owner: Account;
  const team = {} as Record<Role, Account>;

  before(async () => {
    system = await startTestSystem();
    http = system.http;
    owner = await registerAccount(system, 'Team');
    team.owner = owner;
    team.admin = await inviteMember(system, owner, 'admin');
    team.member = await inviteMember(system, owner, 'member');
    team.viewer = await inviteMember(system, owner, 'viewer');
  });
  after(async () => system?.stop());

  /** A fresh session of a team member (some operations end the session they are called with). */
  async function freshToken(role: Role): Promise<string> {
    const login = await http.post('/auth/login', { email: team[role].email, password: team[role].password });
    expect(login.status, JSON.stringify(login.body)).to.equal(200);
    return login.body.accessToken;
  }

  describe('invitations', () => {
    it('invites by email; the invitee accepts with a name and password, joins with the role, and is signed in', async () => {
      const email = uniqueEmail('invitee');
      const invited = await http.post('/invitations', { email, role: 'member' }, { token: owner.accessToken });
      expect(invited.status, JSON.stringify(invited.body)).to.equal(201);
      const pending = await http.get('/invitations?status=pending', {
        token: owner.accessToken,
        headers: { 'X-Min-Position': invited.body.position },
      });
      expect(pending.body.data.map((i: { id: string }) => i.id)).to.include(invited.body.id);
      expect(JSON.stringify(pending.body), 'no secret in the list').not.to.match(/secret|hash/i);

      const mail = await system.mailbox.latest(email, 'invitation');
      expect(mail.subject).to.include('Team');
      const token = Mailbox.tokenIn(mail);
      expectProblem(await http.post('/invitations/accept', { token, name: '', password: 'short' }), 400, ['name', 'password']);
      const accepted = await http.post('/invitations/accept', { token, name: 'Ada', password: 'correct horse battery' });
      expect(accepted.status, JSON.stringify(accepted.body)).to.equal(201);
      expect(accepted.body.organizationId).to.equal(owner.organizationId);
      expectProblem(await http.post('/invitations/accept', { token, name: 'Ada', password: 'correct horse battery' }), 401);

      const me = await http.get('/auth/me', { token: accepted.body.accessToken, headers: { 'X-Min-Position': accepted.body.position } });
      expect(me.body).to.deep.include({ email, role: 'member', status: 'active' });
      const users = await http.get('/users', { token: owner.accessToken, headers: { 'X-Min-Position': accepted.body.position } });
      expect(users.body.data.find((u: { email: string }) => u.email === email)).to.deep.include({ role: 'member', name: 'Ada' });
      const after = await http.get('/invitations', { token: owner.accessToken, headers: { 'X-Min-Position': accepted.body.position } });
      expect(after.body.data.find((i: { id: string }) => i.id === invited.body.id)).to.deep.include({
        status: 'accepted',
        userId: accepted.body.userId,
      });
    });

    it('refuses to invite a member again or twice, and a revoked invitation cannot be accepted', async () => {
      expectProblem(await http.post('/invitations', { email: team.member.email, role: 'viewer' }, { token: owner.accessToken }), 409, ['email']);
      const email = uniqueEmail('twice');
      const first = await http.post('/invitations', { email, role: 'viewer' }, { token: owner.accessToken });
      expectProblem(await http.post('/invitations', { email, role: 'viewer' }, { token: owner.accessToken }), 409, ['email']);
      const token = Mailbox.tokenIn(await system.mailbox.latest(email, 'invitation'));
      expect((await http.delete(`/invitations/${first.body.id}`, { token: owner.accessToken })).status).to.equal(200);
      expectProblem(await http.post('/invitations/accept', { token, name: 'Late', password: 'correct horse battery' }), 401);
      expectProblem(await http.post('/invitations/accept', { token: 'junk', name: 'Late', password: 'correct horse battery' }), 401);
    });

    it('lets admins invite members and viewers but not admins or owners', async () => {
      expect(
        (await http.post('/invitations', { email: uniqueEmail('by-admin'), role: 'viewer' }, { token: team.admin.accessToken })).status,
      ).to.equal(201);
      expectProblem(await http.post('/invitations', { email: uniqueEmail('by-admin'), role: 'admin' }, { token: team.admin.accessToken }), 403, [
        'role',
      ]);
      expectProblem(await http.post('/invitations', { email: uniqueEmail('by-admin'), role: 'owner' }, { token: team.admin.accessToken }), 403);
      expectProblem(await http.post('/invitations', { email: uniqueEmail('by-member'), role: 'viewer' }, { token: team.member.accessToken }), 403);
    });
  });

  describe('the permission table', () => {
    it('is enforced on every route: each role gets 403 exactly where its role lacks the permission', async () => {
      const operations = (await operationsOf(http)).filter((op) => op.permission);
      expect(operations.length).to.be.greaterThan(15);
      const checked: string[] = [];
      for (const operation of operations) {
        if (operation.hasBody) expect(operation.example, `${operation.method} ${operation.path} documents an example body`).not.to.equal(undefined);
        for (const role of roles) {
          // Unknown ids: an allowed caller gets past the permission check to a 404 (or 2xx/4xx), never a 403.
          const path = operation.path.replace(/\{[^}]+\}/g, () => randomUUID());
          const reply = await http.request(operation.method, path, {
            token: await freshToken(role),
            ...(operation.hasBody ? { body: operation.example } : {}),
          });
          const allowed = roleGrants(role, operation.permission!);
          const where = `${role} ${operation.method} ${operation.path} (${operation.permission}): ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`;
          if (allowed) expect(reply.status, where).not.to.equal(403);
          else {
            expect(reply.status, where).to.equal(403);
            expect(reply.body.code, where).to.equal('insufficient_permission');
          }
          checked.push(`${role} ${operation.method} ${operation.path}`);
        }
      }
      expect(checked).to.include.members(['viewer POST /contacts', 'admin PUT /users/{id}/role', 'member POST /invitations']);
    });
  });

  describe('roles and deactivation', () => {
    it('refuses a deactivated member at once: their still-valid access token, their refresh token, their password', async () => {
      const leaving = await inviteMember(system, owner, 'member');
      expect((await http.get('/contacts', { token: leaving.accessToken })).status).to.equal(200);
      const deactivated = await http.post(`/users/${leaving.userId}/deactivate`, undefined, { token: team.admin.accessToken });
      expect(deactivated.status, JSON.stringify(deactivated.body)).to.equal(200);

      expectProblem(await http.get('/contacts', { token: leaving.accessToken }), 401);
      expectProblem(await http.post('/contacts', { email: 'x@example.com' }, { token: leaving.accessToken }), 401);
      expectProblem(await http.post('/auth/refresh', { refreshToken: leaving.refreshToken }), 401);
      expectProblem(await http.post('/auth/login', { email: leaving.email, password: leaving.password }), 401);
      const listed = await http.get(`/users/${leaving.userId}`, {
        token: owner.accessToken,
        headers: { 'X-Min-Position': deactivated.body.position },
      });
      expect(listed.body.status).to.equal('deactivated');

      expect((await http.post(`/users/${leaving.userId}/reactivate`, undefined, { token: owner.accessToken })).status).to.equal(200);
      expect((await http.post('/auth/login', { email: leaving.email, password: leaving.password })).status).to.equal(200);
    });

    it('applies a role change at once: the old token is refused, a refresh carries the new role', async () => {
      const promoted = await inviteMember(system, owner, 'viewer');
      expectProblem(await http.post('/contacts', { email: uniqueEmail('c') }, { token: promoted.accessToken }), 403);
      const changed = await http.put(`/users/${promoted.userId}/role`, { role: 'member' }, { token: owner.accessToken });
      expect(changed.status, JSON.stringify(changed.body)).to.equal(200);
      expectProblem(await http.get('/contacts', { token: promoted.accessToken }), 401);
      const refreshed = await http.post('/auth/refresh', { refreshToken: promoted.refreshToken });
      expect(refreshed.status).to.equal(200);
      expect((await http.post('/contacts', { email: uniqueEmail('c') }, { token: refreshed.body.accessToken })).status).to.equal(201);
      const me = await http.get('/auth/me', { token: refreshed.body.accessToken, headers: { 'X-Min-Position': changed.body.position } });
      expect(me.body.role).to.equal('member');
    });

    it('keeps the last owner, and keeps admins away from owners and admins', async () => {
      expectProblem(await http.put(`/users/${owner.userId}/role`, { role: 'admin' }, { token: owner.accessToken }), 409);
      expectProblem(await http.post(`/users/${owner.userId}/deactivate`, undefined, { token: owner.accessToken }), 409);
      expectProblem(await http.post(`/users/${owner.userId}/deactivate`, undefined, { token: team.admin.accessToken }), 403);
      const otherAdmin = await inviteMember(system, owner, 'admin');
      expectProblem(await http.post(`/users/${otherAdmin.userId}/deactivate`, undefined, { token: team.admin.accessToken }), 403);
      expectProblem(await http.put(`/users/${team.member.userId}/role`, { role: 'viewer' }, { token: team.admin.accessToken }), 403);
      // A second owner lets the first one step down.
      const coOwner = await http.put(`/users/${otherAdmin.userId}/role`, { role: 'owner' }, { token: owner.accessToken });
      expect(coOwner.status).to.equal(200);
      const refreshed = await http.post('/auth/refresh', { refreshToken: otherAdmin.refreshToken });
      expect((await http.put(`/users/${otherAdmin.userId}/role`, { role: 'admin' }, { token: refreshed.body.accessToken })).status).to.equal(200);
      expectProblem(await http.put(`/users/${owner.userId}/role`, { role: 'admin' }, { token: owner.accessToken }), 409);
    });
  });

  describe('API keys', () => {
    it('creates a key shown once, usable as Bearer or X-API-Key within its scopes, recorded as the actor, listed with last use, revoked at once', async () => {
      const created = await http.post('/api-keys', { name: 'CRM export', scopes: ['contacts:read', 'contacts:write'] }, { token: owner.accessToken });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      const key: string = created.body.key;
      expect(key).to.match(/^nfk_/);
      expect(created.headers.get('cache-control')).to.equal('no-store');

      const write = await http.post('/contacts', { email: uniqueEmail('by-key') }, { token: key });
      expect(write.status, JSON.stringify(write.body)).to.equal(201);
      expect((await http.get('/contacts', { headers: { 'X-API-Key': key } })).status).to.equal(200);
      const events = await system.process.platform.eventStore.readStream(`contact-${write.body.id}`);
      expect(events[0]!.metadata.actor).to.deep.equal({ type: 'apiKey', id: created.body.id });
      expect(events[0]!.metadata.tenantId).to.equal(owner.organizationId);

      // Outside its scopes, and never as a user.
      expectProblem(await http.get('/users', { token: key }), 403);
      expectProblem(await http.get('/auth/me', { token: key }), 403);
      expectProblem(await http.post('/api-keys', { name: 'escalate' }, { token: key }), 403);

      const listed = await eventually(
        () => http.get('/api-keys', { token: owner.accessToken }),
        (reply) => reply.body.data?.find((k: { id: string }) => k.id === created.body.id)?.lastUsedAt !== null,
      );
      const shown = listed.body.data.find((k: { id: string }) => k.id === created.body.id);
      expect(shown).to.deep.include({ name: 'CRM export', status: 'active', prefix: key.slice(0, 12) });
      expect(shown.scopes).to.deep.equal(['contacts:read', 'contacts:write']);
      expect(JSON.stringify(listed.body), 'the key is never shown again').not.to.include(key.slice(12));

      const revoked = await http.delete(`/api-keys/${created.body.id}`, { token: owner.accessToken });
      expect(revoked.status).to.equal(200);
      expectProblem(await http.get('/contacts', { token: key }), 401);
      expectProblem(await http.get('/contacts', { token: `${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}` }), 401);
    });

    it('never grants more than its creator holds', async () => {
      const beyond = await http.post('/api-keys', { name: 'too much', scopes: ['billing:manage'] }, { token: team.admin.accessToken });
      expectProblem(beyond, 403, ['scopes']);
      const defaults = await http.post('/api-keys', { name: 'defaults' }, { token: team.admin.accessToken });
      expect(defaults.status).to.equal(201);
      expect(defaults.body.scopes).not.to.include.members(['billing:manage', 'roles:manage', 'account:self']);
      expectProblem(await http.post('/api-keys', { name: 'bad', scopes: ['make:coffee'] }, { token: owner.accessToken }), 400, ['scopes.0']);
    });
  });
});
