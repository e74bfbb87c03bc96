import { expect } from 'chai';
import { nexusflow } from '../support/cli.ts';
import pg from 'pg';
import { registerAccount, startTestSystem, TEST_JWT_SECRET, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';

describe('The nexusflow command line against a running system (real PostgreSQL and Redis)', function () {
  this.timeout(120_000);
  let system: TestSystem;
  let owner: Account;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200' });
    owner = await registerAccount(system, 'Operated');
    for (const name of ['Ada', 'Alan', 'Grace']) {
      const created = await system.http.post(
        '/contacts',
        { email: uniqueEmail(name.toLowerCase()), firstName: name, lastName: 'Operator' },
        { token: owner.accessToken },
      );
      expect(created.status).to.equal(201);
    }
    // No JWT_SECRET: the command line verifies no tokens, so it does not need the processes' secret.
    // The command line reads sealed personal data with the processes' data key; it needs no token secret.
    env = {
      DATABASE_URL: system.database.url,
      LOG_LEVEL: 'warn',
      JWT_SECRET: '',
      DATA_ENCRYPTION_KEY: TEST_JWT_SECRET,
      NEXUSFLOW_DATA_DIR: '/nonexistent',
    };
  });
  after(async () => system?.stop());

  it('rebuilds the search read model while the system serves it, and the system switches to it', async () => {
    const run = await nexusflow(['projections', 'rebuild', 'search', '--json'], env);
    expect(run.code, run.stderr).to.equal(0);
    const result = JSON.parse(run.stdout);
    expect(result).to.include({ readModel: 'search', from: 1, to: 2, parked: 0 });
    expect(result.eventsApplied, 'the three contacts created').to.equal(3);

    // The running system hears of the switch and keeps generation 2 current: a new contact is found in it.
    const created = await system.http.post(
      '/contacts',
      { email: uniqueEmail('katherine'), firstName: 'Katherine', lastName: 'Operator' },
      { token: owner.accessToken },
    );
    const found = await system.http.get('/search/contacts?q=operator', {
      token: owner.accessToken,
      headers: { 'X-Min-Position': created.body.position },
    });
    expect(found.status).to.equal(200);
    expect(found.body.total).to.equal(4);
    expect(system.process.platform.generations.generation('search')).to.equal(2);
  });

  it('lists every projection with its position, lag and parked events, as JSON and as a table', async () => {
    const json = await nexusflow(['projections', 'list', '--json'], env);
    expect(json.code, json.stderr).to.equal(0);
    const listed = JSON.parse(json.stdout);
    const names = listed.projections.map((p: { name: string }) => p.name);
    expect(names).to.include.members(['contacts', 'organizations', 'workflows', 'search@2', 'analytics']);
    expect(listed.projections.find((p: { name: string }) => p.name === 'search@2')).to.include({ generation: 2, served: true, parked: 0 });
    expect(listed.projections.find((p: { name: string }) => p.name === 'search')).to.include({ generation: 1, served: false });
    const table = await nexusflow(['projections', 'list'], env);
    expect(table.code).to.equal(0);
    expect(table.stdout).to.match(/^projection\s+generation\s+position\s+lag\s+parked\s+updated$/m);
    expect(table.stdout).to.match(/^search \(previous\)\s+1\s/m);
  });

  it('prints progress and a summary without --json, and exits 3 while another rebuild holds the read model', async () => {
    const plain = await nexusflow(['projections', 'rebuild', 'analytics'], env);
    expect(plain.code, plain.stderr).to.equal(0);
    expect(plain.stdout).to.match(/^analytics: generation 2 serves now \(was 1\); \d+ events in /m);

    const holder = new pg.Client({ connectionString: system.database.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('nf_rebuild:' || 'search'))");
      const refused = await nexusflow(['projections', 'rebuild', 'search', '--json'], env);
      expect(refused.code).to.equal(3);
      expect(refused.stderr).to.contain('search is being rebuilt already');
      expect(refused.stdout).to.equal('');
    } finally {
      await holder.end();
    }
    expect(system.process.platform.generations.generation('search'), 'nothing changed').to.equal(2);
  });

  it('exits 2 on a bad command line or configuration, without touching anything', async () => {
    const unknown = await nexusflow(['projections', 'rebuild', 'contacts-ish'], env);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.contain('unknown read model "contacts-ish"');
    expect((await nexusflow(['projections', 'explode'], env)).code).to.equal(2);
    const badConfig = await nexusflow(['projections', 'list'], { ...env, DATABASE_URL: 'mysql://nope' });
    expect(badConfig.code).to.equal(2);
    expect(badConfig.stderr).to.contain('DATABASE_URL');
    expect((await nexusflow(['--help'], env)).code).to.equal(0);
  });
});
