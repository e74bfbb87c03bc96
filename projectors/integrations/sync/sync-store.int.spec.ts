import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventually } from '../../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.ts';
import { openStores } from '../../../test/support/stores.ts';
import { SyncStore } from './sync-store.ts';

describe('CRM sync store: letting an integration go (real PostgreSQL)', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;

  before(async () => {
    database = await createTestDatabase('nf_sync_store');
    stores = await openStores(database.url);
  });
  after(async () => {
    await stores?.close();
    await database?.drop();
  });

  async function connectedIntegration(): Promise<{ integrationId: string; organizationId: string }> {
    const integrationId = randomUUID();
    const organizationId = randomUUID();
    await stores.pool.query(
      `INSERT INTO crm_sync_integrations (integration_id, organization_id, provider, status, direction, poll_interval_minutes, next_poll_at, due_at)
       VALUES ($1, $2, 'hubspot', 'connected', 'both', 15, now() + interval '15 minutes', now() + interval '15 minutes')`,
      [integrationId, organizationId],
    );
    return { integrationId, organizationId };
  }
  const dueAt = async (integrationId: string) =>
    (await stores.pool.query<{ due_at: Date }>(`SELECT due_at FROM crm_sync_integrations WHERE integration_id = $1`, [integrationId])).rows[0]!
      .due_at;

  it('stays due when the projection records an outbound change while the worker lets the integration go (no lost wake-up)', async () => {
    const { integrationId, organizationId } = await connectedIntegration();
    const store = new SyncStore(stores.pool, 'worker-1');
    // The sync projection's batch: the change and the row's due time, in one transaction still open.
    const projection = await stores.pool.connect();
    try {
      await projection.query('BEGIN');
      await projection.query(
        `INSERT INTO crm_sync_outbound (integration_id, contact_id, organization_id, deleted, changed_at) VALUES ($1, $2, $3, false, now())`,
        [integrationId, randomUUID(), organizationId],
      );
      await projection.query(`UPDATE crm_sync_integrations SET due_at = LEAST(due_at, now()) WHERE integration_id = $1`, [integrationId]);
      // The worker lets the integration go meanwhile: it waits for the projection's lock.
      const released = store.release(integrationId, new Date());
      // Until it is blocked on that lock, in the database.
      await eventually(
        async () =>
          (await stores.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))
            .rows[0].n as number,
        (waiting) => waiting > 0,
        10_000,
      );
      await projection.query('COMMIT');
      await released;
    } finally {
      projection.release();
    }
    // Due now (the change waits), not at the next poll a quarter of an hour away.
    expect((await dueAt(integrationId)).getTime()).to.be.at.most(Date.now());
  });

  it('is due at the next poll when nothing waits', async () => {
    const { integrationId } = await connectedIntegration();
    await new SyncStore(stores.pool, 'worker-1').release(integrationId, new Date());
    expect((await dueAt(integrationId)).getTime()).to.be.greaterThan(Date.now() + 14 * 60_000);
  });
});
