import type { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import pino from 'pino';
import { compareDecimalPositions } from '../../infra/eventstore/envelope.ts';
import { InProcessNotifications } from '../../infra/notifications/in-process-notifications.ts';
import { CHANNEL_CHECKPOINTS } from '../../infra/notifications/notifications.ts';
import { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import { SkipAnnouncements } from './skip-announcements.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('skip announcements: checkpoints moved by skipping, told to other processes together', () => {
  it('sends the newest position of every projection that skipped in one notification, and what comes meanwhile in one more', async () => {
    const sent: string[] = [];
    let release!: () => void;
    const announcements = new SkipAnnouncements(
      (payload) => {
        sent.push(payload);
        return new Promise<void>((resolve) => (release = resolve));
      },
      () => undefined,
    );
    announcements.add('users', '10');
    announcements.add('staff', '10');
    announcements.add('users', '12');
    await turn();
    expect(sent.map((payload) => JSON.parse(payload))).to.deep.equal([{ positions: { users: '12', staff: '10' } }]);
    // While that one is in flight: gathered, and sent once it is done.
    announcements.add('plans', '13');
    announcements.add('users', '14');
    await turn();
    expect(sent).to.have.length(1);
    release();
    await turn();
    await turn();
    expect(sent.map((payload) => JSON.parse(payload))).to.deep.equal([
      { positions: { users: '12', staff: '10' } },
      { positions: { plans: '13', users: '14' } },
    ]);
  });

  it("are heard by another process's checkpoint watcher: read-your-writes on a projection that skipped answers", async () => {
    const notifications = new InProcessNotifications();
    const log = {
      comparePositions: compareDecimalPositions,
      isValidPosition: (value: string) => /^\d+$/.test(value),
      headPosition: async () => '20',
    };
    // The table is read only as a safety net; here it says nothing.
    const orm = { em: { fork: () => ({ execute: async () => [] }) } } as unknown as MikroORM;
    const watcher = new CheckpointWatcher(orm, log, notifications, pino({ level: 'silent' }));
    try {
      const waiting = watcher.waitFor(['users', 'staff'], '15', 2_000);
      const announcements = new SkipAnnouncements(
        (payload) => notifications.notify(CHANNEL_CHECKPOINTS, payload),
        () => undefined,
      );
      announcements.add('users', '16');
      announcements.add('staff', '15');
      expect(await waiting).to.equal(true);
      // One projection's commit, as the runner announces it, is still understood.
      await notifications.notify(CHANNEL_CHECKPOINTS, JSON.stringify({ projection: 'plans', position: '17' }));
      expect(await watcher.waitFor(['plans'], '17', 0)).to.equal(true);
    } finally {
      watcher.close();
    }
  });
});
