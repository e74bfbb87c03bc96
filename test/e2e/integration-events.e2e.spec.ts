import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { RecordedEvent } from '../../domain/events.ts';
import { eventually } from '../support/events.ts';
import { operatorHealth, registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { RABBITMQ_URL, rabbitConsumer } from '../support/rabbitmq.ts';

const run = promisify(execFile);
const published = new Set([
  'WorkflowCreated',
  'WorkflowUpdated',
  'WorkflowDeleted',
  'ExecutionStarted',
  'ExecutionCompleted',
  'ExecutionFailed',
  'StepCompleted',
]);

/** Stops and starts the RabbitMQ application of the local broker (the node stays up; queues and exchanges are kept if durable). */
async function rabbitmqctl(command: 'stop_app' | 'start_app'): Promise<void> {
  await run('rabbitmqctl', ['-q', command], { timeout: 60_000 });
}

describe('Integration events on RabbitMQ: at least once, nothing lost when the broker goes away (real RabbitMQ, PostgreSQL, Redis)', function () {
  this.timeout(180_000);
  let system: TestSystem;
  let owner: Account;
  const exchange = `nf-test-${randomUUID()}`;

  before(async () => {
    system = await startTestSystem(undefined, { RABBITMQ_URL, RABBITMQ_EXCHANGE: exchange, WORKFLOW_POLL_MS: '200' });
    owner = await registerAccount(system, 'Events');
  });
  after(async () => {
    await rabbitmqctl('start_app').catch(() => undefined);
    await system?.stop();
  });

  async function runOnce(workflowId: string): Promise<string> {
    const contact = await system.http.post('/contacts', { email: uniqueEmail('ev') }, { token: owner.accessToken });
    const started = await system.http.post(`/workflows/${workflowId}/run`, { contactId: contact.body.id }, { token: owner.accessToken });
    expect(started.status).to.equal(202);
    return started.body.executionId;
  }

  const completedIn = (events: RecordedEvent[]) => events.some((e) => e.type === 'ExecutionCompleted');

  it('publishes the workflow events with the event id as message id; a broker outage mid-run loses none of them', async () => {
    // A durable queue, as a downstream service would have, so messages wait in it across the broker restart.
    const consumer = await rabbitConsumer(exchange, 'workflow.#', { durable: true });
    try {
      const created = await system.http.post(
        '/workflows',
        {
          name: 'Evented',
          steps: [
            { id: 'a', type: 'add_tag', config: { tag: 'a' }, next: 'b' },
            { id: 'b', type: 'add_tag', config: { tag: 'b' }, next: null },
          ],
        },
        { token: owner.accessToken },
      );
      const workflowId = created.body.id as string;
      const before = [await runOnce(workflowId), await runOnce(workflowId)];
      for (const id of before) await eventually(() => system.process.platform.eventStore.readStream(`execution-${id}`), completedIn);
      await eventually(
        () => consumer.received.length,
        (n) => n >= 1 + 2 * 4,
      );

      await rabbitmqctl('stop_app');
      const during: string[] = [];
      try {
        // The workflows keep running while the broker is away; their events wait in the log.
        for (let i = 0; i < 3; i++) during.push(await runOnce(workflowId));
        for (const id of during) await eventually(() => system.process.platform.eventStore.readStream(`execution-${id}`), completedIn, 30_000);
        // The publisher notices (and backs off); its checkpoint stays where the outage began.
        await eventually(
          () => system.http.get(operatorHealth.path, { headers: operatorHealth.headers }),
          (health) => /RabbitMQ is unavailable/.test(health.body.checks?.reactors?.detail?.['integration-events']?.lastError ?? ''),
          30_000,
        );
      } finally {
        await rabbitmqctl('start_app');
      }
      const after = await runOnce(workflowId);
      await eventually(() => system.process.platform.eventStore.readStream(`execution-${after}`), completedIn);

      // Every event of a published type in the log arrived, by id (duplicates are allowed: at least once).
      const expected = new Set<string>();
      for (const stream of [`workflow-${workflowId}`, ...[...before, ...during, after].map((id) => `execution-${id}`)]) {
        for (const event of await system.process.platform.eventStore.readStream(stream)) if (published.has(event.type)) expected.add(event.id);
      }
      expect(expected.size).to.equal(1 + 6 * 4);
      await eventually(
        () => new Set(consumer.messageIds),
        (ids) => [...expected].every((id) => ids.has(id)),
        60_000,
      );
      const types = new Map(consumer.received.map((m) => [m.id, m.type]));
      expect([...new Set([...types.values()])].sort()).to.deep.equal([
        'workflow.created',
        'workflow.execution.completed',
        'workflow.execution.started',
        'workflow.step.completed',
      ]);
      const step = consumer.received.find((m) => m.type === 'workflow.step.completed')!;
      expect(step.organizationId).to.equal(owner.organizationId);
      expect(step.data).to.include.keys('executionId', 'workflowId', 'stepId');
    } finally {
      await consumer.close();
    }
  });
});
