import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import pg from 'pg';
import type { RecordedEvent } from '../../domain/events.ts';
import { stepStartIn } from '../../domain/workflows/execution.ts';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, TEST_JWT_SECRET, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { RoleProcess } from '../support/processes.ts';

/**
 * Runners as separate processes (the projectors role), sharing one database and one Redis with an API that
 * runs no projectors of its own: several at once, and killed without warning.
 */
describe('Workflow runners in separate processes: sharing work, killed and taken over (real PostgreSQL and Redis)', function () {
  this.timeout(180_000);
  let system: TestSystem;
  let owner: Account;
  const runners: RoleProcess[] = [];

  const startRunner = () =>
    RoleProcess.start('projectors/main.ts', {
      DATABASE_URL: system.database.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      REDIS_KEY_PREFIX: system.process.config.REDIS_KEY_PREFIX,
      JWT_SECRET: TEST_JWT_SECRET,
      MAIL_OUTBOX_DIR: system.mailbox.directory,
      WORKFLOW_LEASE_MS: '2000',
      WORKFLOW_POLL_MS: '200',
      WORKFLOW_RUNNER_CONCURRENCY: '8',
      PASSWORD_HASH_COST: '10',
      // The webhook of the takeover test listens on 127.0.0.1, which the outbound guard opens only on request.
      OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
    }).then((runner) => {
      runners.push(runner);
      return runner;
    });

  before(async () => {
    system = await startTestSystem({ commands: true, queries: true, projectors: false });
    owner = await registerAccount(system, 'Runners');
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
  });
  after(async () => system?.stop());

  async function setUp(steps: unknown[]) {
    const created = await system.http.post(
      '/workflows',
      { name: 'Runner test', settings: { mailbox: 'runners@acme.test', exitOn: [] }, steps },
      { token: owner.accessToken },
    );
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    return created.body.id as string;
  }

  async function start(workflowId: string): Promise<string> {
    const contact = await system.http.post('/contacts', { email: uniqueEmail('r'), firstName: 'Run' }, { token: owner.accessToken });
    const run = await system.http.post(`/workflows/${workflowId}/run`, { contactId: contact.body.id }, { token: owner.accessToken });
    expect(run.status, JSON.stringify(run.body)).to.equal(202);
    return run.body.executionId;
  }

  const eventsOf = (executionId: string) => system.process.platform.eventStore.readStream(`execution-${executionId}`);
  const ended = (events: RecordedEvent[]) => events.some((e) => ['ExecutionCompleted', 'ExecutionFailed', 'ExecutionCancelled'].includes(e.type));

  it('never runs a step twice when two runners share the work, and both do some of it', async () => {
    const [a, b] = await Promise.all([startRunner(), startRunner()]);
    const workflowId = await setUp([
      { id: 'hello', type: 'send_email', config: { subject: 'Hello {{contact.firstName}}', body: 'x' }, next: 'mark' },
      { id: 'mark', type: 'add_tag', config: { tag: 'touched' }, next: 'bye' },
      { id: 'bye', type: 'send_email', config: { subject: 'Bye', body: 'y' }, next: null },
    ]);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await start(workflowId));
    for (const id of ids) {
      const events = await eventually(() => eventsOf(id), ended, 60_000);
      expect(events.at(-1)!.type, id).to.equal('ExecutionCompleted');
      // A start is a StepStarted, or the StepCompleted a step whose effects are all in the log was recorded with.
      const started = events.flatMap((e) => stepStartIn(e) ?? []);
      expect(
        started.map((start) => start.stepId),
        `one start per step for ${id}`,
      ).to.deep.equal(['hello', 'mark', 'bye']);
      expect(started.every((start) => start.takeover === false)).to.equal(true);
    }
    const [ha, hb] = await Promise.all([a.health(), b.health()]);
    expect(ha.checks.workflowRunner.detail.stepsRun, 'runner A did some work').to.be.greaterThan(0);
    expect(hb.checks.workflowRunner.detail.stepsRun, 'runner B did some work').to.be.greaterThan(0);
    expect(ha.checks.workflowRunner.detail.stepsRun + hb.checks.workflowRunner.detail.stepsRun).to.equal(120);
  });

  it('resumes a waiting execution once, on time, after its runner was killed', async () => {
    const first = await startRunner();
    const workflowId = await setUp([
      { id: 'before', type: 'add_tag', config: { tag: 'before' }, next: 'pause' },
      { id: 'pause', type: 'wait', config: { duration: 'PT3S' }, next: 'after' },
      { id: 'after', type: 'send_email', config: { subject: 'After the wait', body: 'z' }, next: null },
    ]);
    const id = await start(workflowId);
    const waiting = await eventually(
      () => eventsOf(id),
      (events) => events.some((e) => e.type === 'ExecutionWaiting'),
    );
    const dueAt = Date.parse((waiting.find((e) => e.type === 'ExecutionWaiting')!.data as { until: string }).until);
    await first.kill();
    await startRunner();
    const events = await eventually(() => eventsOf(id), ended, 30_000);
    expect(events.at(-1)!.type).to.equal('ExecutionCompleted');
    const afterStarts = events.flatMap((e) => stepStartIn(e) ?? []).filter((start) => start.stepId === 'after');
    expect(afterStarts, 'the step after the wait ran exactly once').to.have.length(1);
    expect(Date.parse(afterStarts[0]!.startedAt)).to.be.at.least(dueAt);
    const sent = (await system.mailbox.all()).filter((m) => m.subject === 'After the wait');
    expect(sent).to.have.length(1);
  });

  it('claims a wait ahead of its end, runs the step after at that moment, and lets go of one cancelled meanwhile', async () => {
    const runner = await startRunner();
    const workflowId = await setUp([
      { id: 'pause', type: 'wait', config: { duration: 'PT4S' }, next: 'after' },
      { id: 'after', type: 'send_email', config: { subject: 'Claimed ahead', body: 'z' }, next: null },
    ]);
    const kept = await start(workflowId);
    const cancelled = await start(workflowId);
    const db = new pg.Client({ connectionString: system.database.url });
    await db.connect();
    try {
      const queueRow = async (id: string) =>
        (
          await db.query<{ leased: boolean; due: boolean }>(
            'SELECT lease_owner IS NOT NULL AS leased, due_at <= now() AS due FROM workflow_execution_queue WHERE execution_id = $1',
            [id],
          )
        ).rows[0];
      // Both waits are claimed before they end (leased while not yet due).
      for (const id of [kept, cancelled]) {
        await eventually(
          () => queueRow(id),
          (row) => row?.leased === true && row.due === false,
          10_000,
        );
      }
      const answer = await system.http.post(`/workflows/${workflowId}/executions/${cancelled}/cancel`, {}, { token: owner.accessToken });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);

      const events = await eventually(() => eventsOf(kept), ended, 30_000);
      expect(events.at(-1)!.type).to.equal('ExecutionCompleted');
      const until = Date.parse((events.find((e) => e.type === 'ExecutionWaiting')!.data as { until: string }).until);
      const afterStarts = events.flatMap((e) => stepStartIn(e) ?? []).filter((start) => start.stepId === 'after');
      expect(afterStarts, 'the step after the wait ran once').to.have.length(1);
      expect(Date.parse(afterStarts[0]!.startedAt), 'not before the wait ended').to.be.at.least(until);

      // The cancelled one: its runner found it changed when it came due, and let it go without a step.
      await eventually(
        () => queueRow(cancelled),
        (row) => row !== undefined && !row.leased,
        30_000,
      );
      const other = await eventsOf(cancelled);
      expect(other.at(-1)!.type).to.equal('ExecutionCancelled');
      expect(other.flatMap((e) => stepStartIn(e) ?? []).filter((start) => start.stepId === 'after')).to.have.length(0);
      expect((await system.mailbox.all()).filter((m) => m.subject === 'Claimed ahead')).to.have.length(1);
      const health = (await runner.health()) as { checks: { workflowRunner: { detail: { conflicts: number } } } };
      expect(health.checks.workflowRunner.detail.conflicts, 'the claim ahead was decided on, then found stale').to.be.at.least(1);
    } finally {
      await db.end();
    }
  });

  it('keeps the lease of a step that outlasts it many times over: the other runner never takes it over', async () => {
    const calls: { key: string; res: ServerResponse }[] = [];
    const webhook: Server = createServer((req, res) => {
      calls.push({ key: String(req.headers['idempotency-key']), res });
      req.resume();
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
    const db = new pg.Client({ connectionString: system.database.url });
    await db.connect();
    try {
      await Promise.all([startRunner(), startRunner()]);
      const workflowId = await setUp([{ id: 'call', type: 'http_request', config: { url, timeoutMs: 30_000 }, next: null }]);
      const id = await start(workflowId);
      await eventually(
        () => calls.length,
        (n) => n === 1,
        30_000,
      );
      const leaseUntil = async () =>
        (await db.query<{ until: Date }>('SELECT lease_until AS until FROM workflow_execution_queue WHERE execution_id = $1', [id])).rows[0]!.until;
      // Held for three leases (of 2 s) past the first one's end, renewed as it went.
      const firstEnd = (await leaseUntil()).getTime();
      await eventually(leaseUntil, (until) => until.getTime() > firstEnd + 6_000, 30_000);
      expect(calls, 'nobody took the step over meanwhile').to.have.length(1);
      calls[0]!.res.end('{"ok":true}');
      const events = await eventually(() => eventsOf(id), ended, 30_000);
      expect(events.at(-1)!.type).to.equal('ExecutionCompleted');
      expect(events.filter((e) => e.type === 'StepStarted').map((e) => (e.data as { takeover: boolean }).takeover)).to.deep.equal([false]);
      expect(calls).to.have.length(1);
    } finally {
      for (const call of calls) call.res.destroy();
      await db.end();
      await new Promise((resolve) => webhook.close(resolve));
    }
  });

  it('takes over a step whose runner died in the middle of it, with the same idempotency key', async () => {
    const calls: { key: string; res: ServerResponse }[] = [];
    const webhook: Server = createServer((req, res) => {
      calls.push({ key: String(req.headers['idempotency-key']), res });
      req.resume();
      // The first call never gets an answer: its runner dies while waiting for it.
      if (calls.length > 1) res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
    try {
      const first = await startRunner();
      const workflowId = await setUp([{ id: 'call', type: 'http_request', config: { url, timeoutMs: 20_000 }, next: null }]);
      const id = await start(workflowId);
      await eventually(
        () => calls.length,
        (n) => n === 1,
        30_000,
      );
      await first.kill();
      await startRunner();
      const events = await eventually(() => eventsOf(id), ended, 30_000);
      expect(events.at(-1)!.type).to.equal('ExecutionCompleted');
      const starts = events
        .filter((e) => e.type === 'StepStarted')
        .map((e) => e.data as { attempt: number; takeover: boolean; idempotencyKey: string });
      expect(starts.map((s) => [s.attempt, s.takeover])).to.deep.equal([
        [1, false],
        [1, true],
      ]);
      expect(calls.map((c) => c.key)).to.deep.equal([starts[0]!.idempotencyKey, starts[0]!.idempotencyKey]);
      expect(events.filter((e) => e.type === 'StepCompleted')).to.have.length(1);
      const detail = await eventually(
        () => system.http.get(`/workflows/${workflowId}/executions/${id}`, { token: owner.accessToken }),
        (r) => r.body.status === 'completed',
      );
      expect(detail.body.steps.map((s: { status: string; takeover: boolean }) => `${s.status}:${s.takeover}`)).to.deep.equal([
        'failed:false',
        'completed:true',
      ]);
      expect(detail.body.steps[0].error.code).to.equal('runner_lost');
    } finally {
      for (const call of calls) call.res.destroy();
      await new Promise((resolve) => webhook.close(resolve));
    }
  });
});
