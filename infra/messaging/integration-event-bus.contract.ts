import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { IntegrationEventBus, IntegrationMessage } from '../../projectors/integration-events/integration-event-bus.ts';
import { eventually } from '../../test/support/events.ts';

export interface BusUnderTest {
  bus: IntegrationEventBus;
  /** Starts receiving what is published under `pattern` (topic syntax); ready when it resolves. */
  consume(pattern: string): Promise<{ received: IntegrationMessage[]; close(): Promise<void> }>;
  close(): Promise<void>;
}

const message = (type: string, data: Record<string, unknown> = {}): IntegrationMessage => ({
  id: randomUUID(),
  type,
  organizationId: randomUUID(),
  occurredAt: new Date().toISOString(),
  correlationId: randomUUID(),
  data,
});

/** What every integration-event bus must do: RabbitMQ and the in-process stand-in alike. */
export function integrationEventBusContract(name: string, open: () => Promise<BusUnderTest>): void {
  describe(`integration event bus contract: ${name}`, function () {
    this.timeout(20_000);
    let subject: BusUnderTest;
    before(async () => {
      subject = await open();
    });
    after(async () => subject?.close());

    it('delivers each confirmed message to subscribers whose pattern matches its name, with its id and content', async () => {
      const executions = await subject.consume('workflow.execution.*');
      const everything = await subject.consume('workflow.#');
      try {
        const started = message('workflow.execution.started', { executionId: 'e-1' });
        const step = message('workflow.step.completed', { stepId: 's' });
        const completed = message('workflow.execution.completed', { executionId: 'e-1' });
        await subject.bus.publish([started, step, completed]);
        await eventually(
          () => everything.received.length,
          (n) => n >= 3,
        );
        await eventually(
          () => executions.received.length,
          (n) => n >= 2,
        );
        expect(executions.received.map((m) => m.id).sort()).to.deep.equal([started.id, completed.id].sort());
        expect(everything.received.map((m) => m.type).sort()).to.deep.equal([
          'workflow.execution.completed',
          'workflow.execution.started',
          'workflow.step.completed',
        ]);
        expect(everything.received.find((m) => m.id === step.id)).to.deep.equal(step);
      } finally {
        await executions.close();
        await everything.close();
      }
    });

    it('confirms an empty batch at once', async () => {
      await subject.bus.publish([]);
    });
  });
}
