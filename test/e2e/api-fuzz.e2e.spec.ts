import { randomInt } from 'node:crypto';
import { expect } from 'chai';
import { fuzz, prepareTenant, writesOfRefusedRequests, type FuzzReport, type FuzzTarget } from '../fuzz/fuzz-session.ts';
import {
  operatorHealth,
  registerAccount,
  startEmbeddedTestSystem,
  startTestSystem,
  type EmbeddedTestSystem,
  type TestSystem,
} from '../support/http.ts';

/**
 * Every route of /openapi.json, every field and parameter, given what careless and hostile clients send
 * (test/fuzz/openapi-fuzzer.ts): no answer is a 5xx, every refusal is a small problem+json document, no
 * refused request wrote anything, and afterwards every read model still follows the log for every tenant.
 * The seed is printed; FUZZ_SEED replays a run, FUZZ_REQUESTS (server) and FUZZ_REQUESTS_EMBEDDED size it.
 */
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);

for (const setup of [
  {
    name: 'real PostgreSQL and Redis',
    count: Number(process.env.FUZZ_REQUESTS ?? 10_000),
    concurrency: 4,
    start: (): Promise<TestSystem | EmbeddedTestSystem> => startTestSystem(),
  },
  {
    name: 'the embedded default (PGlite, in-process stand-ins)',
    count: Number(process.env.FUZZ_REQUESTS_EMBEDDED ?? 2_000),
    concurrency: 2,
    start: () => startEmbeddedTestSystem(),
  },
]) {
  describe(`Fuzzing the API from /openapi.json (${setup.name})`, function () {
    this.timeout(900_000);
    let system: TestSystem | EmbeddedTestSystem;
    let target: FuzzTarget;
    let report: FuzzReport;

    before(async () => {
      system = await setup.start();
      const log = system.process.platform.eventStore;
      target = { http: system.http, mailbox: system.mailbox, readLog: (after) => log.readAll({ after, maxCount: 1_000 }) };
      const tenant = await prepareTenant(target);
      report = await fuzz(target, tenant, { seed, count: setup.count, concurrency: setup.concurrency });
      console.log(
        `      fuzz seed ${seed}: ${report.requests} requests in ${report.seconds.toFixed(1)} s (${Math.round(report.requests / report.seconds)}/s); answers ${JSON.stringify(report.statuses)}`,
      );
    });

    after(async () => {
      await system?.stop();
    });

    it(`answers ${setup.count} hostile requests without a 5xx, each refusal a bounded problem+json (seed ${seed})`, () => {
      expect(report.failures, `replay with FUZZ_SEED=${seed}:\n${report.failures.slice(0, 25).join('\n')}`).to.deep.equal([]);
      // Enough of the plan got past authentication to validation and handlers to mean something.
      const refused = Object.entries(report.statuses)
        .filter(([status]) => status === '400')
        .reduce((n, [, c]) => n + c, 0);
      expect(refused).to.be.greaterThan(setup.count / 4);
    });

    it('wrote nothing for a request it refused', async () => {
      expect(await writesOfRefusedRequests(target, report)).to.deep.equal([]);
    });

    it('keeps every read model following the log: another tenant’s new contact is read back and found, nothing was parked', async () => {
      const canary = await registerAccount(target, 'Canary');
      const email = `canary-${Date.now()}@example.com`;
      const created = await system.http.post('/contacts', { email, firstName: 'Canary' }, { token: canary.accessToken });
      expect(created.status).to.equal(201);
      const readBack = await system.http.get(`/contacts/${created.body.id}`, {
        token: canary.accessToken,
        headers: { 'X-Min-Position': created.body.position },
      });
      expect(readBack.status, JSON.stringify(readBack.body)).to.equal(200);
      const found = await system.http.get(`/search/contacts?q=${encodeURIComponent(email)}`, {
        token: canary.accessToken,
        headers: { 'X-Min-Position': created.body.position },
      });
      expect(found.status, JSON.stringify(found.body)).to.equal(200);
      expect(found.body.data.map((c: { id: string }) => c.id)).to.include(created.body.id);
      const health = await system.http.get(operatorHealth.path, { headers: operatorHealth.headers });
      const parked: string[] = [];
      for (const [check, result] of Object.entries(health.body.checks as Record<string, { detail?: unknown }>)) {
        if (!result.detail || typeof result.detail !== 'object') continue;
        for (const [projection, status] of Object.entries(
          result.detail as Record<string, { parked?: number; recentlyParked?: unknown; stalled?: boolean }>,
        )) {
          if (status?.parked) parked.push(`${check}/${projection}: ${status.parked} parked ${JSON.stringify(status.recentlyParked)}`);
          if (status?.stalled) parked.push(`${check}/${projection}: stalled`);
        }
      }
      expect(parked, 'the command side accepted an event a projection could not store').to.deep.equal([]);
    });
  });
}
