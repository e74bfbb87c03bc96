import type { Metrics } from '../observability/metrics.ts';
import { Connection, type Publisher } from 'rabbitmq-client';
import type { Logger } from 'pino';
import type { IntegrationEventBus, IntegrationMessage } from '../../projectors/integration-events/integration-event-bus.ts';
import { DependencyUnavailableError } from '../resilience.ts';

export const DEFAULT_EXCHANGE = 'nexusflow.events';

/**
 * Integration events on a RabbitMQ topic exchange (rabbitmq-client): persistent messages, publisher
 * confirms, the event id as message id. While the broker is unreachable, publishing fails fast enough for
 * the caller to back off and try again from its checkpoint; the client reconnects on its own.
 */
export class RabbitMqEventBus implements IntegrationEventBus {
  private constructor(
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    private readonly exchange: string,
    private readonly metrics?: Metrics,
  ) {}

  static create(
    url: string,
    logger: Logger,
    exchange = DEFAULT_EXCHANGE,
    options: { acquireTimeoutMs?: number; metrics?: Metrics } = {},
  ): RabbitMqEventBus {
    const connection = new Connection({
      url,
      connectionName: 'nexusflow-integration-events',
      acquireTimeout: options.acquireTimeoutMs ?? 5_000,
      connectionTimeout: 5_000,
      retryLow: 250,
      retryHigh: 5_000,
    });
    connection.on('error', (err) => logger.warn({ err }, 'rabbitmq connection error'));
    connection.on('connection', () => logger.info('rabbitmq connection (re)established'));
    const publisher = connection.createPublisher({
      confirm: true,
      maxAttempts: 1,
      exchanges: [{ exchange, type: 'topic', durable: true }],
    });
    return new RabbitMqEventBus(connection, publisher, exchange, options.metrics);
  }

  async publish(messages: IntegrationMessage[]): Promise<void> {
    try {
      await Promise.all(
        messages.map((message) =>
          this.confirmed(
            this.publisher.send(
              {
                exchange: this.exchange,
                routingKey: message.type,
                messageId: message.id,
                type: message.type,
                correlationId: message.correlationId,
                timestamp: Math.floor(Date.parse(message.occurredAt) / 1000),
                contentType: 'application/json',
                durable: true,
                headers: { 'x-organization-id': message.organizationId },
              },
              message,
            ),
          ),
        ),
      );
    } catch (err) {
      throw new DependencyUnavailableError('RabbitMQ', err);
    }
  }

  /** Each publish waits for its confirm: one round trip, counted by outcome. */
  private async confirmed(sent: Promise<void>): Promise<void> {
    try {
      await sent;
      this.metrics?.rabbitMqRoundTrips.inc({ outcome: 'confirmed' });
    } catch (err) {
      this.metrics?.rabbitMqRoundTrips.inc({ outcome: 'failed' });
      throw err;
    }
  }

  /** Whether the broker answers now (for readiness). */
  get connected(): boolean {
    return this.connection.ready;
  }

  async close(): Promise<void> {
    await this.publisher.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}
