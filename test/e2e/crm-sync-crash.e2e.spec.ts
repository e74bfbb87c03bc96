import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { RecordedEvent } from '../../domain/events.ts';
import { integrationStream } from '../../domain/integrations/integration.ts';
import { eventually } from '../support/events.ts';
import { startFakeSalesforce, type FakeSalesforceServer } from '../support/fake-crm/salesforce.ts';
import { registerAccount, startTestSystem, TEST_JWT_SECRET, type Account, type TestSystem } from '../support/http.ts';
import { RoleProcess } from '../support/processes.ts';

/**
 * The sync worker killed mid-run (SIGKILL, no graceful shutdown), and another projectors process taking the run
 * over from its last checkpoint: no contact twice, no record pushed back twice, and an edit made in the CRM
 * meanwhile not lost.
 */
describe('CRM sync killed mid-run and resumed by another process (real PostgreSQL and Redis, loopback Salesforce)', function () {
  this.timeout(180_000);
  let fake: FakeSalesforceServer;
  let system: TestSystem;
  let owner: Account;
  /** Between the worker and the org's API host: every call takes 100 ms, so the kill lands mid-run. */
  let slowLink: Server;
  const processes: RoleProcess[] = [];
  const providerEnv = () => ({
    SALESFORCE_LOGIN_URL: fake.baseUrl,
    SALESFORCE_CLIENT_ID: fake.clientId,
    SALESFORCE_CLIENT_SECRET: fake.clientSecret,
    OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
  });
  const startProjectors = () =>
    RoleProcess.start('projectors/main.ts', {
      DATABASE_URL: system.database.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      REDIS_KEY_PREFIX: system.process.config.REDIS_KEY_PREFIX,
      JWT_SECRET: TEST_JWT_SECRET,
      MAIL_OUTBOX_DIR: system.mailbox.directory,
      PASSWORD_HASH_COST: '10',
      ...providerEnv(),
      // Pages of two records: the run has many checkpoints to die between.
      CRM_SYNC_PAGE_SIZE: '2',
      CRM_SYNC_LEASE_MS: '2000',
      CRM_SYNC_POLL_MS: '200',
    }).then((started) => {
      processes.push(started);
      return started;
    });

  before(async () => {
    fake = await startFakeSalesforce();
    slowLink = createServer((incoming, answer) => {
      setTimeout(() => {
        const target = new URL(fake.baseUrl);
        const forwarded = request(
          {
            host: target.hostname,
            port: target.port,
            method: incoming.method,
            path: incoming.url,
            headers: { ...incoming.headers, host: target.host },
          },
          (response) => {
            answer.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(answer);
          },
        );
        forwarded.on('error', () => answer.destroy());
        incoming.pipe(forwarded);
      }, 100);
    });
    await new Promise<void>((resolve) => slowLink.listen(0, '127.0.0.1', resolve));
    fake.answerInstanceUrl = `http://127.0.0.1:${(slowLink.address() as AddressInfo).port}`;
    fake.data.seed(40, (i) => ({ Email: `lead${i}@crash.example`, FirstName: `Lead${i}`, LastName: 'Crash' }));
    system = await startTestSystem({ commands: true, queries: true, projectors: false }, providerEnv());
    owner = await registerAccount(system, 'Crashing');
  });
  after(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await system?.stop();
    slowLink?.closeAllConnections();
    await new Promise((resolve) => slowLink?.close(resolve));
    await fake?.close();
  });

  it('resumes the run at its checkpoint: every record once, no duplicate pushed back, the edit made meanwhile applied', async () => {
    const first = await startProjectors();
    const begun = await system.http.post('/integrations/salesforce/connect', {}, { token: owner.accessToken });
    expect(begun.status, JSON.stringify(begun.body)).to.equal(200);
    const consent = await fake.authorize(begun.body.authorizationUrl);
    const callback = await system.http.get(
      `/integrations/oauth/callback?code=${encodeURIComponent(consent.code)}&state=${encodeURIComponent(consent.state)}`,
    );
    expect(callback.status, JSON.stringify(callback.body)).to.equal(201);
    const events = () => system.process.platform.eventStore.readStream(integrationStream(callback.body.id));
    const count = (list: RecordedEvent[], type: string) => list.filter((e) => e.type === type).length;

    // Killed once the run has checkpointed a few pages, before it completes.
    const seen = await eventually(events, (list) => count(list, 'SyncCheckpointed') >= 3 || count(list, 'SyncCompleted') > 0, 60_000);
    await first.kill();
    expect(count(seen, 'SyncCompleted'), 'the run was still going when the process died').to.equal(0);
    const killedAt = count(await events(), 'SyncCheckpointed');

    // Edited in the CRM while nothing syncs: the first record, which the dead run had read already.
    const ada = fake.data.live()[0]!;
    fake.data.now = Date.now();
    fake.data.edit(ada.externalId, { FirstName: 'Edited While Down' });

    await startProjectors();
    const done = await eventually(events, (list) => count(list, 'SyncCompleted') >= 1, 60_000);
    const runs = new Set(done.filter((e) => e.type === 'SyncStarted').map((e) => (e.data as { runId: string }).runId));
    expect(runs.size, 'the same run, taken over').to.equal(1);
    expect(count(done, 'SyncCheckpointed')).to.be.greaterThan(killedAt);

    const contacts = await eventually(
      async () => (await system.http.get('/contacts?limit=100', { token: owner.accessToken })).body.data as { email: string; firstName: string }[],
      (list) => list?.length >= 40 && list.some((c) => c.firstName === 'Edited While Down'),
      30_000,
    );
    expect(contacts).to.have.length(40);
    expect(new Set(contacts.map((c) => c.email)).size).to.equal(40);
    const { rows } = await system.process.platform.pool.query<{ n: string }>(`SELECT count(*) AS n FROM nf_events WHERE type = 'ContactCreated'`);
    expect(Number(rows[0]!.n), 'each record made one contact, once').to.equal(40);
    // Nothing of ours went back as a new record.
    expect(fake.data.live()).to.have.length(40);
    // The resumed run read on from its checkpoint and found the edit made while the process was down.
    expect(contacts.find((c) => c.email === String(ada.fields.Email))?.firstName).to.equal('Edited While Down');
  });
});
