import { expect } from 'chai';
import { inviteMember, registerAccount, startTestSystem, uniqueEmail, type Account, type HttpClient, type TestSystem } from '../support/http.ts';
import { integrationFacts } from '../support/integrations.ts';
import { operationsOf } from '../support/openapi.ts';

/**
 * Tenant B signs in and tries every id of tenant A on every route the API has (read from /openapi.json, so a
 * new route is covered the day it is added): every answer is 404, no list shows anything of A, and A's data
 * is untouched afterwards. Then the same with B's API key.
 */
describe('Tenant isolation: tenant B tries every tenant-A id on every route (real PostgreSQL and Redis)', function () {
  this.timeout(120_000);
  let system: TestSystem;
  let http: HttpClient;
  let a: Account;
  let b: Account;
  let aMember: Account;
  const aIds: Record<string, string> = {};
  const aSecrets: string[] = [];
  let aKey: string;
  let bKey: string;
  let position = '';

  before(async () => {
    system = await startTestSystem();
    http = system.http;
    a = await registerAccount(system, 'Tenant A');
    b = await registerAccount(system, 'Tenant B');
    aMember = await inviteMember(system, a, 'member');
    const contactEmail = uniqueEmail('a-contact');
    const contact = await http.post('/contacts', { email: contactEmail, firstName: 'Secret', tags: ['a-only'] }, { token: a.accessToken });
    const invitation = await http.post('/invitations', { email: uniqueEmail('a-invitee'), role: 'viewer' }, { token: a.accessToken });
    const key = await http.post('/api-keys', { name: 'A job' }, { token: a.accessToken });
    const bApiKey = await http.post('/api-keys', { name: 'B job' }, { token: b.accessToken });
    const workflow = await http.post(
      '/workflows',
      {
        name: 'A flow',
        steps: [
          { id: 'pause', type: 'wait', config: { duration: 'PT1H' }, next: 'mark' },
          { id: 'mark', type: 'add_tag', config: { tag: 'x' }, next: null },
        ],
      },
      { token: a.accessToken },
    );
    for (const reply of [contact, invitation, key, bApiKey, workflow]) expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
    const execution = await http.post(`/workflows/${workflow.body.id}/run`, { contactId: contact.body.id }, { token: a.accessToken });
    expect(execution.status, JSON.stringify(execution.body)).to.equal(202);
    aIds.workflows = workflow.body.id;
    aIds.executions = execution.body.executionId;
    aIds.contacts = contact.body.id;
    aIds.users = aMember.userId;
    aIds.invitations = invitation.body.id;
    aIds['api-keys'] = key.body.id;
    aKey = key.body.key;
    bKey = bApiKey.body.key;
    aSecrets.push(contactEmail, a.email, aMember.email, a.organizationId, a.userId, ...Object.values(aIds));
    position = execution.body.position;
    // A CRM integration of A, recorded as the OAuth callback records one (no provider needed to read it back).
    const integration = integrationFacts(a.organizationId, { connectedBy: { type: 'user', id: a.userId } });
    for (const { id, streamId, event, metadata } of integration.connected) {
      ({ position } = await system.process.platform.eventStore.append(
        streamId,
        [{ id, type: event.type, version: event.version, data: event.data, metadata }],
        'any',
      ));
    }
    aIds.integrations = integration.id;
    aSecrets.push(integration.id, integration.grant.accountId);
  });
  after(async () => system?.stop());

  /** Which of A's ids a path parameter takes: by its name, else by the collection the path starts with. */
  function idFor(path: string, param: string): string {
    // The audit route names an entity by its kind and id: one of A's contacts.
    if (path.startsWith('/audit/entities/')) return param === 'type' ? 'contact' : aIds.contacts!;
    const id = param === 'execId' ? aIds.executions : aIds[path.split('/')[1]!];
    if (!id) throw new Error(`${path} {${param}}: the isolation suite does not know which tenant-A id to try here; add it to aIds`);
    return id;
  }

  for (const credential of ['access token', 'API key'] as const) {
    it(`answers 404 to B's ${credential} for every tenant-A id on every route, and changes nothing of A`, async () => {
      const token = () => (credential === 'API key' ? bKey : b.accessToken);
      // Routes B reaches with its own credential. A public route (a provider's webhook: its signature decides,
      // 401 whatever the id) and a parameter that names a kind rather than an entity (a CRM provider to connect)
      // hold nothing of A's to find.
      const withIds = (await operationsOf(http)).filter(
        (op) => op.path.includes('{') && op.authenticated && op.path !== '/integrations/{type}/connect',
      );
      expect(withIds.length).to.be.greaterThan(8);
      const tried: string[] = [];
      for (const operation of withIds) {
        const path = operation.path.replace(/\{([^}]+)\}/g, (_match, param: string) => idFor(operation.path, param));
        const reply = await http.request(operation.method, path, {
          token: token(),
          ...(operation.hasBody ? { body: operation.example } : {}),
          headers: { 'X-Min-Position': position },
        });
        const where = `${credential}: ${operation.method} ${path} answered ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`;
        // An API key lacking a scope may be refused first (403 says nothing about A); a user owner never is.
        if (credential === 'API key' && reply.status === 403) expect(reply.body.code, where).to.equal('insufficient_permission');
        else expect(reply.status, where).to.equal(404);
        // The problem's `instance` echoes the path B sent; nothing else may name anything of A.
        const { instance: _echo, ...answer } = reply.body as Record<string, unknown>;
        for (const secret of aSecrets) expect(JSON.stringify(answer), where).not.to.include(secret);
        tried.push(`${operation.method} ${operation.path}`);
      }
      expect(tried).to.include.members([
        'GET /contacts/{id}',
        'PATCH /contacts/{id}',
        'DELETE /contacts/{id}',
        'PUT /users/{id}/role',
        'DELETE /api-keys/{id}',
        'POST /workflows/{id}/run',
        'GET /workflows/{id}/executions/{execId}',
        'POST /workflows/{id}/executions/{execId}/cancel',
      ]);
      const execution = await http.get(`/workflows/${aIds.workflows}/executions/${aIds.executions}`, { token: a.accessToken });
      expect(execution.body.status, "A's execution is untouched").to.be.oneOf(['running', 'waiting']);
      expect((await http.get(`/workflows/${aIds.workflows}`, { token: a.accessToken })).body.status).to.equal('active');

      // A's data is as it was.
      const contact = await http.get(`/contacts/${aIds.contacts}`, { token: a.accessToken });
      expect(contact.status).to.equal(200);
      expect(contact.body).to.deep.include({ firstName: 'Secret', tags: ['a-only'], revision: 0 });
      const member = await http.get(`/users/${aMember.userId}`, { token: a.accessToken });
      expect(member.body).to.deep.include({ role: 'member', status: 'active' });
      const invitations = await http.get('/invitations', { token: a.accessToken });
      expect(invitations.body.data.find((i: { id: string }) => i.id === aIds.invitations).status).to.equal('pending');
      expect((await http.get('/contacts', { token: aKey })).status, "A's key still works").to.equal(200);
      expect((await http.get('/contacts', { token: aMember.accessToken })).status, "A's member still works").to.equal(200);
    });

    it(`shows B's ${credential} nothing of A on any list or other read`, async () => {
      const token = credential === 'API key' ? bKey : b.accessToken;
      const reads = (await operationsOf(http)).filter((op) => op.method === 'GET' && !op.path.includes('{') && op.authenticated);
      expect(reads.map((op) => op.path)).to.include.members([
        '/contacts',
        '/users',
        '/invitations',
        '/api-keys',
        '/organizations/current',
        '/workflows',
      ]);
      for (const operation of reads) {
        const reply = await http.get(operation.path, { token, headers: { 'X-Min-Position': position } });
        const where = `${credential}: GET ${operation.path} answered ${reply.status}`;
        expect(reply.status, where).to.be.oneOf([200, 403]);
        for (const secret of aSecrets) expect(JSON.stringify(reply.body), where).not.to.include(secret);
      }
      const organization = await http.get('/organizations/current', { token });
      expect(organization.body.id).to.equal(b.organizationId);
    });
  }

  it("keeps the same email apart: A and B may each have a contact with it, and filtering by it shows only one's own", async () => {
    const email = uniqueEmail('shared');
    const inA = await http.post('/contacts', { email }, { token: a.accessToken });
    const inB = await http.post('/contacts', { email }, { token: b.accessToken });
    expect([inA.status, inB.status]).to.deep.equal([201, 201]);
    const seenByB = await http.get(`/contacts?email=${encodeURIComponent(email)}`, {
      token: b.accessToken,
      headers: { 'X-Min-Position': inB.body.position },
    });
    expect(seenByB.body.data.map((c: { id: string }) => c.id)).to.deep.equal([inB.body.id]);
  });
});
