import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { Connection } from 'rabbitmq-client';
import { RabbitMqEventBus } from '../../infra/messaging/rabbitmq-event-bus.ts';
import { eventually } from '../../test/support/events.ts';
import { integrationFacts, syncCounts } from '../../test/support/integrations.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { at, type Fact } from '../../test/support/projection-spec.ts';
import { RABBITMQ_URL, rabbitConsumer } from '../../test/support/rabbitmq.ts';
import { openStores, silentLogger } from '../../test/support/stores.ts';
import { ProjectionRunner } from '../runner/projection-runner.ts';
import { crmEventsPublisher } from './crm-events-publisher.ts';

describe('CRM integration events on RabbitMQ: the seed’s integration.* events, at least once (real RabbitMQ and PostgreSQL)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;
  let bus: RabbitMqEventBus;
  const exchange = `nf-test-${randomUUID()}`;

  before(async function () {
    this.timeout(60_000);
    database = await createTestDatabase('nf_test_crm_events');
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

  async function append(facts: Fact[]): Promise<string> {
    let position = '';
    for (const { id, streamId, event, metadata } of facts) {
      ({ position } = await stores.store.append(streamId, [{ id, type: event.type, version: event.version, data: event.data, metadata }], 'any'));
    }
    return position;
  }

  /** Runs the publisher as the projectors process does until its checkpoint reaches `position`. */
  async function publishUpTo(position: string): Promise<void> {
    const runner = new ProjectionRunner(crmEventsPublisher(bus), stores.store, stores.orm, silentLogger, { batchSize: 3, liveDelayMs: 0 });
    await runner.start();
    try {
      await eventually(
        () => runner.status().position,
        (reached) => reached !== null && stores.store.comparePositions(reached, position) >= 0,
      );
    } finally {
      await runner.stop();
    }
  }

  it('publishes connect, runs, data received (webhooks and reading checkpoints) and disconnect, with the event id as message id', async () => {
    const consumer = await rabbitConsumer(exchange, 'integration.#');
    try {
      const organizationId = randomUUID();
      const crm = integrationFacts(organizationId, { provider: 'hubspot' });
      const cursorIn = { stamp: at(6), lastId: '501' };
      const facts = [
        ...crm.connected,
        ...crm.start('run-1', 5),
        ...crm.checkpoint('run-1', 6, syncCounts({ read: 100, created: 100 }), { in: cursorIn }),
        // Only our side moved: nothing came in, nothing is published.
        ...crm.checkpoint('run-1', 7, syncCounts({ read: 0 }), { out: { stamp: at(7), lastId: 'c-1' } }),
        ...crm.complete('run-1', 8, syncCounts({ read: 100, created: 100 }), { in: cursorIn }),
        ...crm.webhook(['501', '502'], 9),
        ...crm.start('run-2', 10, 'incremental'),
        ...crm.disconnect(11),
      ];
      // Half now, half after a restart, which starts from the checkpoint the first run left.
      await publishUpTo(await append(facts.slice(0, 4)));
      await publishUpTo(await append(facts.slice(4)));

      const outOnly = facts.find((f) => f.event.type === 'SyncCheckpointed' && f.metadata.occurredAt === at(7))!;
      const published = facts.filter((f) => f !== outOnly);
      await eventually(
        () => new Set(consumer.messageIds),
        (ids) => published.every((f) => ids.has(f.id)),
      );
      const byId = new Map(consumer.received.map((m) => [m.id, m]));
      // Published in log order on one channel: had it been sent, it would have arrived before the completion.
      expect(byId.has(outOnly.id)).to.equal(false);
      expect(published.map((f) => byId.get(f.id)!.type)).to.deep.equal([
        'integration.connected',
        'integration.sync.started',
        'integration.data.received',
        'integration.sync.completed',
        'integration.data.received',
        'integration.sync.started',
        'integration.sync.failed',
        'integration.disconnected',
      ]);
      expect(consumer.received.every((m) => m.organizationId === organizationId)).to.equal(true);
      const message = (i: number) => byId.get(published[i]!.id)!;
      expect(message(0).data).to.deep.equal({
        integrationId: crm.id,
        provider: 'hubspot',
        accountId: crm.grant.accountId,
        accountLabel: crm.grant.accountLabel,
        instanceUrl: null,
        grantedScopes: ['api', 'refresh_token'],
      });
      expect(message(2).data).to.deep.equal({
        integrationId: crm.id,
        source: 'sync',
        runId: 'run-1',
        counts: syncCounts({ read: 100, created: 100 }),
        cursor: cursorIn,
      });
      expect(message(3).data).to.deep.include({ runId: 'run-1', kind: 'initial', direction: 'both' });
      expect(message(4).data).to.deep.equal({
        integrationId: crm.id,
        source: 'webhook',
        provider: 'hubspot',
        externalIds: ['501', '502'],
        receivedAt: at(9),
      });
      expect(message(6).data).to.deep.equal({ integrationId: crm.id, runId: 'run-2', reason: 'disconnected', retryable: false });
      expect(message(7).data).to.deep.equal({ integrationId: crm.id, provider: 'hubspot' });
      expect(JSON.stringify(consumer.received)).not.to.contain('sealed:v1');
    } finally {
      await consumer.close();
    }
  });
});
