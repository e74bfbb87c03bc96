import { randomUUID } from 'node:crypto';
import { Connection } from 'rabbitmq-client';
import type { IntegrationMessage } from '../../projectors/integration-events/integration-event-bus.ts';

/** The real RabbitMQ every dev machine and CI has; unreachable is a failure, never a skip. */
export const RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A consumer of an exchange on its own queue, as a downstream service would have one. */
export async function rabbitConsumer(exchange: string, pattern: string, options: { durable?: boolean } = {}) {
  const connection = new Connection({ url: RABBITMQ_URL, retryLow: 200, retryHigh: 1_000 });
  connection.on('error', () => undefined);
  await connection.onConnect(5_000);
  const queue = `nf-test-${randomUUID()}`;
  const received: IntegrationMessage[] = [];
  const ids: string[] = [];
  const consumer = connection.createConsumer(
    {
      queue,
      queueOptions: options.durable ? { durable: true } : { exclusive: true, autoDelete: true },
      exchanges: [{ exchange, type: 'topic', durable: true }],
      queueBindings: [{ exchange, routingKey: pattern }],
    },
    async (msg) => {
      received.push(msg.body as IntegrationMessage);
      ids.push(String(msg.messageId));
    },
  );
  consumer.on('error', () => undefined);
  await new Promise<void>((resolve) => consumer.once('ready', () => resolve()));
  return {
    received,
    messageIds: ids,
    async close() {
      await consumer.close();
      if (options.durable) await connection.queueDelete({ queue }).catch(() => undefined);
      await connection.close();
    },
  };
}
