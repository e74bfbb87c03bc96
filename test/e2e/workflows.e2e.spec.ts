import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type HttpClient, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

const mailbox = 'sales@acme.test';

/** A webhook receiver that answers from a script (and records what it got). */
class Webhook {
  readonly calls: { key: string; body: string }[] = [];
  private server: Server | null = null;
  constructor(private readonly answer: (call: number) => number) {}
  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        this.calls.push({ key: String(req.headers['idempotency-key']), body });
        res.statusCode = this.answer(this.calls.length);
        res.end(JSON.stringify({ ok: res.statusCode < 300 }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hook`;
  }
  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('Workflow engine end to end (real PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  let system: TestSystem;
  let http: HttpClient;
  let owner: Account;

  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200' });
    http = system.http;
    owner = await registerAccount(system, 'Flows');
  });
  after(async () => system?.stop());

  async function contact(tags: string[] = [], extra: Record<string, unknown> = {}) {
    const created = await http.post('/contacts', { email: uniqueEmail('lead'), firstName: 'Ada', tags, ...extra }, { token: owner.accessToken });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    return created.body.id as string;
  }

  async function workflow(body: Record<string, unknown>) {
    const created = await http.post('/workflows', { name: 'Test flow', settings: { mailbox, exitOn: [] }, ...body }, { token: owner.accessToken });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    return created.body.id as string;
  }

  async function run(workflowId: string, contactId: string) {
    const started = await http.post(`/workflows/${workflowId}/run`, { contactId }, { token: owner.accessToken });
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    return started.body.executionId as string;
  }

  async function settled(workflowId: string, executionId: string, statuses = ['completed', 'failed', 'cancelled', 'exited'], timeoutMs = 30_000) {
    const reply = await eventually(
      () => http.get(`/workflows/${workflowId}/executions/${executionId}`, { token: owner.accessToken }),
      (r) => r.status === 200 && statuses.includes(r.body.status),
      timeoutMs,
    );
    return reply.body;
  }

  it('runs a 5-step workflow with a wait and a branch to completion, with every step in its history', async () => {
    const vip = await contact(['vip']);
    const workflowId = await workflow({
      steps: [
        { id: 'hello', type: 'send_email', config: { subject: 'Hello {{contact.firstName}}', body: 'Welcome!' }, next: 'pause' },
        { id: 'pause', type: 'wait', config: { duration: 'PT2S' }, next: 'is-vip' },
        { id: 'is-vip', type: 'condition', config: { rules: [{ field: 'tags', operator: 'contains', value: 'vip' }] }, branches: { true: 'tag-hot', false: null } },
        { id: 'tag-hot', type: 'add_tag', config: { tag: 'hot' }, next: 'bye' },
        { id: 'bye', type: 'send_email', config: { subject: 'Thanks {{contact.firstName}}', body: 'See you.' }, next: null },
      ],
    });
    const executionId = await run(workflowId, vip);
    const waiting = await settled(workflowId, executionId, ['waiting']);
    expect(waiting.waitReason).to.equal('wait');
    const done = await settled(workflowId, executionId);
    expect(done.status).to.equal('completed');
    expect(done.version).to.equal(1);
    expect(done.steps.map((s: { stepId: string; status: string }) => `${s.stepId}:${s.status}`)).to.deep.equal([
      'hello:completed',
      'pause:completed',
      'is-vip:completed',
      'tag-hot:completed',
      'bye:completed',
    ]);
    const [hello, pause, branch] = done.steps;
    expect(hello.output).to.include({ subject: 'Hello Ada' });
    expect(branch.output).to.deep.equal({ matched: true });
    expect(Date.parse(branch.startedAt) - Date.parse(pause.endedAt), 'the wait lasted').to.be.at.least(1_900);
    expect(hello.idempotencyKey).to.equal(`${executionId}:hello:1`);
    expect(done.timeline.map((t: { type: string }) => t.type)).to.include.members(['started', 'waiting']);

    const sent = (await system.mailbox.all()).filter((m) => m.template === 'workflow' && m.from === mailbox);
    expect(sent.map((m) => m.subject)).to.include.members(['Hello Ada', 'Thanks Ada']);
    const read = await http.get(`/contacts/${vip}`, { token: owner.accessToken });
    expect(read.body.tags).to.include('hot');
  });

  it('retries a failing webhook with backoff, then succeeds, with every attempt in the history', async () => {
    const hook = new Webhook((call) => (call < 3 ? 503 : 200));
    const url = await hook.start();
    try {
      const workflowId = await workflow({
        steps: [{ id: 'notify', type: 'http_request', config: { url, timeoutMs: 2000 }, retry: { maxAttempts: 4, initialDelayMs: 200 }, next: null }],
      });
      const executionId = await run(workflowId, await contact());
      const done = await settled(workflowId, executionId);
      expect(done.status).to.equal('completed');
      expect(done.steps.map((s: { attempt: number; status: string }) => `${s.attempt}:${s.status}`)).to.deep.equal(['1:failed', '2:failed', '3:completed']);
      expect(done.steps[0].error.code).to.equal('http_503');
      expect(new Set(hook.calls.map((c) => c.key)).size, 'one idempotency key across the attempts').to.equal(1);
      expect(done.timeline.filter((t: { type: string }) => t.type === 'retry_scheduled')).to.have.length(2);
    } finally {
      await hook.stop();
    }
  });

  it('fails the execution when retries run out, with the error in its history; a 4xx is not retried', async () => {
    const down = new Webhook(() => 500);
    const refusing = new Webhook(() => 422);
    const [downUrl, refusingUrl] = [await down.start(), await refusing.start()];
    try {
      const workflowId = await workflow({
        steps: [{ id: 'notify', type: 'http_request', config: { url: downUrl }, retry: { maxAttempts: 3, initialDelayMs: 100 }, next: null }],
      });
      const failed = await settled(workflowId, await run(workflowId, await contact()));
      expect(failed.status).to.equal('failed');
      expect(failed.steps).to.have.length(3);
      expect(failed.error.code).to.equal('http_500');
      expect(failed.error.message).to.match(/gave up after 3 attempts/);

      const other = await workflow({ steps: [{ id: 'notify', type: 'http_request', config: { url: refusingUrl }, retry: { maxAttempts: 5, initialDelayMs: 100 }, next: null }] });
      const refused = await settled(other, await run(other, await contact()));
      expect(refused.status).to.equal('failed');
      expect(refused.steps).to.have.length(1);
      expect(refusing.calls).to.have.length(1);
    } finally {
      await down.stop();
      await refusing.stop();
    }
  });

  it('pauses and resumes one execution: it does not move on while paused', async () => {
    const workflowId = await workflow({
      steps: [
        { id: 'first', type: 'add_tag', config: { tag: 'started' }, next: 'pause' },
        { id: 'pause', type: 'wait', config: { duration: 'PT3S' }, next: 'last' },
        { id: 'last', type: 'add_tag', config: { tag: 'finished' }, next: null },
      ],
    });
    const executionId = await run(workflowId, await contact());
    await settled(workflowId, executionId, ['waiting']);
    const paused = await http.post(`/workflows/${workflowId}/executions/${executionId}/pause`, {}, { token: owner.accessToken });
    expect(paused.status, JSON.stringify(paused.body)).to.equal(200);
    await new Promise((r) => setTimeout(r, 3_500));
    const stillPaused = await http.get(`/workflows/${workflowId}/executions/${executionId}`, { token: owner.accessToken });
    expect(stillPaused.body.status, 'a paused execution does not move on when its wait ends').to.equal('paused');
    const resumed = await http.post(`/workflows/${workflowId}/executions/${executionId}/resume`, {}, { token: owner.accessToken });
    expect(resumed.status).to.equal(200);
    const done = await settled(workflowId, executionId);
    expect(done.status).to.equal('completed');
    expect(done.timeline.map((t: { type: string }) => t.type)).to.include.members(['paused', 'resumed']);
    expectProblem(await http.post(`/workflows/${workflowId}/executions/${executionId}/cancel`, {}, { token: owner.accessToken }), 409);
  });

  it('refuses invalid definitions with every problem named by its path', async () => {
    const reply = await http.post(
      '/workflows',
      {
        name: 'Broken',
        steps: [
          { id: 'a', type: 'send_email', config: { subject: 'x', body: 'y' }, next: 'b' },
          { id: 'b', type: 'send_email', config: { subject: 'x', body: 'y' }, next: 'a' },
          { id: 'c', type: 'teleport', config: {} },
        ],
      },
      { token: owner.accessToken },
    );
    expectProblem(reply, 400, ['steps.2.type']);
    const loop = await http.post('/workflows', { name: 'Loop', steps: [{ id: 'a', type: 'add_tag', config: { tag: 'x' }, next: 'a' }] }, { token: owner.accessToken });
    expectProblem(loop, 400, ['steps.0']);
    expect(loop.body['invalid-params'][0].reason).to.match(/cycle without a wait/);
  });

  it('keeps running executions on the version they started with when the workflow is edited', async () => {
    const steps = (tag: string) => [
      { id: 'pause', type: 'wait', config: { duration: 'PT2S' }, next: 'mark' },
      { id: 'mark', type: 'add_tag', config: { tag }, next: null },
    ];
    const workflowId = await workflow({ steps: steps('from-v1') });
    const contactId = await contact();
    const executionId = await run(workflowId, contactId);
    const edited = await http.put(`/workflows/${workflowId}`, { name: 'Test flow', settings: { mailbox, exitOn: [] }, steps: steps('from-v2') }, { token: owner.accessToken });
    expect(edited.status).to.equal(200);
    expect(edited.body.version).to.equal(2);
    const done = await settled(workflowId, executionId);
    expect(done.version).to.equal(1);
    expect(done.steps[1].output).to.deep.equal({ tag: 'from-v1' });
    const later = await settled(workflowId, await run(workflowId, contactId));
    expect(later.version).to.equal(2);
  });

  it('answers the openapi example as is: create, then run on a contact (202 with the execution id)', async () => {
    const spec = (await http.get('/openapi.json')).body;
    const example = spec.paths['/workflows'].post.requestBody.content['application/json'].example;
    const created = await http.post('/workflows', example, { token: owner.accessToken });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const started = await http.post(`/workflows/${created.body.id}/run`, { contactId: await contact() }, { token: owner.accessToken });
    expect(started.status).to.equal(202);
    expect(started.body.executionId).to.be.a('string');
    const read = await http.get(`/workflows/${created.body.id}/executions/${started.body.executionId}`, {
      token: owner.accessToken,
      headers: { 'X-Min-Position': started.body.position },
    });
    expect(read.status).to.equal(200);
    expect(read.body.status).to.be.oneOf(['running', 'waiting', 'completed']);
  });
});
