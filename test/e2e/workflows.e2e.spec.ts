import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ContainerModule } from 'inversify';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore, SlotWindow } from '../../infra/ephemeral/ephemeral-store.ts';
import { handledUpTo } from '../support/checkpoints.ts';
import { eventually } from '../support/events.ts';
import {
  registerAccount,
  startTestSystem,
  TEST_OPERATOR_TOKEN,
  uniqueEmail,
  type Account,
  type HttpClient,
  type TestSystem,
} from '../support/http.ts';
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

/**
 * Something that happens while a send's mailbox slot is being taken (the runner's last look before it stores
 * the step's start), once, for the mailbox named: another writer's change racing the send.
 */
const duringSlot = new Map<string, () => Promise<void>>();
const racingSlots = new ContainerModule((_bind, _unbind, _isBound, _rebind, _unbindAsync, onActivation) => {
  onActivation<EphemeralStore>(TOKENS.Ephemeral, (_context, store) => {
    const takeSlots = store.takeSlots.bind(store);
    store.takeSlots = async (windows: readonly SlotWindow[]) => {
      for (const [mailbox, happen] of duringSlot)
        if (windows.some((w) => w.key.startsWith(`mailbox:${mailbox}:`))) {
          duringSlot.delete(mailbox);
          await happen();
        }
      return takeSlots(windows);
    };
    return store;
  });
});

