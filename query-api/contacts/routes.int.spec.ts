import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { TOKENS } from '../../infra/di/tokens.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';

describe('query API: contacts (GET /contacts, GET /contacts/:id)', function () {
  this.timeout(30_000);
  // Short enough for the 503 case, long enough for a case to project while a request waits.
  const api = queryApiSpec({ env: { READ_YOUR_WRITES_TIMEOUT_MS: '3000' } });

  /** Five contacts created a minute apart (minutes 1..5), with names, tags and one updated later. */
  function addressBook(org: Tenant) {
    const people = [
      org.contact({ email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', company: 'Analytical', tags: ['vip', 'emea'] }, 1),
      org.contact({ email: 'grace@example.com', firstName: 'Grace', lastName: 'Hopper', tags: ['vip'] }, 2),
      org.contact({ email: 'alan@example.com', firstName: 'Alan', lastName: 'Turing', tags: ['emea'] }, 3),
      org.contact({ email: 'edsger@example.com', firstName: 'Edsger', lastName: 'Dijkstra' }, 4),
      org.contact({ email: 'barbara@example.com', firstName: 'Barbara', lastName: 'Liskov', tags: ['vip', 'emea'] }, 5),
    ];
    const [ada] = people;
    const renamed = ada!.stream.decide(
      { type: 'UpdateContact', data: { contactId: ada!.id, organizationId: org.id, changes: { title: 'Countess' } } },
      30,
    );
    return { people, facts: [...people.flatMap((p) => p.facts), ...renamed] };
  }

  const ids = (reply: { body: { data: { id: string }[] } }) => reply.body.data.map((c) => c.id);
  const emails = (reply: { body: { data: { email: string }[] } }) => reply.body.data.map((c) => c.email);

  it('lists the contacts of the caller’s organization newest first, a page at a time, until no next cursor', async () => {
    const acme = tenant('Acme');
    const globex = tenant('Globex');
    const book = addressBook(acme);
    await api.given(acme.signup, globex.signup, book.facts, globex.contact({ email: 'ada@example.com' }, 3).facts);
    const newestFirst = [...book.people].reverse().map((p) => p.id);

    const seen: string[] = [];
    let path = '/contacts?limit=2';
    const pages: { hasMore: boolean; nextCursor: string | null; limit: number }[] = [];
    for (let i = 0; i < 5 && path; i++) {
      const reply = await api.get(acme.owner, path);
      expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      seen.push(...ids(reply));
      pages.push(reply.body.page);
      path = reply.body.page.nextCursor ? `/contacts?limit=2&cursor=${encodeURIComponent(reply.body.page.nextCursor)}` : '';
    }
    expect(seen).to.deep.equal(newestFirst);
    expect(pages.map((p) => [p.limit, p.hasMore, p.nextCursor === null])).to.deep.equal([
      [2, true, false],
      [2, true, false],
      [2, false, true],
    ]);

    // Globex sees its own contact only (same email: unique per organization, not across them).
    const theirs = await api.get(globex.owner, '/contacts');
    expect(theirs.body.data.map((c: { email: string }) => c.email)).to.deep.equal(['ada@example.com']);
    expect(theirs.body.data[0].id).not.to.be.oneOf(newestFirst);
  });

  it('sorts by name, email, creation or update time, either way, with keyset paging in that order', async () => {
    const acme = tenant();
    const book = addressBook(acme);
    await api.given(acme.signup, book.facts);

    const byName = await api.get(acme.owner, '/contacts?sort=name');
    expect(byName.body.data.map((c: { lastName: string }) => c.lastName)).to.deep.equal(['Dijkstra', 'Hopper', 'Liskov', 'Lovelace', 'Turing']);
    const byNameDescending = await api.get(acme.owner, '/contacts?sort=-name');
    expect(byNameDescending.body.data.map((c: { lastName: string }) => c.lastName)).to.deep.equal([
      'Turing',
      'Lovelace',
      'Liskov',
      'Hopper',
      'Dijkstra',
    ]);
    expect(emails(await api.get(acme.owner, '/contacts?sort=email'))).to.deep.equal([
      'ada@example.com',
      'alan@example.com',
      'barbara@example.com',
      'edsger@example.com',
      'grace@example.com',
    ]);
    expect(ids(await api.get(acme.owner, '/contacts?sort=createdAt'))).to.deep.equal(book.people.map((p) => p.id));
    // Ada was updated last.
    expect(emails(await api.get(acme.owner, '/contacts?sort=-updatedAt&limit=1'))).to.deep.equal(['ada@example.com']);

    // Paging by name: the second page starts after the first page's last name.
    const first = await api.get(acme.owner, '/contacts?sort=name&limit=3');
    expect(first.body.page).to.include({ hasMore: true, limit: 3 });
    const second = await api.get(acme.owner, `/contacts?sort=name&limit=3&cursor=${first.body.page.nextCursor}`);
    expect(second.body.data.map((c: { lastName: string }) => c.lastName)).to.deep.equal(['Lovelace', 'Turing']);
    expect(second.body.page).to.deep.equal({ limit: 3, hasMore: false, nextCursor: null });

    // A cursor belongs to its sort.
    const mismatched = await api.get(acme.owner, `/contacts?sort=email&limit=3&cursor=${first.body.page.nextCursor}`);
    expectProblem(mismatched, 400, ['cursor']);
  });

  it('filters by tags (all of them), by email and by update time', async () => {
    const acme = tenant();
    const book = addressBook(acme);
    await api.given(acme.signup, book.facts);

    expect(emails(await api.get(acme.owner, '/contacts?tag=vip&sort=email'))).to.deep.equal([
      'ada@example.com',
      'barbara@example.com',
      'grace@example.com',
    ]);
    expect(emails(await api.get(acme.owner, '/contacts?tag=vip&tag=emea&sort=email'))).to.deep.equal(['ada@example.com', 'barbara@example.com']);
    expect(emails(await api.get(acme.owner, '/contacts?tag=nobody'))).to.deep.equal([]);
    // The email filter is read as the API stores emails: trimmed and lower-cased.
    expect(emails(await api.get(acme.owner, `/contacts?email=${encodeURIComponent(' Grace@Example.com ')}`))).to.deep.equal(['grace@example.com']);
    expect(emails(await api.get(acme.owner, `/contacts?updatedSince=${encodeURIComponent(at(10))}`))).to.deep.equal(['ada@example.com']);
    expect(ids(await api.get(acme.owner, `/contacts?updatedSince=${encodeURIComponent(at(3))}&sort=createdAt`))).to.deep.equal(
      [0, 2, 3, 4].map((i) => book.people[i]!.id),
    );
  });

  it('answers one contact with its fields, tags, revision and ETag; 304 for an unchanged ETag; 404 once deleted', async () => {
    const acme = tenant();
    const ada = acme.contact({ email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', customFields: { score: 7 }, tags: ['vip'] }, 1);
    const grace = acme.contact({ email: 'grace@example.com' }, 2);
    const tagged = ada.stream.decide(
      { type: 'ChangeContactTags', data: { contactId: ada.id, organizationId: acme.id, add: ['emea'], remove: [] } },
      5,
    );
    const deleted = grace.stream.decide({ type: 'DeleteContact', data: { contactId: grace.id, organizationId: acme.id } }, 6);
    await api.given(acme.signup, ada.facts, grace.facts, tagged, deleted);

    const reply = await api.get(acme.owner, `/contacts/${ada.id}`);
    expect(reply.status).to.equal(200);
    expect(reply.body).to.deep.equal({
      id: ada.id,
      email: 'ada@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      phone: null,
      company: null,
      title: null,
      timezone: null,
      customFields: { score: 7 },
      tags: ['vip', 'emea'],
      createdAt: at(1),
      updatedAt: at(5),
      revision: 1,
    });
    expect(reply.headers.get('etag')).to.equal('"1"');
    // An id is matched whatever its case.
    expect((await api.get(acme.owner, `/contacts/${ada.id.toUpperCase()}`)).body.id).to.equal(ada.id);

    const unchanged = await api.get(acme.owner, `/contacts/${ada.id}`, { 'If-None-Match': '"1"' });
    expect(unchanged.status).to.equal(304);
    expect((await api.get(acme.owner, `/contacts/${ada.id}`, { 'If-None-Match': '"0"' })).status).to.equal(200);

    expectProblem(await api.get(acme.owner, `/contacts/${grace.id}`), 404);
    expect(ids(await api.get(acme.owner, '/contacts'))).to.deep.equal([ada.id]);
  });

  it("answers 404 for another organization's contact, exactly as for an id that does not exist or is not an id", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const theirs = globex.contact({ email: 'secret@globex.test' }, 1);
    await api.given(acme.signup, globex.signup, theirs.facts);

    const other = await api.get(acme.owner, `/contacts/${theirs.id}`);
    const missing = await api.get(acme.owner, `/contacts/${randomUUID()}`);
    const notAnId = await api.get(acme.owner, '/contacts/not-an-id');
    for (const reply of [other, missing, notAnId]) expectProblem(reply, 404);
    const withoutRequest = ({ instance: _instance, requestId: _requestId, ...problem }: Record<string, unknown>) => problem;
    expect(withoutRequest(other.body)).to.deep.equal(withoutRequest(missing.body));
    expect(JSON.stringify(other.body)).not.to.contain('globex');
    expect((await api.get(globex.owner, `/contacts/${theirs.id}`)).status).to.equal(200);
  });

  it('answers 400 naming each bad query parameter', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const cases: [string, string][] = [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['sort=age', 'sort'],
      ['updatedSince=yesterday', 'updatedSince'],
      ['email=not-an-email', 'email'],
      ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['colour=blue', 'colour'],
    ];
    for (const [query, name] of cases) {
      const reply = await api.get(acme.owner, `/contacts?${query}`);
      expectProblem(reply, 400, [name]);
    }
    // Every problem at once.
    expectProblem(await api.get(acme.owner, '/contacts?limit=0&sort=age'), 400, ['limit', 'sort']);
  });

  it('serves every role (contacts:read); an API key needs the scope (403 without it); no credentials is 401', async () => {
    const acme = tenant();
    const viewer = acme.member('viewer', 1);
    const ada = acme.contact({ email: 'ada@example.com' }, 3);
    const reader = acme.apiKey('reader', ['contacts:read'], 4);
    const workflowsOnly = acme.apiKey('workflows only', ['workflows:read'], 4);
    await api.given(acme.signup, viewer.facts, ada.facts, reader.facts, workflowsOnly.facts);

    for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
      const reply = await api.get({ ...viewer.member, role }, '/contacts');
      expect(reply.status, role).to.equal(200);
      expect(ids(reply), role).to.deep.equal([ada.id]);
    }
    const byKey = await api.http.get('/contacts', { token: reader.key });
    expect(byKey.status, JSON.stringify(byKey.body)).to.equal(200);
    expect(ids(byKey)).to.deep.equal([ada.id]);
    expect((await api.http.get(`/contacts/${ada.id}`, { headers: { 'X-API-Key': reader.key } })).status).to.equal(200);

    expectProblem(await api.http.get('/contacts', { token: workflowsOnly.key }), 403);
    expectProblem(await api.http.get('/contacts'), 401);
    expectProblem(await api.http.get('/contacts', { token: 'not-a-token' }), 401);
  });

  describe('X-Min-Position (read your writes)', () => {
    it('answers at once for a position the read models hold', async () => {
      const acme = tenant();
      const ada = acme.contact({ email: 'ada@example.com' }, 1);
      const position = await api.given(acme.signup, ada.facts);
      const reply = await api.get(acme.owner, `/contacts/${ada.id}`, { 'X-Min-Position': position });
      expect(reply.status).to.equal(200);
    });

    it('waits for a position not projected yet, and answers once the projections apply it', async () => {
      const acme = tenant();
      await api.given(acme.signup);
      const ada = acme.contact({ email: 'ada@example.com' }, 1);
      const position = await api.append(ada.facts);

      let answered = false;
      const waiting = api.get(acme.owner, `/contacts/${ada.id}`, { 'X-Min-Position': position }).finally(() => (answered = true));
      const list = api.get(acme.owner, '/contacts', { 'X-Min-Position': position });
      // Meanwhile a read without the header answers what the read models hold: not Ada yet.
      expectProblem(await api.get(acme.owner, `/contacts/${ada.id}`), 404);
      expect(answered, 'the read with X-Min-Position waits').to.equal(false);
      await api.project();
      const [one, all] = await Promise.all([waiting, list]);
      expect(one.status, JSON.stringify(one.body)).to.equal(200);
      expect(one.body.email).to.equal('ada@example.com');
      expect(ids(all)).to.deep.equal([ada.id]);
    });

    it('answers 503 with Retry-After when the read models do not reach it in time', async () => {
      const acme = tenant();
      await api.given(acme.signup);
      const ada = acme.contact({ email: 'ada@example.com' }, 1);
      const position = await api.append(ada.facts);

      const startedAt = Date.now();
      const reply = await api.get(acme.owner, `/contacts/${ada.id}`, { 'X-Min-Position': position });
      expectProblem(reply, 503);
      expect(reply.body.code).to.equal('read_models_behind');
      expect(reply.headers.get('retry-after')).to.equal('1');
      expect(Date.now() - startedAt).to.be.at.least(api.config.READ_YOUR_WRITES_TIMEOUT_MS - 50);
      // Without the header the query answers what the read models hold now.
      expectProblem(await api.get(acme.owner, `/contacts/${ada.id}`), 404);
      await api.project();
      expect((await api.get(acme.owner, `/contacts/${ada.id}`, { 'X-Min-Position': position })).status).to.equal(200);
    });

    it('answers 400 for a position beyond the head of the log (no command answered it) or one that is not a position', async () => {
      const acme = tenant();
      await api.given(acme.signup);
      const beyond = (BigInt(await api.head()) + 1000n).toString();

      const startedAt = Date.now();
      const reply = await api.get(acme.owner, '/contacts', { 'X-Min-Position': beyond });
      expectProblem(reply, 400, ['X-Min-Position']);
      expect(Date.now() - startedAt, 'refused without waiting').to.be.below(api.config.READ_YOUR_WRITES_TIMEOUT_MS);
      expectProblem(await api.get(acme.owner, '/contacts', { 'X-Min-Position': 'latest' }), 400, ['X-Min-Position']);
      expectProblem(await api.get(acme.owner, '/contacts', { 'X-Min-Position': '9223372036854775808' }), 400, ['X-Min-Position']);
      expectProblem(await api.get(acme.owner, `/contacts/${randomUUID()}`, { 'X-Min-Position': beyond }), 400, ['X-Min-Position']);
    });
  });

  it('is served by the query API alone: no command handler in the role, no command routes', async () => {
    expect(api.roleBinds(TOKENS.Routes), 'the role binds its query routes').to.equal(true);
    expect(api.roleBinds(TOKENS.CommandHandler)).to.equal(false);
    expect(api.roleBinds(TOKENS.ContactCommands)).to.equal(false);
    const acme = tenant();
    await api.given(acme.signup);
    const token = await api.tokenFor(acme.owner);
    const created = await api.http.post('/contacts', { email: 'ada@example.com' }, { token });
    expect(created.status).to.be.oneOf([404, 405]);
    expect((await api.http.delete(`/contacts/${randomUUID()}`, { token })).status).to.be.oneOf([404, 405]);
  });
});
