import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { Connection } from 'rabbitmq-client';
import type { IntegrationMessage } from '../../projectors/integration-events/integration-event-bus.ts';
import { RABBITMQ_URL, rabbitConsumer } from '../../test/support/rabbitmq.ts';
import { integrationEventBusContract } from './integration-event-bus.contract.ts';
import { InProcessEventBus } from './in-process-event-bus.ts';
import { RabbitMqEventBus } from './rabbitmq-event-bus.ts';

integrationEventBusContract(`RabbitMQ at ${RABBITMQ_URL} (rabbitmq-client, publisher confirms)`, async () => {
  const exchange = `nf-test-${randomUUID()}`;
  const bus = RabbitMqEventBus.create(RABBITMQ_URL, pino({ level: 'silent' }), exchange);
  return {
    bus,
    consume: (pattern) => rabbitConsumer(exchange, pattern),
    async close() {
      await bus.close();
      const admin = new Connection(RABBITMQ_URL);
      admin.on('error', () => undefined);
      await admin.exchangeDelete({ exchange }).catch(() => undefined);
      await admin.close();
    },
  };
});

integrationEventBusContract('in-process stand-in (embedded default)', async () => {
  const bus = new InProcessEventBus();
  return {
    bus,
    async consume(pattern) {
      const received: IntegrationMessage[] = [];
      const unsubscribe = bus.subscribe(pattern, (m) => received.push(m));
      return { received, close: async () => void unsubscribe() };
    },
    close: () => bus.close(),
  };
});
