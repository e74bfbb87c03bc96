import type { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import pino from 'pino';
import { eventually, testEvent } from '../test/support/events.ts';
import { compareDecimalPositions } from '../infra/eventstore/envelope.ts';
import { InMemoryEventStore } from '../infra/eventstore/in-memory/in-memory-event-store.ts';
import { InProcessNotifications } from '../infra/notifications/in-process-notifications.ts';
import { CHANNEL_CHECKPOINTS, CHANNEL_READ_WAITING } from '../infra/notifications/notifications.ts';
import { CheckpointWatcher } from '../infra/readmodels/checkpoint-watcher.ts';
import { ReadModelPace, WorkflowBacklog } from './backlog.ts';
import { subscribeToAll } from './subscription.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));
const settled = (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(() => (done = true));
  return () => done;
};

describe('WorkflowBacklog: background work yields only to a runner that stays behind', () => {
  it('is active once every claim for the onset filled every slot, and ends with the first claim that did not', () => {
    let now = 0;
    const backlog = new WorkflowBacklog(1_000, () => now);
    expect(backlog.active).to.equal(false);
    backlog.set(true);
    now = 999;
    backlog.set(true);
    expect(backlog.active, 'a short spell changes nothing').to.equal(false);
    now = 1_000;
    expect(backlog.active).to.equal(true);
    backlog.set(false);
    expect(backlog.active).to.equal(false);
    backlog.set(true);
    now = 1_500;
    expect(backlog.active, 'the onset counts again from the new spell').to.equal(false);
  });

  it('tells those waiting for the spell to end when it ends, and answers at once when there is none', async () => {
    let now = 0;
    const backlog = new WorkflowBacklog(1_000, () => now);
    const stop = new AbortController();
    await backlog.ended(stop.signal); // no spell: at once
    backlog.set(true);
    now = 2_000;
    const ended = settled(backlog.ended(stop.signal));
    backlog.set(true);
    await turn();
    expect(ended()).to.equal(false);
    backlog.set(false);
    await turn();
    expect(ended()).to.equal(true);
  });
});

describe('ReadModelPace: read models trail a backlogged runner, but not for a waiting reader', () => {
  const setUp = () => {
    let now = 0;
    const backlog = new WorkflowBacklog(1_000, () => now);
    // Wall-clock time of the events, in ms since the epoch, moves with `now`.
    const pace = new ReadModelPace(
      backlog,
      10_000,
      2_000,
      () => now,
      () => now,
    );
    const recorded = (ms: number) => new Date(ms).toISOString();
    return { backlog, pace, recorded, at: (ms: number) => (now = ms) };
  };

  it('holds nothing without a spell; during one, a batch until its oldest event is the hold old, or the spell ends', async () => {
    const { backlog, pace, recorded, at } = setUp();
    const stop = new AbortController();
    await pace.hold('contacts', recorded(0), stop.signal); // no spell: at once
    backlog.set(true);
    at(1_000);
    await pace.hold('contacts', recorded(-9_500), stop.signal); // already older than the hold: at once
    const held = settled(pace.hold('contacts', recorded(1_000), stop.signal));
    await turn();
    expect(held()).to.equal(false);
    backlog.set(false);
    await turn();
    expect(held(), 'the hold ends with the spell').to.equal(true);
  });

  it('lets the read model a reader waits on go at once and not hold it a while; the others hold', async () => {
    const { backlog, pace, recorded, at } = setUp();
    backlog.set(true);
    at(1_000);
    const stop = new AbortController();
    const contacts = settled(pace.hold('contacts', recorded(1_000), stop.signal));
    const audit = settled(pace.hold('audit-log', recorded(1_000), stop.signal));
    pace.hurry('contacts');
    await turn();
    expect([contacts(), audit()]).to.deep.equal([true, false]);
    await pace.hold('contacts', recorded(1_000), stop.signal); // hurried: not held
    at(3_001);
    const again = settled(pace.hold('contacts', recorded(3_001), stop.signal));
    await turn();
    expect(again(), 'the hurry lasts a while, then the hold applies again').to.equal(false);
    stop.abort();
    await turn();
    expect([audit(), again()], 'stopping ends every hold').to.deep.equal([true, true]);
  });

  it('holds a batch of a subscription: it is handled when the hold ends, not before', async () => {
    const { backlog, pace, at } = setUp();
    backlog.set(true);
    at(1_000);
    const store = new InMemoryEventStore();
    const received: string[] = [];
    const holds: AbortSignal[] = [];
    const subscription = subscribeToAll(store, {
      from: null,
      batchSize: 10,
      logger: pino({ level: 'silent' }),
      // The events are recorded now (real time), the pace's clock says 1 s: each batch would wait the whole hold.
      holdBatch: (oldest, signal) => {
        holds.push(signal);
        return pace.hold('contacts', oldest.recordedAt, signal);
      },
      handle: async (events) => {
        for (const event of events) received.push(event.type);
      },
    });
    try {
      await store.append('s-1', [testEvent('First')], 'no_stream');
      await eventually(
        () => holds.length,
        (n) => n === 1,
      );
      await turn();
      expect(received, 'held').to.deep.equal([]);
      pace.hurry('contacts');
      await eventually(
        () => received,
        (r) => r.length === 1,
      );
      expect(received).to.deep.equal(['First']);
    } finally {
      await subscription.stop();
    }
  });
});

describe('CheckpointWatcher: a read that waits a while says so to the projector processes', () => {
  const log = {
    comparePositions: compareDecimalPositions,
    isValidPosition: (value: string) => /^\d+$/.test(value),
    headPosition: async () => '20',
  };
  const orm = { em: { fork: () => ({ execute: async () => [] }) } } as unknown as MikroORM;

  it('announces the read models a lasting wait is on, once, and nothing for a wait already satisfied', async () => {
    const notifications = new InProcessNotifications();
    const heard: unknown[] = [];
    notifications.listen(CHANNEL_READ_WAITING, (payload) => heard.push(JSON.parse(payload)));
    const watcher = new CheckpointWatcher(orm, log, notifications, pino({ level: 'silent' }), 20);
    try {
      watcher.announce('contacts', '15');
      expect(await watcher.waitFor(['contacts'], '15', 5_000)).to.equal(true);
      const waiting = watcher.waitFor(['contacts', 'audit-log'], '16', 5_000);
      await eventually(
        () => heard,
        (h) => h.length === 1,
      );
      expect(heard).to.deep.equal([{ projections: ['contacts', 'audit-log'] }]);
      watcher.announce('contacts', '16');
      watcher.announce('audit-log', '16');
      expect(await waiting).to.equal(true);
      expect(heard, 'one announcement for the wait').to.have.length(1);
    } finally {
      watcher.close();
    }
  });

  it('tells who follows a read model whether a move committed a batch or only skipped other events (the runner wakes for commits)', () => {
    const notifications = new InProcessNotifications();
    const watcher = new CheckpointWatcher(orm, log, notifications, pino({ level: 'silent' }), 20);
    const moves: [string, string, boolean][] = [];
    const stop = watcher.onAdvance((projection, position, committed) => moves.push([projection, position, committed]));
    try {
      watcher.announce('executions', '3');
      watcher.announce('executions', '4', false);
      // From another process: a batch's commit, then the skips of several projections at once.
      void notifications.notify(CHANNEL_CHECKPOINTS, JSON.stringify({ projection: 'executions', position: '5' }));
      void notifications.notify(CHANNEL_CHECKPOINTS, JSON.stringify({ positions: { executions: '6', audit: '6' } }));
      // A position it knows already tells nobody.
      watcher.announce('executions', '6');
      expect(moves).to.deep.equal([
        ['executions', '3', true],
        ['executions', '4', false],
        ['executions', '5', true],
        ['executions', '6', false],
        ['audit', '6', false],
      ]);
    } finally {
      stop();
      watcher.close();
    }
  });
});
