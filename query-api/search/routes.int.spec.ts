import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';

describe('query API: search (GET /search/contacts, /search/executions)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  const emails = (reply: { body: { data: { email: string }[] } }) => reply.body.data.map((hit) => hit.email);
  const ids = (reply: { body: { data: { id: string }[] } }) => reply.body.data.map((hit) => hit.id);

  /** Contacts created at minutes 1..4, and two runs of a workflow named "Spring outreach" (one failed). */
  function world(org: Tenant) {
    const ada = org.contact(
      { email: 'ada.lovelace@engines.test', firstName: 'Ada', lastName: 'Lovelace', company: 'Analytical Engines', tags: ['vip'] },
      1,
    );
    const charles = org.contact({ email: 'charles@engines.test', firstName: 'Charles', lastName: 'Babbage', company: 'Analytical Engines' }, 2);
    const grace = org.contact({ email: 'grace@navy.test', firstName: 'Grace', lastName: 'Hopper', tags: ['vip', 'navy'] }, 3);
    const alan = org.contact({ email: 'alan@bletchley.test', firstName: 'Alan', lastName: 'Turing', tags: ['vip'] }, 4);
    const outreach = org.workflow('Spring outreach', 5);
    const welcome = org.workflow('Welcome', 5);
    const adaRun = org.execution(outreach.id, ada.id, 10);
    const graceRun = org.execution(outreach.id, grace.id, 11);
    const alanWelcome = org.execution(welcome.id, alan.id, 12);
    const facts = [
      ...[ada, charles, grace, alan, outreach, welcome, adaRun, graceRun, alanWelcome].flatMap((entity) => entity.facts),
      ...adaRun.complete(1),
      ...graceRun.fail('mailbox refused the address', 1),
    ];
    return { ada, charles, grace, alan, outreach, welcome, adaRun, graceRun, alanWelcome, facts };
  }

  it("finds contacts by prefix, typo and exact email, with highlights, in the caller's organization only", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const w = world(acme);
    await api.given(
      acme.signup,
      globex.signup,
      w.facts,
      globex.contact({ email: 'ada@globex.test', firstName: 'Ada', lastName: 'Lovelace' }, 1).facts,
    );

    const prefix = await api.get(acme.owner, '/search/contacts?q=lovel');
    expect(prefix.status, JSON.stringify(prefix.body)).to.equal(200);
    expect(prefix.body.total).to.equal(1);
    expect(prefix.body.data[0]).to.include({ id: w.ada.id, email: 'ada.lovelace@engines.test', firstName: 'Ada', company: 'Analytical Engines' });
    expect(prefix.body.data[0].tags).to.deep.equal(['vip']);
    expect(prefix.body.data[0].score).to.be.a('number');
    expect(JSON.stringify(prefix.body.data[0].highlights)).to.contain('<em>Lovel</em>ace');

    expect(emails(await api.get(acme.owner, '/search/contacts?q=babagge'))).to.deep.equal(['charles@engines.test']);
    expect(emails(await api.get(acme.owner, `/search/contacts?q=${encodeURIComponent('GRACE@navy.test')}`))).to.deep.equal(['grace@navy.test']);
    const company = await api.get(acme.owner, '/search/contacts?q=analytical&sort=name');
    expect(emails(company)).to.deep.equal(['charles@engines.test', 'ada.lovelace@engines.test']);
    expect(company.body.total).to.equal(2);

    const theirs = await api.get(globex.owner, '/search/contacts?q=lovelace');
    expect(emails(theirs)).to.deep.equal(['ada@globex.test']);
    expect((await api.get(globex.owner, '/search/contacts?q=babbage')).body.total).to.equal(0);
  });

  it('filters contacts by tags (all of them) and creation time, sorts them, and pages with a next cursor', async () => {
    const acme = tenant();
    const w = world(acme);
    await api.given(acme.signup, w.facts);

    expect(emails(await api.get(acme.owner, '/search/contacts?tags=vip&sort=name'))).to.deep.equal([
      'grace@navy.test',
      'ada.lovelace@engines.test',
      'alan@bletchley.test',
    ]);
    expect(emails(await api.get(acme.owner, '/search/contacts?tags=vip,%20navy'))).to.deep.equal(['grace@navy.test']);
    // Both bounds inclusive here (query-api/search/ports.ts DateRange).
    const window = `createdFrom=${encodeURIComponent(at(2))}&createdTo=${encodeURIComponent(at(3))}`;
    expect(emails(await api.get(acme.owner, `/search/contacts?${window}&sort=createdAt`))).to.deep.equal(['charles@engines.test', 'grace@navy.test']);
    // Without q: newest first.
    expect(ids(await api.get(acme.owner, '/search/contacts'))).to.deep.equal([w.alan.id, w.grace.id, w.charles.id, w.ada.id]);

    const first = await api.get(acme.owner, '/search/contacts?sort=-name&limit=3');
    expect(first.body.total).to.equal(4);
    expect(first.body.page.limit).to.equal(3);
    expect(first.body.page.nextCursor).to.be.a('string');
    const second = await api.get(acme.owner, `/search/contacts?sort=-name&limit=3&cursor=${encodeURIComponent(first.body.page.nextCursor)}`);
    expect([...emails(first), ...emails(second)]).to.deep.equal([
      'alan@bletchley.test',
      'ada.lovelace@engines.test',
      'grace@navy.test',
      'charles@engines.test',
    ]);
    expect(second.body.page.nextCursor).to.equal(null);
  });

  it('finds executions by workflow or contact, filtered by status, workflow, contact and start time', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const w = world(acme);
    await api.given(acme.signup, globex.signup, w.facts);

    const outreach = await api.get(acme.owner, '/search/executions?q=outreach');
    expect(outreach.status, JSON.stringify(outreach.body)).to.equal(200);
    expect(ids(outreach).sort()).to.deep.equal([w.adaRun.id, w.graceRun.id].sort());
    expect(outreach.body.total).to.equal(2);
    const adaHit = outreach.body.data.find((hit: { id: string }) => hit.id === w.adaRun.id);
    expect(adaHit).to.deep.include({
      workflowId: w.outreach.id,
      workflowName: 'Spring outreach',
      contactId: w.ada.id,
      contactEmail: 'ada.lovelace@engines.test',
      status: 'completed',
      startedAt: at(10),
      endedAt: at(11),
    });

    expect(ids(await api.get(acme.owner, '/search/executions?status=failed'))).to.deep.equal([w.graceRun.id]);
    expect(ids(await api.get(acme.owner, '/search/executions?status=failed,running'))).to.deep.equal([w.alanWelcome.id, w.graceRun.id]);
    expect(ids(await api.get(acme.owner, `/search/executions?workflowId=${w.welcome.id}`))).to.deep.equal([w.alanWelcome.id]);
    expect(ids(await api.get(acme.owner, `/search/executions?contactId=${w.ada.id.toUpperCase()}`))).to.deep.equal([w.adaRun.id]);
    const window = `startedFrom=${encodeURIComponent(at(11))}&startedTo=${encodeURIComponent(at(11))}`;
    expect(ids(await api.get(acme.owner, `/search/executions?${window}`))).to.deep.equal([w.graceRun.id]);
    expect(ids(await api.get(acme.owner, '/search/executions?sort=startedAt'))).to.deep.equal([w.adaRun.id, w.graceRun.id, w.alanWelcome.id]);
    expect(ids(await api.get(acme.owner, `/search/executions?q=${encodeURIComponent('grace@navy.test')}`))).to.deep.equal([w.graceRun.id]);

    expect((await api.get(globex.owner, '/search/executions?q=outreach')).body.total).to.equal(0);
    expect((await api.get(globex.owner, `/search/executions?workflowId=${w.outreach.id}`)).body.data).to.deep.equal([]);
  });

  it('answers 400 naming each bad query parameter (an item of a list by its index)', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const cases: [string, string][] = [
      ['/search/contacts?q=', 'q'],
      ['/search/contacts?q=%20%20', 'q'],
      [`/search/contacts?q=${'a'.repeat(201)}`, 'q'],
      ['/search/contacts?limit=0', 'limit'],
      ['/search/contacts?sort=email', 'sort'],
      [`/search/contacts?tags=${Array.from({ length: 21 }, (_, i) => `t${i}`).join(',')}`, 'tags'],
      ['/search/contacts?createdFrom=last-week', 'createdFrom'],
      ['/search/contacts?cursor=not-a-cursor', 'cursor'],
      ['/search/contacts?status=failed', 'status'],
      ['/search/executions?status=failed,lost', 'status.1'],
      ['/search/executions?workflowId=spring', 'workflowId'],
      ['/search/executions?contactId=ada', 'contactId'],
      ['/search/executions?startedTo=tomorrow', 'startedTo'],
      ['/search/executions?sort=name', 'sort'],
      ['/search/executions?cursor=eyJ4IjoxfQ', 'cursor'],
    ];
    for (const [path, name] of cases) expectProblem(await api.get(acme.owner, path), 400, [name]);
  });

  it('needs contacts:read for contacts and workflows:read for executions (an API key without the scope gets 403)', async () => {
    const acme = tenant();
    const runs = acme.apiKey('Runs', ['workflows:read'], 1);
    await api.given(acme.signup, runs.facts);
    expectProblem(await api.http.get('/search/contacts?q=ada', { token: runs.key }), 403);
    expect((await api.http.get('/search/executions?q=ada', { token: runs.key })).status).to.equal(200);
    expectProblem(await api.http.get('/search/contacts?q=ada'), 401);
  });

  it('waits for X-Min-Position on the search index; a position beyond the head is 400', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const hedy = acme.contact({ email: 'hedy@example.com', firstName: 'Hedy', lastName: 'Lamarr' }, 1);
    const position = await api.append(hedy.facts);
    const waiting = api.get(acme.owner, '/search/contacts?q=lamarr', { 'X-Min-Position': position });
    await api.project();
    expect(ids(await waiting)).to.deep.equal([hedy.id]);
    const beyond = (BigInt(await api.head()) + 5n).toString();
    expectProblem(await api.get(acme.owner, `/search/executions?contactId=${randomUUID()}`, { 'X-Min-Position': beyond }), 400, ['X-Min-Position']);
  });
});
