import { expect } from 'chai';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type HttpClient, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

describe('Search over HTTP (PostgreSQL search index, real PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  let system: TestSystem;
  let http: HttpClient;
  let owner: Account;
  let rival: Account;
  let last = '0';

  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200' });
    http = system.http;
    owner = await registerAccount(system, 'Searchers');
    rival = await registerAccount(system, 'Rivals');
  });
  after(async () => system?.stop());

  async function contact(account: Account, body: Record<string, unknown>) {
    const created = await http.post('/contacts', body, { token: account.accessToken });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    last = created.body.position;
    return created.body.id as string;
  }
  const search = (account: Account, query: string) =>
    http.get(`/search/contacts?${query}`, { token: account.accessToken, headers: { 'X-Min-Position': last } });

  it('finds contacts by prefix, typo and exact email, filtered by tags, and only in the caller’s organization', async () => {
    const ada = await contact(owner, {
      email: 'ada.lovelace@engines.test',
      firstName: 'Ada',
      lastName: 'Lovelace',
      company: 'Analytical Engines',
      tags: ['vip'],
    });
    await contact(owner, { email: 'charles@engines.test', firstName: 'Charles', lastName: 'Babbage', company: 'Analytical Engines' });
    await contact(rival, { email: 'ada@rival.test', firstName: 'Ada', lastName: 'Lovelace', tags: ['vip'] });

    const prefix = await search(owner, 'q=lovel');
    expect(prefix.status, JSON.stringify(prefix.body)).to.equal(200);
    expect(prefix.body.total).to.equal(1);
    expect(prefix.body.data[0]).to.include({ id: ada, email: 'ada.lovelace@engines.test' });
    expect(prefix.body.data[0].highlights.name[0]).to.contain('<em>Lovel</em>ace');

    const typo = await search(owner, 'q=babagge');
    expect(typo.body.data.map((c: { email: string }) => c.email)).to.deep.equal(['charles@engines.test']);
    const email = await search(owner, `q=${encodeURIComponent('ADA.lovelace@engines.test')}`);
    expect(email.body.data.map((c: { id: string }) => c.id)).to.deep.equal([ada]);
    const tagged = await search(owner, 'tags=vip');
    expect(tagged.body.data.map((c: { id: string }) => c.id)).to.deep.equal([ada]);
    const company = await search(owner, 'q=analytical&sort=name');
    expect(company.body.data.map((c: { lastName: string }) => c.lastName)).to.deep.equal(['Babbage', 'Lovelace']);

    const theirs = await search(rival, 'q=ada');
    expect(theirs.body.data.map((c: { email: string }) => c.email)).to.deep.equal(['ada@rival.test']);
  });

  it('follows contact changes: a rename and a deletion', async () => {
    const id = await contact(owner, { email: uniqueEmail('grace'), firstName: 'Grace', lastName: 'Hopper' });
    const renamed = await http.patch(`/contacts/${id}`, { lastName: 'Murray' }, { token: owner.accessToken, headers: { 'If-Match': '"0"' } });
    expect(renamed.status, JSON.stringify(renamed.body)).to.equal(200);
    last = renamed.body.position;
    expect((await search(owner, 'q=murray')).body.data.map((c: { id: string }) => c.id)).to.deep.equal([id]);
    expect((await search(owner, 'q=hopper')).body.total).to.equal(0);
    const deleted = await http.delete(`/contacts/${id}`, { token: owner.accessToken });
    expect(deleted.status, JSON.stringify(deleted.body)).to.be.oneOf([200, 204]);
    if (deleted.body?.position) last = deleted.body.position;
    await eventually(
      () => search(owner, 'q=murray'),
      (r) => r.status === 200 && r.body.total === 0,
    );
  });

  it('pages with cursors and answers bad parameters with a problem naming them', async () => {
    for (let i = 0; i < 5; i++) await contact(owner, { email: uniqueEmail('pager'), firstName: 'Pager', lastName: `Number${i}` });
    const first = await search(owner, 'q=pager&limit=2&sort=name');
    expect(first.body.total).to.equal(5);
    const second = await search(owner, `q=pager&limit=2&sort=name&cursor=${first.body.page.nextCursor}`);
    expect(second.body.data.map((c: { lastName: string }) => c.lastName)).to.deep.equal(['Number2', 'Number3']);

    expectProblem(await search(owner, 'q=pager&cursor=garbage'), 400, ['cursor']);
    expectProblem(await search(owner, `q=pager&sort=createdAt&cursor=${first.body.page.nextCursor}`), 400, ['cursor']);
    expectProblem(await search(owner, 'sort=sideways'), 400, ['sort']);
    expectProblem(await search(owner, 'limit=1000'), 400, ['limit']);
    expectProblem(await search(owner, 'createdFrom=yesterday'), 400, ['createdFrom']);
    expectProblem(await search(owner, `q=${'x'.repeat(201)}`), 400, ['q']);
    const injection = await search(owner, `q=${encodeURIComponent("' OR 1=1 --")}`);
    expect(injection.status).to.equal(200);
    expect(injection.body.total).to.equal(0);
  });

  it('finds executions by workflow name, status and contact email', async () => {
    const email = uniqueEmail('runner');
    const contactId = await contact(owner, { email, firstName: 'Runa', lastName: 'Execs' });
    const created = await http.post(
      '/workflows',
      {
        name: 'Quarterly check-in',
        settings: { mailbox: 'sales@acme.test', exitOn: [] },
        steps: [{ id: 'tag', type: 'add_tag', config: { tag: 'checked' }, next: null }],
      },
      { token: owner.accessToken },
    );
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const run = await http.post(`/workflows/${created.body.id}/run`, { contactId }, { token: owner.accessToken });
    expect(run.status, JSON.stringify(run.body)).to.equal(202);
    const found = await eventually(
      () => http.get('/search/executions?q=quartrly&status=completed', { token: owner.accessToken }),
      (r) => r.status === 200 && r.body.total === 1,
      30_000,
    );
    expect(found.body.data[0]).to.include({
      id: run.body.executionId,
      workflowName: 'Quarterly check-in',
      contactEmail: email,
      contactName: 'Runa Execs',
      status: 'completed',
    });
    const byEmail = await http.get(`/search/executions?q=${encodeURIComponent(email)}`, { token: owner.accessToken });
    expect(byEmail.body.data.map((e: { id: string }) => e.id)).to.deep.equal([run.body.executionId]);
    expect((await http.get('/search/executions?q=quarterly', { token: rival.accessToken })).body.total).to.equal(0);
    expectProblem(await http.get('/search/executions?status=completed,done', { token: owner.accessToken }), 400, ['status.1']);
  });
});
