import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ContainerModule } from 'inversify';
import pino from 'pino';
import { contactStream } from '../domain/contacts/contact.ts';
import { loadConfig } from '../infra/config/config.ts';
import { createContainer, migrateDatabase } from '../infra/di/container.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import type { EventStore } from '../infra/eventstore/event-store.ts';
import type { Notifications } from '../infra/notifications/notifications.ts';
import type { CheckpointWatcher } from '../infra/readmodels/checkpoint-watcher.ts';
import type { Metrics } from '../infra/observability/metrics.ts';
import { CHANNEL_PERSONAL_DATA_ERASED } from '../infra/privacy/personal-data-sealing.ts';
import { eventually } from '../test/support/events.ts';
import { facts } from '../test/support/facts.ts';
import { testEnvironment } from '../test/support/http.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.ts';
import { contactProjectionsModule } from './contacts/module.ts';
import { bindProjection, PROJECTORS, projectorCoreModule } from './module.ts';
import type { WorkflowBacklog } from './backlog.ts';
import type { LogTail } from './runner/log-tail.ts';
import type { Projection } from './runner/projection.ts';

/** The value of one series in the exposition text, or null when the series is not there. */
function sample(text: string, name: string, projection: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{projection="${projection}"} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('projection metrics: what the projector host records in the process registry', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let outbox: string;

  before(async () => {
    database = await createTestDatabase('nf_test_projection_metrics');
    outbox = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
    await migrateDatabase(testEnvironment(database.url, outbox));
  });
  after(async () => {
    await database.drop();
    await rm(outbox, { recursive: true, force: true });
  });

  it('counts events and batches as a batch commits, and shows the lag of each projection at a scrape', async () => {
    // A projection of the test's own that holds its first batch until released: while it does, it is behind.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow: Projection = {
      name: 'slow-contacts',
      eventTypes: new Set(['ContactCreated']),
      apply: () => held,
    };
    const slowModule = new ContainerModule((bind) => bindProjection(bind, () => slow));
    const config = loadConfig(testEnvironment(database.url, outbox), 'projectors');
    const { container, lifecycle } = createContainer(config, pino({ level: 'silent' }), [projectorCoreModule, contactProjectionsModule, slowModule]);
    try {
      await container.getAsync(PROJECTORS);
      const metrics = await container.getAsync<Metrics>(TOKENS.Metrics);
      const store = await container.getAsync<EventStore>(TOKENS.EventStore);
      await lifecycle.start();
      const organizationId = facts.organizationCreated().data.organizationId;
      let head = '';
      for (let n = 0; n < 3; n++) {
        const created = facts.contactCreated(organizationId);
        head = (await store.append(contactStream(created.data.contactId), [created], 'no_stream')).position;
      }

      const text = () => metrics.exposition().then((exposition) => exposition.body);
      const scraped = await eventually(text, (body) => sample(body, 'nexusflow_projection_events_total', 'contacts') === 3);
      expect(sample(scraped, 'nexusflow_projection_batches_total', 'contacts')).to.be.at.least(1);
      // Each committed batch's duration, as many as the batches.
      expect(sample(scraped, 'nexusflow_projection_batch_duration_seconds_count', 'contacts')).to.equal(
        sample(scraped, 'nexusflow_projection_batches_total', 'contacts'),
      );
      expect(sample(scraped, 'nexusflow_projection_batch_duration_seconds_sum', 'contacts')).to.be.above(0);
      expect(sample(scraped, 'nexusflow_projection_lag_events', 'contacts')).to.equal(0);
      expect(sample(scraped, 'nexusflow_projection_lag_seconds', 'contacts')).to.equal(0);
      expect(sample(scraped, 'nexusflow_projection_parked_events', 'contacts')).to.equal(0);
      // The pages the projections read, by where they came from: the store at least (the tail starts from a read of it).
      expect(scraped).to.match(/^nexusflow_projection_log_pages_total\{source="store"\} [1-9]/m);
      // The held projection: nothing applied yet, three events behind, for as long as the oldest has waited.
      expect(sample(scraped, 'nexusflow_projection_events_total', 'slow-contacts')).to.equal(null);
      expect(sample(scraped, 'nexusflow_projection_lag_events', 'slow-contacts')).to.equal(Number(head));
      await eventually(text, (body) => (sample(body, 'nexusflow_projection_lag_seconds', 'slow-contacts') ?? 0) > 0);

      release();
      // The lag comes from the committed checkpoint, the count just after the commit returns: a scrape between the two
      // sees one without the other (the first batch may have held only the first event, and the last batch's
      // checkpoint show before its count), so the test waits for both to have taken in all three.
      const caughtUp = await eventually(
        text,
        (body) =>
          sample(body, 'nexusflow_projection_lag_events', 'slow-contacts') === 0 &&
          sample(body, 'nexusflow_projection_events_total', 'slow-contacts') === 3,
      );
      expect(sample(caughtUp, 'nexusflow_projection_events_total', 'slow-contacts')).to.equal(3);
      expect(sample(caughtUp, 'nexusflow_projection_lag_seconds', 'slow-contacts')).to.equal(0);
    } finally {
      release();
      await lifecycle.stop();
    }
  });

  it('keeps the recent log for its hosts, and empties it when a person is erased (what it holds was opened with their key)', async () => {
    const config = loadConfig(testEnvironment(database.url, outbox), 'projectors');
    const { container, lifecycle } = createContainer(config, pino({ level: 'silent' }), [projectorCoreModule, contactProjectionsModule]);
    try {
      const { tail } = await container.getAsync<{ tail: LogTail }>(PROJECTORS);
      const store = await container.getAsync<EventStore>(TOKENS.EventStore);
      const notifications = await container.getAsync<Notifications>(TOKENS.Notifications);
      await lifecycle.start();
      const organizationId = facts.organizationCreated().data.organizationId;
      for (let n = 0; n < 3; n++) {
        const created = facts.contactCreated(organizationId);
        await store.append(contactStream(created.data.contactId), [created], 'no_stream');
      }
      await eventually(
        () => tail.held,
        (held) => held >= 3,
      );
      await notifications.notify(CHANNEL_PERSONAL_DATA_ERASED, facts.contactCreated(organizationId).data.contactId);
      await eventually(
        () => tail.held,
        (held) => held === 0,
      );
    } finally {
      await lifecycle.stop();
    }
  });
  it('holds its read models back while the workflow runner is backlogged, but not one a read waits on nor one the runner works from, and lets them go when that ends', async () => {
    // A read model of the test's own, next to the contacts read model: it records what it applied.
    const applied: string[] = [];
    const counting: Projection = {
      name: 'counting-contacts',
      eventTypes: new Set(['ContactCreated']),
      apply: async (events) => {
        for (const event of events) applied.push(event.position);
      },
    };
    // And one the runner works from (as the executions projection feeds its queue): never held.
    const fed: string[] = [];
    const feeding: Projection = {
      name: 'feeding-contacts',
      eventTypes: new Set(['ContactCreated']),
      feedsRunner: true,
      apply: async (events) => {
        for (const event of events) fed.push(event.position);
      },
    };
    const countingModule = new ContainerModule((bind) => {
      bindProjection(bind, () => counting);
      bindProjection(bind, () => feeding);
    });
    const config = loadConfig({ ...testEnvironment(database.url, outbox), PROJECTION_BACKLOG_DELAY_MS: '10000' }, 'projectors');
    const { container, lifecycle } = createContainer(config, pino({ level: 'silent' }), [
      projectorCoreModule,
      contactProjectionsModule,
      countingModule,
    ]);
    try {
      await container.getAsync(PROJECTORS);
      const store = await container.getAsync<EventStore>(TOKENS.EventStore);
      const watcher = await container.getAsync<CheckpointWatcher>(TOKENS.CheckpointWatcher);
      const backlog = await container.getAsync<WorkflowBacklog>(TOKENS.WorkflowBacklog);
      await lifecycle.start();
      const organizationId = facts.organizationCreated().data.organizationId;
      const append = async () => {
        const created = facts.contactCreated(organizationId);
        return (await store.append(contactStream(created.data.contactId), [created], 'no_stream')).position;
      };
      const first = await append();
      expect(await watcher.waitFor(['contacts', 'counting-contacts'], first, 10_000)).to.equal(true);

      // The runner (not in this process's test set-up) reports every claim full, for longer than the onset.
      backlog.set(true);
      await eventually(
        () => backlog.active,
        (active) => active,
      );
      const second = await append();
      // A read-your-writes read on the contacts read model is answered: that one went at once.
      expect(await watcher.waitFor(['contacts'], second, 5_000)).to.equal(true);
      await eventually(
        () => fed,
        (positions) => positions.includes(second),
      );
      // The other still holds (for up to 10 s after its last read, far longer than the read took).
      expect(applied).to.not.include(second);
      backlog.set(false);
      await eventually(
        () => applied,
        (positions) => positions.includes(second),
      );
    } finally {
      await lifecycle.stop();
    }
  });
  it('a background projection takes what arrived during its delay as one batch, and goes at once for a read that waits on it', async () => {
    const batches: string[][] = [];
    const background: Projection = {
      name: 'background-contacts',
      eventTypes: new Set(['ContactCreated']),
      background: true,
      apply: async (events) => {
        batches.push(events.map((event) => event.position));
      },
    };
    const config = loadConfig({ ...testEnvironment(database.url, outbox), PROJECTION_BACKGROUND_DELAY_MS: '10000' }, 'projectors');
    const { container, lifecycle } = createContainer(config, pino({ level: 'silent' }), [
      projectorCoreModule,
      contactProjectionsModule,
      new ContainerModule((bind) => bindProjection(bind, () => background)),
    ]);
    try {
      await container.getAsync(PROJECTORS);
      const store = await container.getAsync<EventStore>(TOKENS.EventStore);
      const watcher = await container.getAsync<CheckpointWatcher>(TOKENS.CheckpointWatcher);
      const organizationId = facts.organizationCreated().data.organizationId;
      const append = async () => {
        const created = facts.contactCreated(organizationId);
        return (await store.append(contactStream(created.data.contactId), [created], 'no_stream')).position;
      };
      // What is in the log at its start it catches up on at once.
      const before = await append();
      await lifecycle.start();
      await eventually(
        () => batches.flat(),
        (positions) => positions.includes(before),
      );
      // Live, it takes what comes next only once its delay (10 s) since that read is over, while the contacts
      // read model (not background) has it at once.
      const second = await append();
      const third = await append();
      expect(await watcher.waitFor(['contacts'], third, 5_000)).to.equal(true);
      expect(batches.flat()).to.not.include(second);
      // A read that waits on it is answered long before its delay is over: the two go then, in one batch.
      expect(await watcher.waitFor(['background-contacts'], third, 5_000)).to.equal(true);
      expect(batches[batches.length - 1]).to.deep.equal([second, third]);
    } finally {
      await lifecycle.stop();
    }
  });
});
