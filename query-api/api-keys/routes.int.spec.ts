import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventually } from '../../test/support/events.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant } from '../../test/support/query-api-spec.ts';

describe('query API: API keys (GET /api-keys, /api-keys/:id)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  const ids = (reply: { body: { data: { id: string }[] } }) => reply.body.data.map((item) => item.id);

  it('lists the keys oldest first, never the key itself: active, revoked, and expired once past their date', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const ci = acme.apiKey('CI', ['contacts:read', 'workflows:read'], 1);
    const old = acme.apiKey('Old', ['contacts:read'], 2);
    const lapsed = acme.apiKey('Lapsed', ['contacts:read'], 3, acme.owner, at(60));
    await api.given(
      acme.signup,
      globex.signup,
      ci.facts,
      old.facts,
      old.revoke(10),
      lapsed.facts,
      globex.apiKey('Theirs', ['contacts:read'], 1).facts,
    );

    const all = await api.get(acme.owner, '/api-keys');
    expect(all.status).to.equal(200);
    expect(all.body.data).to.deep.equal([
      {
        id: ci.id,
        name: 'CI',
        prefix: ci.key.slice(0, 12),
        scopes: ['contacts:read', 'workflows:read'],
        status: 'active',
        createdBy: { type: 'user', id: acme.owner.userId },
        createdAt: at(1),
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
      },
      {
        id: old.id,
        name: 'Old',
        prefix: old.key.slice(0, 12),
        scopes: ['contacts:read'],
        status: 'revoked',
        createdBy: { type: 'user', id: acme.owner.userId },
        createdAt: at(2),
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: at(10),
      },
      {
        id: lapsed.id,
        name: 'Lapsed',
        prefix: lapsed.key.slice(0, 12),
        scopes: ['contacts:read'],
        status: 'expired',
        createdBy: { type: 'user', id: acme.owner.userId },
        createdAt: at(3),
        expiresAt: at(60),
        lastUsedAt: null,
        revokedAt: null,
      },
    ]);
    expect(JSON.stringify(all.body)).not.to.contain(ci.key.slice(12));

    expect(ids(await api.get(acme.owner, '/api-keys?status=revoked'))).to.deep.equal([old.id]);
    // Expiry is a matter of time: the filter goes by the recorded status, the answer tells.
    expect(ids(await api.get(acme.owner, '/api-keys?status=active'))).to.deep.equal([ci.id, lapsed.id]);
    const first = await api.get(acme.owner, '/api-keys?limit=2');
    const second = await api.get(acme.owner, `/api-keys?limit=2&cursor=${first.body.page.nextCursor}`);
    expect([...ids(first), ...ids(second)]).to.deep.equal([ci.id, old.id, lapsed.id]);
    expect(second.body.page).to.deep.equal({ limit: 2, hasMore: false, nextCursor: null });
  });

  it("answers one key; another organization's key is 404", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const ci = acme.apiKey('CI', ['contacts:read'], 1);
    const theirs = globex.apiKey('Theirs', ['contacts:read'], 1);
    await api.given(acme.signup, globex.signup, ci.facts, theirs.facts);

    const reply = await api.get(acme.owner, `/api-keys/${ci.id}`);
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include({ id: ci.id, name: 'CI', status: 'active' });
    expectProblem(await api.get(acme.owner, `/api-keys/${theirs.id}`), 404);
    expectProblem(await api.get(acme.owner, `/api-keys/${randomUUID()}`), 404);
    expectProblem(await api.get(acme.owner, '/api-keys/nfk_abc'), 404);
  });

  it('is for owners and admins (apiKeys:read): members and viewers get 403, on the list and on one key', async () => {
    const acme = tenant();
    const admin = acme.member('admin', 1);
    const ci = acme.apiKey('CI', ['contacts:read'], 3);
    await api.given(acme.signup, admin.facts, ci.facts);

    expect((await api.get(admin.member, '/api-keys')).status).to.equal(200);
    for (const role of ['member', 'viewer'] as const) {
      const reader = { ...admin.member, role };
      const list = await api.get(reader, '/api-keys');
      expectProblem(list, 403);
      expect(list.body.code).to.be.a('string');
      expectProblem(await api.get(reader, `/api-keys/${ci.id}`), 403);
      // Refused before any handler runs: the same answer for a key that does not exist.
      expectProblem(await api.get(reader, `/api-keys/${randomUUID()}`), 403);
    }
  });

  it("serves an API key with the scope, within what its creator may do now; records its last use from the query API's own process", async () => {
    const acme = tenant();
    const admin = acme.member('admin', 1);
    const auditor = acme.apiKey('Auditor', ['apiKeys:read'], 3);
    const adminsKey = acme.apiKey("Admin's key", ['apiKeys:read'], 4, admin.member);
    const contactsOnly = acme.apiKey('Contacts', ['contacts:read'], 5);
    await api.given(acme.signup, admin.facts, auditor.facts, adminsKey.facts, contactsOnly.facts);

    const byKey = await api.http.get('/api-keys', { token: auditor.key });
    expect(byKey.status, JSON.stringify(byKey.body)).to.equal(200);
    expect(ids(byKey)).to.deep.equal([auditor.id, adminsKey.id, contactsOnly.id]);
    expectProblem(await api.http.get('/api-keys', { token: contactsOnly.key }), 403);
    // One character changed (never to itself: a key that already ends in A gets a B).
    const tampered = `${auditor.key.slice(0, -1)}${auditor.key.endsWith('A') ? 'B' : 'A'}`;
    expectProblem(await api.http.get('/api-keys', { token: tampered }), 401);

    // Its creator demoted to member: the key holds no more than a member may (apiKeys:read is gone).
    await api.given(
      acme.organization.decide(
        { type: 'ChangeMemberRole', data: { organizationId: acme.id, userId: admin.member.userId, role: 'member', byRole: 'owner' } },
        5,
      ),
    );
    expectProblem(await api.http.get('/api-keys', { token: adminsKey.key }), 403);

    // "Last used", recorded as an event by the process that authenticated the key (no command handler here).
    const lastUsed = await eventually(
      async () => {
        await api.project();
        return (await api.get(acme.owner, `/api-keys/${auditor.id}`)).body.lastUsedAt as string | null;
      },
      (value) => value !== null,
    );
    expect(Date.parse(lastUsed!)).to.be.closeTo(Date.now(), 120_000);
  });

  it('answers 400 naming each bad query parameter, and a revoked key is refused (401)', async () => {
    const acme = tenant();
    const gone = acme.apiKey('Gone', ['apiKeys:read'], 1);
    await api.given(acme.signup, gone.facts, gone.revoke(2));
    for (const [query, name] of [
      ['status=expired', 'status'],
      ['limit=-1', 'limit'],
      ['limit=1.5', 'limit'],
      ['cursor=%7B%7D', 'cursor'],
      ['prefix=nfk', 'prefix'],
    ] as const) {
      expectProblem(await api.get(acme.owner, `/api-keys?${query}`), 400, [name]);
    }
    expectProblem(await api.http.get('/api-keys', { token: gone.key }), 401);
  });
});
