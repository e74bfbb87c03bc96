import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import type { RecordedEvent } from '../domain/events.ts';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { InProcessNotifications } from '../infra/notifications/in-process-notifications.ts';
import { countedLog } from '../test/support/counted-log.ts';
import { eventually, testEvent } from '../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.ts';
import { silentLogger } from '../test/support/stores.ts';
import { subscribeToAll } from './subscription.ts';

describe('catch-up subscription: larger batches while well behind the head', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresEventStore;

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await PostgresEventStore.migrate(pool);
    store = new PostgresEventStore(pool, new InProcessNotifications());
  });
  after(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });

  it('reads pages of catchUpBatchSize from the third page behind, and of batchSize again once at the head', async () => {
    const start = await store.headPosition();
    const stream = `catch-up-${randomUUID()}`;
    for (let n = 0; n < 30; n++) await store.append(stream, [testEvent('A', { n })], 'any');
    const { log, reads } = countedLog(store);
    const batches: RecordedEvent[][] = [];
    const subscription = subscribeToAll(log, {
      from: start,
      batchSize: 3,
      catchUpBatchSize: 10,
      logger: silentLogger,
      idlePollMs: 50,
      handle: async (events) => void batches.push(events),
    });
    try {
      await eventually(
        () => batches.flat().length,
        (handled) => handled === 30,
      );
      // Pages of 3, 3 (one page behind is about to catch up), then of 10 to the head: 3 + 3 + 10 + 10 + 4.
      expect(batches.map((batch) => batch.length)).to.deep.equal([3, 3, 10, 10, 4]);
      expect(batches.flat().map((event) => (event.data as { n: number }).n)).to.deep.equal([...Array(30).keys()]);
      const live = testEvent('A', { n: 'live' });
      await store.append(stream, [live], 'any');
      await eventually(
        () => batches.flat().length,
        (handled) => handled === 31,
      );
      expect(batches.at(-1)!.map((event) => event.id)).to.deep.equal([live.id]);
      // At the head the subscription reads small pages again.
      expect(reads.slice(0, 5).map((read) => read.maxCount)).to.deep.equal([3, 3, 10, 10, 10]);
      expect(reads.at(-1)!.maxCount).to.equal(3);
    } finally {
      await subscription.stop();
    }
  });
});
