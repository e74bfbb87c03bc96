import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RecordedEvent } from '../../domain/events.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { openStores, silentLogger } from '../../test/support/stores.ts';
import type { EventStreams } from '../ports.ts';
import { ApiUsageMeter } from './api-usage-meter.ts';

describe('API usage meter (real PostgreSQL event store)', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;

  before(async () => {
    database = await createTestDatabase('nf_usage');
    stores = await openStores(database.url);
  });
  after(async () => {
    await stores?.close();
    await database?.drop();
  });

  async function recorded(organizationId: string): Promise<RecordedEvent[]> {
    const all = await stores.store.readAll({ after: null, maxCount: 10_000 });
    return all.filter((event) => event.type === 'ApiCallsCounted' && event.metadata.tenantId === organizationId);
  }
  const callsOf = (events: RecordedEvent[]) => events.reduce((sum, event) => sum + (event.data as { calls: number }).calls, 0);

  it('records each organization’s calls of a window as one event, in that organization, and nothing for a quiet window', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const meter = new ApiUsageMeter(stores.store, silentLogger, 60_000);
    for (let i = 0; i < 5; i++) meter.count(a);
    meter.count(b);
    await meter.flush();
    await meter.flush();
    meter.count(a);
    await meter.stop();
    const ofA = await recorded(a);
    expect(ofA.map((event) => (event.data as { calls: number }).calls)).to.deep.equal([5, 1]);
    expect(ofA[0]!.metadata.actor).to.deep.equal({ type: 'system', id: 'api-usage-meter' });
    const [window] = ofA;
    expect(Date.parse((window!.data as { to: string }).to)).to.be.at.least(Date.parse((window!.data as { from: string }).from));
    expect(callsOf(await recorded(b))).to.equal(1);
  });

  it('never counts a window twice when an append committed but its answer was lost, and keeps a window that failed', async () => {
    const organizationId = randomUUID();
    let fail: 'after-commit' | 'before-commit' | null = 'after-commit';
    // The real store, with the connection "dropping" around one append: the kind of failure a retry meets.
    const flaky: EventStreams = {
      readStream: (streamId, options) => stores.store.readStream(streamId, options),
      append: (streamId, events, expected) => stores.store.append(streamId, events, expected),
      async appendAtomically(appends) {
        const mode = fail;
        fail = null;
        if (mode === 'before-commit') throw new Error('connection terminated');
        const result = await stores.store.appendAtomically(appends);
        if (mode === 'after-commit') throw new Error('connection terminated');
        return result;
      },
    };
    const meter = new ApiUsageMeter(flaky, silentLogger, 60_000);
    for (let i = 0; i < 7; i++) meter.count(organizationId);
    await meter.flush().then(
      () => expect.fail('the first flush should fail'),
      (err: Error) => expect(err.message).to.equal('connection terminated'),
    );
    await meter.flush();
    expect(callsOf(await recorded(organizationId)), 'the committed window counted once').to.equal(7);

    fail = 'before-commit';
    meter.count(organizationId);
    meter.count(organizationId);
    await meter.flush().catch(() => undefined);
    expect(callsOf(await recorded(organizationId))).to.equal(7);
    meter.count(organizationId);
    await meter.stop();
    expect(
      (await recorded(organizationId)).map((event) => (event.data as { calls: number }).calls),
      'the failed window, then the last one',
    ).to.deep.equal([7, 2, 1]);
  });
});
