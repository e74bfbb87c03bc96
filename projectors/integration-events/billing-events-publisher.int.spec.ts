import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { Connection } from 'rabbitmq-client';
import { billingAccountStream, type BillingAccountEvent } from '../../domain/billing/billing-account.ts';
import { RabbitMqEventBus } from '../../infra/messaging/rabbitmq-event-bus.ts';
import { eventually } from '../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { at, fact } from '../../test/support/projection-spec.ts';
import { RABBITMQ_URL, rabbitConsumer } from '../../test/support/rabbitmq.ts';
import { openStores, silentLogger } from '../../test/support/stores.ts';
import { ProjectionRunner } from '../runner/projection-runner.ts';
import { billingEventsPublisher } from './billing-events-publisher.ts';

describe('billing events on RabbitMQ: subscription.changed, at least once (real RabbitMQ and PostgreSQL)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;
  let bus: RabbitMqEventBus;
  const exchange = `nf-test-${randomUUID()}`;

  before(async () => {
    database = await createTestDatabase('nf_test_billing_events');
    stores = await openStores(database.url);
    bus = RabbitMqEventBus.create(RABBITMQ_URL, pino({ level: 'silent' }), exchange);
  });
  after(async () => {
    await bus?.close();
    const admin = new Connection(RABBITMQ_URL);
    admin.on('error', () => undefined);
    await admin.exchangeDelete({ exchange }).catch(() => undefined);
    await admin.close();
    await stores?.close();
    await database?.drop();
  });

  it('publishes a start, a change and a cancellation, never a customer or card; other billing facts stay in', async () => {
    const consumer = await rabbitConsumer(exchange, 'subscription.#');
    try {
      const organizationId = randomUUID();
      const stream = billingAccountStream(organizationId);
      const subscription = {
        subscriptionId: 'sub_1',
        planId: 'pro',
        interval: 'month' as const,
        status: 'active' as const,
        currentPeriodStart: at(0),
        currentPeriodEnd: at(60),
        cancelAtPeriodEnd: false,
        canceledAt: null,
        trialEnd: null,
      };
      const events: BillingAccountEvent[] = [
        { type: 'BillingCustomerCreated', version: 1, data: { organizationId, customerId: 'cus_secretish', mode: 'stripe' } },
        { type: 'SubscriptionStarted', version: 1, data: { organizationId, mode: 'stripe', ...subscription } },
        { type: 'PaymentMethodSet', version: 1, data: { organizationId, paymentMethodId: 'pm_1' } },
        {
          type: 'SubscriptionChanged',
          version: 1,
          data: { organizationId, subscriptionId: 'sub_1', changes: { planId: 'team' }, previous: { planId: 'pro' }, reason: 'upgrade' },
        },
        { type: 'SubscriptionCanceled', version: 1, data: { organizationId, subscriptionId: 'sub_1', planId: 'team', canceledAt: at(30) } },
      ];
      const facts = events.map((event, i) => fact(stream, event, { tenantId: organizationId, occurredAt: at(i) }));
      let position = '';
      for (const { id, streamId, event, metadata } of facts) {
        ({ position } = await stores.store.append(streamId, [{ id, type: event.type, version: event.version, data: event.data, metadata }], 'any'));
      }
      const runner = new ProjectionRunner(billingEventsPublisher(bus), stores.store, stores.orm, silentLogger, { batchSize: 2, liveDelayMs: 0 });
      await runner.start();
      try {
        await eventually(
          () => runner.status().position,
          (reached) => reached !== null && stores.store.comparePositions(reached, position) >= 0,
        );
      } finally {
        await runner.stop();
      }
      const published = [facts[1]!, facts[3]!, facts[4]!];
      await eventually(
        () => new Set(consumer.messageIds),
        (ids) => published.every((f) => ids.has(f.id)),
      );
      const byId = new Map(consumer.received.map((m) => [m.id, m]));
      expect(byId.has(facts[0]!.id) || byId.has(facts[2]!.id)).to.equal(false);
      expect(published.map((f) => byId.get(f.id)!.type)).to.deep.equal(['subscription.changed', 'subscription.changed', 'subscription.changed']);
      expect(published.map((f) => byId.get(f.id)!.data)).to.deep.equal([
        { change: 'started', mode: 'stripe', ...subscription },
        { change: 'changed', subscriptionId: 'sub_1', changes: { planId: 'team' }, previous: { planId: 'pro' }, reason: 'upgrade' },
        { change: 'canceled', subscriptionId: 'sub_1', planId: 'team', canceledAt: at(30) },
      ]);
      expect(consumer.received.every((m) => m.organizationId === organizationId)).to.equal(true);
    } finally {
      await consumer.close();
    }
  });
});