describe('Workflow engine end to end (real PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  let system: TestSystem;
  let http: HttpClient;
  let owner: Account;

  before(async () => {
    // The webhook receivers below listen on 127.0.0.1: the operator's allow-list opens it (the outbound
    // guard refuses loopback otherwise, see outbound-guard.e2e.spec.ts).
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200', OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32' }, [racingSlots]);
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
        {
          id: 'is-vip',
          type: 'condition',
          config: { rules: [{ field: 'tags', operator: 'contains', value: 'vip' }] },
          branches: { true: 'tag-hot', false: null },
        },
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
    // The wait computed when it is due (two seconds after it started), and the branch ran no earlier.
    expect(Date.parse(pause.output.until) - Date.parse(pause.startedAt), 'the wait is due two seconds after it began').to.equal(2_000);
    expect(Date.parse(branch.startedAt), 'the branch ran once the wait was due').to.be.at.least(Date.parse(pause.output.until));
    expect(hello.idempotencyKey).to.equal(`${executionId}:hello:1`);
    expect(done.timeline.map((t: { type: string }) => t.type)).to.include.members(['started', 'waiting']);

    const sent = (await system.mailbox.all()).filter((m) => m.template === 'workflow' && m.from === mailbox);
    expect(sent.map((m) => m.subject)).to.include.members(['Hello Ada', 'Thanks Ada']);
    // The contacts read model catches up with the tag the workflow added.
    await eventually(
      () => http.get(`/contacts/${vip}`, { token: owner.accessToken }),
      (r) => r.body.tags?.includes('hot'),
    );
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
      expect(done.steps.map((s: { attempt: number; status: string }) => `${s.attempt}:${s.status}`)).to.deep.equal([
        '1:failed',
        '2:failed',
        '3:completed',
      ]);
      expect(done.steps[0].error.code).to.equal('http_503');
      expect(new Set(hook.calls.map((c) => c.key)).size, 'one idempotency key across the attempts').to.equal(1);
      expect(done.timeline.filter((t: { type: string }) => t.type === 'retry_scheduled')).to.have.length(2);
    } finally {
      await hook.stop();
    }
  });

  it("exposes the runner's series at /metrics: steps by type and outcome, retries, claims and how late they were", async () => {
    /** The value of one sample (`name{labels}`) in the exposition, or 0. */
    const sample = (text: string, name: string, labels: Record<string, string> = {}) => {
      const line = text
        .split('\n')
        .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    const scrape = async () => {
      const reply = await http.get('/metrics', { headers: { Authorization: `Bearer ${TEST_OPERATOR_TOKEN}` } });
      expect(reply.status).to.equal(200);
      return reply.body as string;
    };
    const before = await scrape();
    const hook = new Webhook((call) => (call < 2 ? 503 : 200));
    const url = await hook.start();
    try {
      const workflowId = await workflow({
        steps: [
          { id: 'mark', type: 'add_tag', config: { tag: 'measured' }, next: 'pause' },
          { id: 'pause', type: 'wait', config: { duration: 'PT1S' }, next: 'notify' },
          { id: 'notify', type: 'http_request', config: { url, timeoutMs: 2000 }, retry: { maxAttempts: 3, initialDelayMs: 200 }, next: null },
        ],
      });
      const done = await settled(workflowId, await run(workflowId, await contact()));
      expect(done.status).to.equal('completed');
    } finally {
      await hook.stop();
    }
    const text = await scrape();
    const grew = (name: string, labels: Record<string, string> = {}) => sample(text, name, labels) - sample(before, name, labels);
    expect(text).to.match(/^# TYPE nexusflow_workflow_step_duration_seconds histogram$/m);
    expect(text).to.match(/^# TYPE nexusflow_workflow_timer_lateness_seconds histogram$/m);
    expect(grew('nexusflow_workflow_step_duration_seconds_count', { type: 'add_tag', outcome: 'completed' })).to.equal(1);
    expect(grew('nexusflow_workflow_step_duration_seconds_count', { type: 'wait', outcome: 'waiting' })).to.equal(1);
    expect(grew('nexusflow_workflow_step_duration_seconds_count', { type: 'http_request', outcome: 'retried' })).to.equal(1);
    expect(grew('nexusflow_workflow_step_duration_seconds_count', { type: 'http_request', outcome: 'completed' })).to.equal(1);
    expect(grew('nexusflow_workflow_step_retries_total', { type: 'http_request' })).to.equal(1);
    // Claimed when started, after the wait, and for the retry: each claim's lateness observed.
    expect(grew('nexusflow_workflow_executions_claimed_total')).to.be.at.least(3);
    expect(grew('nexusflow_workflow_timer_lateness_seconds_count')).to.equal(grew('nexusflow_workflow_executions_claimed_total'));
    expect(text).to.match(/^nexusflow_workflow_executions_due \d+$/m);
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

      const other = await workflow({
        steps: [{ id: 'notify', type: 'http_request', config: { url: refusingUrl }, retry: { maxAttempts: 5, initialDelayMs: 100 }, next: null }],
      });
      const refused = await settled(other, await run(other, await contact()));
      expect(refused.status).to.equal('failed');
      expect(refused.steps).to.have.length(1);
      expect(refusing.calls).to.have.length(1);
    } finally {
      await down.stop();
      await refusing.stop();
    }
  });

  it("keeps the status and a bounded, storable slice of a webhook's answer, whatever bytes it sent", async () => {
    // PostgreSQL's jsonb refuses a NUL and an unpaired surrogate: the answers carry NULs, and a surrogate pair
    // that the 1,000-character (output) and 200-character (error message) cuts split in two.
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.statusCode = req.url === '/fail' ? 500 : 200;
        res.end(req.url === '/fail' ? `bad\u0000news ${'b'.repeat(190)}😀 and more` : `${'a'.repeat(999)}😀\u0000${'z'.repeat(5_000)}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ok = await workflow({ steps: [{ id: 'notify', type: 'http_request', config: { url: `${base}/ok`, timeoutMs: 2000 }, next: null }] });
      const failing = await workflow({
        steps: [{ id: 'notify', type: 'http_request', config: { url: `${base}/fail`, timeoutMs: 2000 }, retry: { maxAttempts: 1 }, next: null }],
      });
      const [done, failed] = await Promise.all([settled(ok, await run(ok, await contact())), settled(failing, await run(failing, await contact()))]);

      expect(done.status).to.equal('completed');
      const { status, body } = done.steps[0].output as { status: number; body: string };
      expect(status).to.equal(200);
      expect(body).to.have.length(1_000);
      expect(body).to.equal(`${'a'.repeat(999)}\uFFFD`);

      expect(failed.status).to.equal('failed');
      expect(failed.steps[0].error.code).to.equal('http_500');
      expect(failed.steps[0].error.message).to.equal(`answered 500: bad\uFFFDnews ${'b'.repeat(190)}\uFFFD`);
      expect(failed.error.message.isWellFormed() && !failed.error.message.includes('\u0000')).to.equal(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
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
    // Its wait ends while it is paused. A run of the same workflow started after it, not paused, proves it:
    // once that one has completed, this one's wait is over too and the runner has been at work since.
    expect((await settled(workflowId, await run(workflowId, await contact()))).status).to.equal('completed');
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
    const loop = await http.post(
      '/workflows',
      { name: 'Loop', steps: [{ id: 'a', type: 'add_tag', config: { tag: 'x' }, next: 'a' }] },
      { token: owner.accessToken },
    );
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
    const edited = await http.put(
      `/workflows/${workflowId}`,
      { name: 'Test flow', settings: { mailbox, exitOn: [] }, steps: steps('from-v2') },
      { token: owner.accessToken },
    );
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

  describe('triggers, exit rules, windows and the workflow lifecycle', () => {
    it('starts a workflow on a matching contact event, with the event as its cause', async () => {
      const workflowId = await workflow({
        trigger: {
          type: 'event',
          event: 'contact.tag_added',
          tag: 'demo-requested',
          filter: { match: 'all', rules: [{ field: 'company', operator: 'exists' }] },
        },
        steps: [{ id: 'mark', type: 'add_tag', config: { tag: 'demo-booked' }, next: null }],
      });
      const withCompany = await contact([], { company: 'Initech' });
      const withoutCompany = await contact();
      let lastTagging = '';
      for (const id of [withCompany, withoutCompany]) {
        expect((await http.post(`/contacts/${id}/tags`, { add: ['demo-requested'] }, { token: owner.accessToken })).status).to.equal(200);
        const other = await http.post(`/contacts/${id}/tags`, { add: ['other-tag'] }, { token: owner.accessToken });
        expect(other.status).to.equal(200);
        lastTagging = other.body.position;
      }
      const executions = await eventually(
        () => http.get(`/workflows/${workflowId}/executions`, { token: owner.accessToken }),
        (r) => r.body.data?.length >= 1 && r.body.data.every((e: { status: string }) => e.status === 'completed'),
      );
      // No other execution is on its way: the trigger reactor has handled every tagging (and appended what
      // they started), and the list includes everything up to there.
      await handledUpTo(system.process.platform.pool, 'workflow-contact-reactor', lastTagging);
      const head = (await system.process.platform.eventStore.headPosition())!;
      const again = await http.get(`/workflows/${workflowId}/executions`, { token: owner.accessToken, headers: { 'X-Min-Position': head } });
      expect(again.body.data).to.have.length(1);
      expect(again.body.data[0]).to.deep.include({ contactId: withCompany });
      expect(again.body.data[0].cause.type).to.equal('event');
      expect(executions.body.data[0].cause.id).to.be.a('string');
      await eventually(
        () => http.get(`/contacts/${withCompany}`, { token: owner.accessToken }),
        (r) => r.body.tags?.includes('demo-booked'),
      );
    });

    it('stops an execution when the contact replies, with the reason in its history, and sends nothing more', async () => {
      const workflowId = await workflow({
        settings: { mailbox, exitOn: ['replied', 'unsubscribed'] },
        steps: [
          { id: 'first', type: 'send_email', config: { subject: 'First touch', body: 'Hi' }, next: 'pause' },
          { id: 'pause', type: 'wait', config: { duration: 'PT3S' }, next: 'second' },
          { id: 'second', type: 'send_email', config: { subject: 'Second touch', body: 'Hi again' }, next: null },
        ],
      });
      const contactId = await contact();
      const executionId = await run(workflowId, contactId);
      await settled(workflowId, executionId, ['waiting']);
      expect((await http.post(`/contacts/${contactId}/engagement`, { type: 'replied' }, { token: owner.accessToken })).status).to.equal(200);
      const exited = await settled(workflowId, executionId);
      expect(exited.status).to.equal('exited');
      expect(exited.exitReason).to.equal('replied');
      expect(exited.timeline.map((t: { type: string }) => t.type)).to.include('exited');
      // The second email would be due once the wait is over. A run started after the exit, for someone who
      // does not reply, proves that time has come: once it has sent its second email, the exited one would have too.
      const control = await run(workflowId, await contact());
      expect((await settled(workflowId, control)).status).to.equal('completed');
      const contactEmail = (await http.get(`/contacts/${contactId}`, { token: owner.accessToken })).body.email;
      const sent = (await system.mailbox.all(contactEmail)).map((m) => m.subject);
      expect(sent).to.deep.equal(['First touch']);
      expectProblem(await http.post(`/contacts/${contactId}/engagement`, { type: 'out_of_office' }, { token: owner.accessToken }), 422, ['until']);
    });

    it('sends nothing to a contact who unsubscribed while the send was being checked, after a step that changed the contact', async () => {
      const racing = 'race@acme.test';
      const workflowId = await workflow({
        settings: { mailbox: racing, exitOn: ['unsubscribed'] },
        steps: [
          { id: 'mark', type: 'add_tag', config: { tag: 'in-sequence' }, next: 'hello' },
          { id: 'hello', type: 'send_email', config: { subject: 'Hello', body: 'Hi' }, next: null },
        ],
      });
      const contactId = await contact();
      // The contact unsubscribes after the runner checked the exit rules, just before it stores the send's start.
      duringSlot.set(racing, async () => {
        const reply = await http.post(`/contacts/${contactId}/engagement`, { type: 'unsubscribed' }, { token: owner.accessToken });
        expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      });
      const executionId = await run(workflowId, contactId);
      const ended = await settled(workflowId, executionId);
      expect(duringSlot.has(racing), 'the unsubscribe happened during the send').to.equal(false);
      expect(ended.status).to.equal('exited');
      expect(ended.exitReason).to.equal('unsubscribed');
      const contactEmail = (await http.get(`/contacts/${contactId}`, { token: owner.accessToken })).body.email;
      expect(await system.mailbox.all(contactEmail)).to.deep.equal([]);
    });

    it('holds an email outside the send window until the next opening in the contact time zone', async () => {
      // A window that is never now: it opens at the top of the hour two hours from now in Tokyo, on that
      // day only (tomorrow there when that is past midnight), for one hour.
      const zone = 'Asia/Tokyo';
      const local = new Date(new Date().toLocaleString('en-US', { timeZone: zone }));
      const opensAt = local.getHours() + 2;
      const start = opensAt % 24;
      const hh = (h: number) => `${String(h).padStart(2, '0')}:00`;
      const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][(local.getDay() + (opensAt >= 24 ? 1 : 0)) % 7];
      const end = start === 23 ? '23:59' : hh(start + 1);
      const workflowId = await workflow({
        settings: { mailbox, exitOn: [], timezone: 'UTC', sendWindow: { days: [day], start: hh(start), end } },
        steps: [{ id: 'hello', type: 'send_email', config: { subject: 'In hours', body: 'Hi' }, next: null }],
      });
      const executionId = await run(workflowId, await contact([], { timezone: zone }));
      const held = await settled(workflowId, executionId, ['waiting']);
      expect(held.waitReason).to.equal('send_window');
      const opening = new Date(held.dueAt);
      expect(new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(opening)).to.equal(
        hh(start),
      );
      expect(opening.getTime() - Date.now()).to.be.within(60 * 60_000, 2 * 60 * 60_000 + 60_000);
    });

    it('pauses the running executions of a paused workflow and refuses new runs; resuming continues them; deleting cancels', async () => {
      const steps = [
        { id: 'pause', type: 'wait', config: { duration: 'PT2S' }, next: 'mark' },
        { id: 'mark', type: 'add_tag', config: { tag: 'done' }, next: null },
      ];
      const workflowId = await workflow({ steps });
      const executionId = await run(workflowId, await contact());
      await settled(workflowId, executionId, ['waiting']);
      expect((await http.post(`/workflows/${workflowId}/pause`, {}, { token: owner.accessToken })).status).to.equal(200);
      const paused = await settled(workflowId, executionId, ['paused']);
      expect(paused.timeline.find((t: { type: string }) => t.type === 'paused').by).to.equal('workflow');
      expectProblem(await http.post(`/workflows/${workflowId}/run`, { contactId: await contact() }, { token: owner.accessToken }), 409);
      // Its wait ends while it is paused: a run of the same steps in another workflow, started after it, proves
      // it (once that one has completed, this wait is over too and the runner has been at work since).
      const control = await workflow({ steps });
      expect((await settled(control, await run(control, await contact()))).status).to.equal('completed');
      expect((await http.get(`/workflows/${workflowId}/executions/${executionId}`, { token: owner.accessToken })).body.status).to.equal('paused');
      expect((await http.post(`/workflows/${workflowId}/resume`, {}, { token: owner.accessToken })).status).to.equal(200);
      expect((await settled(workflowId, executionId)).status).to.equal('completed');

      const other = await workflow({
        steps: [
          { id: 'pause', type: 'wait', config: { duration: 'PT30S' }, next: 'mark' },
          { id: 'mark', type: 'add_tag', config: { tag: 'never' }, next: null },
        ],
      });
      const long = await run(other, await contact());
      await settled(other, long, ['waiting']);
      expect((await http.delete(`/workflows/${other}`, { token: owner.accessToken })).status).to.equal(200);
      const cancelled = await eventually(
        () => system.process.platform.eventStore.readStream(`execution-${long}`),
        (events) => events.some((e) => e.type === 'ExecutionCancelled'),
      );
      expect(cancelled.at(-1)!.type).to.equal('ExecutionCancelled');
      expectProblem(await http.get(`/workflows/${other}`, { token: owner.accessToken }), 404);
    });

    it('reports runs, success rate and median duration', async () => {
      const workflowId = await workflow({ steps: [{ id: 'mark', type: 'add_tag', config: { tag: 'stat' }, next: null }] });
      const ids = [await run(workflowId, await contact()), await run(workflowId, await contact()), await run(workflowId, await contact())];
      for (const id of ids) await settled(workflowId, id);
      const stats = await http.get(`/workflows/${workflowId}/stats`, { token: owner.accessToken });
      expect(stats.status).to.equal(200);
      expect(stats.body).to.deep.include({ runs: 3, successRate: 1 });
      expect(stats.body.byStatus.completed).to.equal(3);
      expect(stats.body.medianDurationMs).to.be.a('number').at.least(0);
      const filtered = await http.get(`/workflows/${workflowId}/executions?status=completed&limit=2`, { token: owner.accessToken });
      expect(filtered.body.data).to.have.length(2);
      expect(filtered.body.page.hasMore).to.equal(true);
      const next = await http.get(`/workflows/${workflowId}/executions?status=completed&limit=2&cursor=${filtered.body.page.nextCursor}`, {
        token: owner.accessToken,
      });
      expect(next.body.data).to.have.length(1);
      expectProblem(await http.get(`/workflows/${workflowId}/executions?status=sleeping`, { token: owner.accessToken }), 400, ['status']);
    });
  });
});

describe('Workflow mailbox throttles (real PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200', MAILBOX_MAX_PER_MINUTE: '2' });
  });
  after(async () => system?.stop());

  it('sends at most the limit per mailbox per minute; the rest wait for the next minute instead of failing', async () => {
    const owner = await registerAccount(system, 'Throttled');
    const created = await system.http.post(
      '/workflows',
      {
        name: 'Blast',
        settings: { mailbox: `blast-${Date.now()}@acme.test`, exitOn: [] },
        steps: [{ id: 'hi', type: 'send_email', config: { subject: 'Hi', body: 'x' }, next: null }],
      },
      { token: owner.accessToken },
    );
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await system.http.post('/contacts', { email: uniqueEmail('t') }, { token: owner.accessToken });
      ids.push(
        (await system.http.post(`/workflows/${created.body.id}/run`, { contactId: c.body.id }, { token: owner.accessToken })).body.executionId,
      );
    }
    const list = await eventually(
      () => system.http.get(`/workflows/${created.body.id}/executions`, { token: owner.accessToken }),
      (r) =>
        r.body.data?.length === 4 &&
        r.body.data.every((e: { status: string; waitReason: string | null }) => e.status === 'completed' || e.waitReason === 'throttle'),
    );
    const statuses = list.body.data.map((e: { status: string }) => e.status).sort();
    const completed = statuses.filter((s: string) => s === 'completed').length;
    // Two in this minute; if the minute turned during the test, up to two more.
    expect(completed).to.be.within(2, 4);
    for (const waiting of list.body.data.filter((e: { status: string }) => e.status === 'waiting')) {
      expect(Date.parse(waiting.dueAt) % 60_000, 'due at the start of a minute').to.equal(0);
    }
  });
});
