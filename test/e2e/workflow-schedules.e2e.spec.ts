import { expect } from 'chai';
import pino from 'pino';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import type { ExecutionStarter } from '../../command-api/workflows/execution-starter.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { executionStarterModule } from '../../command-api/workflows/module.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { openServices, type Services } from '../support/services.ts';
import { ScheduleFirer } from '../../projectors/workflows/scheduler/schedule-firer.ts';
import { Scheduler } from '../../projectors/workflows/scheduler/scheduler.ts';
import { handledUpTo } from '../support/checkpoints.ts';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

/**
 * Schedules against the real database, with the scheduler's clock in the test's hands: a DST change in
 * Europe/Paris (2027-03-28), downtime beyond the catch-up window, overlap policies, and backfill.
 */
describe('Scheduled workflows (real PostgreSQL and Redis, scheduler clock controlled)', function () {
  this.timeout(90_000);
  let system: TestSystem;
  let owner: Account;
  let scheduler: Scheduler;
  let services: Services;
  const contacts: string[] = [];

  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200' });
    owner = await registerAccount(system, 'Scheduled');
    for (let i = 0; i < 2; i++) {
      const c = await system.http.post('/contacts', { email: uniqueEmail('digest'), tags: ['daily-digest'] }, { token: owner.accessToken });
      contacts.push(c.body.id);
    }
    await system.http.post('/contacts', { email: uniqueEmail('not-in-audience') }, { token: owner.accessToken });
    // The scheduler with its clock in the test's hands, built on what the modules build (its own container).
    services = openServices(system, [commandCoreModule, executionStarterModule]);
    const firer = new ScheduleFirer(
      system.process.platform.orm,
      await services.get<ExecutionStarter>(TOKENS.ExecutionStarter),
      pino({ level: 'silent' }),
    );
    scheduler = new Scheduler(
      system.process.platform.pool,
      await services.get<CommandHandler>(TOKENS.CommandHandler),
      firer,
      pino({ level: 'silent' }),
      { pollMs: 1_000, leaseMs: 60_000 },
    );
  });
  after(async () => {
    await services?.close();
    await system?.stop();
  });

  async function scheduled(trigger: Record<string, unknown>, steps: unknown[]) {
    const created = await system.http.post(
      '/workflows',
      {
        name: 'Digest',
        trigger: { type: 'schedule', audienceTag: 'daily-digest', ...trigger },
        settings: { mailbox: 'digest@acme.test', exitOn: [] },
        steps,
      },
      { token: owner.accessToken },
    );
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    await eventually(
      async () =>
        (await system.process.platform.pool.query('SELECT next_fire_at FROM workflow_schedules WHERE workflow_id = $1', [created.body.id])).rows,
      (rows) => rows.length === 1,
    );
    return created.body.id as string;
  }

  /**
   * The executions of `workflowId` once there are `count`; with `minPosition`, read from a list that includes
   * every event up to it (so a count that must not grow is checked after whatever could have grown it).
   */
  async function causes(workflowId: string, count: number, minPosition?: string) {
    const headers = minPosition ? { 'X-Min-Position': minPosition } : undefined;
    const reply = await eventually(
      () => system.http.get(`/workflows/${workflowId}/executions?limit=100`, { token: owner.accessToken, ...(headers ? { headers } : {}) }),
      (r) => r.body.data?.length === count,
    );
    return reply.body.data as { id: string; cause: { type: string; id: string }; status: string; waitReason: string | null; contactId: string }[];
  }

  it('fires at 09:30 Paris time across the DST change, skips firings missed beyond the catch-up window, and fires each once', async () => {
    const workflowId = await scheduled({ cron: '30 9 * * *', timezone: 'Europe/Paris', overlap: 'allow', catchUpWindowMinutes: 60 }, [
      { id: 'mark', type: 'add_tag', config: { tag: 'digested' }, next: null },
    ]);
    // Months of downtime: only the firing inside the catch-up window (an hour) is made.
    expect(await scheduler.tick(new Date('2027-03-26T08:31:00Z'))).to.equal(1);
    expect(scheduler.stats.missed).to.be.greaterThan(100);
    await scheduler.tick(new Date('2027-03-27T08:31:00Z'));
    await scheduler.tick(new Date('2027-03-28T07:31:00Z')); // 09:31 in Paris, summer time
    await scheduler.tick(new Date('2027-03-29T07:31:00Z'));
    expect(await scheduler.tick(new Date('2027-03-29T07:45:00Z')), 'nothing is due twice').to.equal(0);

    const executions = await causes(workflowId, 8);
    const firings = [...new Set(executions.map((e) => e.cause.id.slice(0, 24)))].sort();
    expect(firings).to.deep.equal(['2027-03-26T08:30:00.000Z', '2027-03-27T08:30:00.000Z', '2027-03-28T07:30:00.000Z', '2027-03-29T07:30:00.000Z']);
    expect(executions.every((e) => e.cause.type === 'schedule')).to.equal(true);
    expect(new Set(executions.map((e) => e.contactId))).to.deep.equal(new Set(contacts));
    const { rows } = await system.process.platform.pool.query('SELECT next_fire_at FROM workflow_schedules WHERE workflow_id = $1', [workflowId]);
    expect((rows[0].next_fire_at as Date).toISOString()).to.equal('2027-03-30T07:30:00.000Z');
  });

  it('applies the overlap policy to a contact whose previous execution still runs: skip or queue behind it', async () => {
    const steps = [
      { id: 'pause', type: 'wait', config: { duration: 'PT1H' }, next: 'mark' },
      { id: 'mark', type: 'add_tag', config: { tag: 'x' }, next: null },
    ];
    const skipping = await scheduled({ cron: '0 8 * * *', timezone: 'UTC', overlap: 'skip', catchUpWindowMinutes: 60 }, steps);
    const queueing = await scheduled({ cron: '0 8 * * *', timezone: 'UTC', overlap: 'queue', catchUpWindowMinutes: 60 }, steps);
    await scheduler.tick(new Date('2027-04-01T08:00:30Z'));
    await causes(skipping, 2);
    const firstQueued = await causes(queueing, 2);
    await eventually(
      () => system.http.get(`/workflows/${queueing}/executions?status=waiting`, { token: owner.accessToken }),
      (r) => r.body.data?.length === 2,
    );
    await scheduler.tick(new Date('2027-04-02T08:00:30Z'));
    // tick() returns once the firing is in the log: a list that includes the head has every execution it started.
    const fired = (await system.process.platform.eventStore.headPosition())!;
    expect(await causes(skipping, 2, fired), 'skipped: their previous execution still waits').to.have.length(2);
    const queued = await causes(queueing, 4);
    const behind = queued.filter((e) => !firstQueued.some((f) => f.id === e.id));
    expect(behind).to.have.length(2);
    const detail = await eventually(
      () => system.http.get(`/workflows/${queueing}/executions/${behind[0]!.id}`, { token: owner.accessToken }),
      (r) => r.body.waitReason === 'queued',
    );
    expect(detail.body.timeline[0]).to.have.property('queuedBehind');
  });

  it('backfills a past range once: firing it again starts nothing new; only scheduled workflows can be', async () => {
    const workflowId = await scheduled({ cron: '30 9 * * *', timezone: 'Europe/Paris', overlap: 'allow', catchUpWindowMinutes: 60 }, [
      { id: 'mark', type: 'add_tag', config: { tag: 'backfilled' }, next: null },
    ]);
    const range = { from: '2026-11-28T00:00:00Z', to: '2026-11-30T00:00:00Z' };
    const accepted = await system.http.post(`/workflows/${workflowId}/backfill`, range, { token: owner.accessToken });
    expect(accepted.status, JSON.stringify(accepted.body)).to.equal(202);
    const executions = await causes(workflowId, 4);
    expect([...new Set(executions.map((e) => e.cause.id.slice(0, 24)))].sort()).to.deep.equal([
      '2026-11-28T08:30:00.000Z',
      '2026-11-29T08:30:00.000Z',
    ]);
    const again = await system.http.post(`/workflows/${workflowId}/backfill`, range, { token: owner.accessToken });
    expect(again.status, JSON.stringify(again.body)).to.equal(202);
    // The reactor that makes backfills has handled the second request (and appended whatever it started).
    await handledUpTo(system.process.platform.pool, 'workflow-lifecycle-reactor', again.body.position);
    const head = (await system.process.platform.eventStore.headPosition())!;
    expect(await causes(workflowId, 4, head)).to.have.length(4);

    const manual = await system.http.post(
      '/workflows',
      { name: 'Manual', steps: [{ id: 'a', type: 'add_tag', config: { tag: 'x' } }] },
      { token: owner.accessToken },
    );
    expectProblem(await system.http.post(`/workflows/${manual.body.id}/backfill`, range, { token: owner.accessToken }), 422);
    expectProblem(
      await system.http.post(
        `/workflows/${workflowId}/backfill`,
        { from: '2026-11-28T00:00:00Z', to: '2026-11-27T00:00:00Z' },
        { token: owner.accessToken },
      ),
      400,
      ['to'],
    );
  });
});
