import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';

/**
 * Issue 17, "no outbound call reaches inside": with the default configuration (no OUTBOUND_ALLOW_CIDRS), a
 * workflow's http_request step aimed at this machine fails with the refusal as its reason, is not retried,
 * and the listener it aimed at never sees a connection.
 */
describe('Outbound guard end to end: an http_request step cannot reach inside (real PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  let system: TestSystem;
  let owner: Account;
  let listener: Server;
  let connections = 0;
  let port = 0;

  before(async () => {
    listener = createServer((_req, res) => res.end('{"secret":true}'));
    listener.on('connection', () => connections++);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as AddressInfo).port;
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200' });
    owner = await registerAccount(system, 'Outbound');
  });
  after(async () => {
    await system?.stop();
    await new Promise((resolve) => listener?.close(resolve));
  });

  it('fails the step with the refusal, without retrying, and the loopback listener sees no connection', async () => {
    const targets: [string, RegExp][] = [
      [`http://127.0.0.1:${port}/hook`, /^refused: 127\.0\.0\.1 is a loopback address$/],
      [`http://localhost:${port}/hook`, /^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address$/],
      [`http://2130706433:${port}/hook`, /^refused: 127\.0\.0\.1 is a loopback address$/],
      [`http://[::ffff:127.0.0.1]:${port}/hook`, /^refused: ::ffff:7f00:1 carries 127\.0\.0\.1, a loopback address$/],
      [`http://0.0.0.0:${port}/hook`, /^refused: 0\.0\.0\.0 is an unspecified address/],
      ['http://169.254.169.254/latest/meta-data/', /^refused: 169\.254\.169\.254 is a cloud metadata address$/],
    ];
    const contact = await system.http.post('/contacts', { email: uniqueEmail('lead'), firstName: 'Ada' }, { token: owner.accessToken });
    expect(contact.status, JSON.stringify(contact.body)).to.equal(201);
    const runs = await Promise.all(
      targets.map(async ([url, reason]) => {
        const created = await system.http.post(
          '/workflows',
          {
            name: `Inside ${url}`,
            settings: { mailbox: 'sales@outbound.test', exitOn: [] },
            steps: [
              { id: 'call', type: 'http_request', config: { url, timeoutMs: 2_000 }, retry: { maxAttempts: 3, initialDelayMs: 100 }, next: null },
            ],
          },
          { token: owner.accessToken },
        );
        expect(created.status, JSON.stringify(created.body)).to.equal(201);
        const workflowId = created.body.id as string;
        const started = await system.http.post(`/workflows/${workflowId}/run`, { contactId: contact.body.id }, { token: owner.accessToken });
        expect(started.status, JSON.stringify(started.body)).to.equal(202);
        return { url, reason, workflowId, executionId: started.body.executionId as string };
      }),
    );
    for (const { url, reason, workflowId, executionId } of runs) {
      const { body: execution } = await eventually(
        () => system.http.get(`/workflows/${workflowId}/executions/${executionId}`, { token: owner.accessToken }),
        (r) => r.status === 200 && ['completed', 'failed'].includes(r.body.status),
        30_000,
      );
      expect(execution.status, url).to.equal('failed');
      expect(execution.steps, `${url}: one attempt, a refusal is not retried`).to.have.length(1);
      expect(execution.steps[0].error.code, url).to.equal('http_target_refused');
      expect(execution.steps[0].error.message, url).to.match(reason);
      expect(execution.error.code, url).to.equal('http_target_refused');
      expect(
        execution.timeline.filter((t: { type: string }) => t.type === 'retry_scheduled'),
        url,
      ).to.have.length(0);
    }
    expect(connections, 'connections the loopback listener saw').to.equal(0);
  });
});
