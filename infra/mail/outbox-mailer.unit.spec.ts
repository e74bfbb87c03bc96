import { expect } from 'chai';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { OutboxMailer, readOutbox } from './outbox-mailer.ts';

describe('The outbox mailer (the default mail transport: one file per message)', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const email = (idempotencyKey?: string) => ({
    to: 'ada@example.com',
    subject: 'Hello Ada',
    text: 'Hi',
    template: 'workflow_email',
    ...(idempotencyKey ? { idempotencyKey } : {}),
  });

  it('writes a message once per idempotency key, readable by its owner only; a second send is a no-op', async () => {
    const outbox = new OutboxMailer(path.join(directory, 'outbox'), pino({ level: 'silent' }));
    await outbox.send(email('execution-1:hello:1'));
    await outbox.send({ ...email('execution-1:hello:1'), subject: 'Sent again' });
    await Promise.all([outbox.send(email('execution-2:hello:1')), outbox.send(email('execution-2:hello:1'))]);
    const stored = await readOutbox(path.join(directory, 'outbox'));
    expect(stored.map((message) => message.subject)).to.deep.equal(['Hello Ada', 'Hello Ada']);
    expect(new Set(stored.map((message) => message.idempotencyKey))).to.deep.equal(new Set(['execution-1:hello:1', 'execution-2:hello:1']));
    for (const message of stored) {
      const { mode } = await stat(path.join(directory, 'outbox', `key-${message.id}.json`));
      expect(mode & 0o777).to.equal(0o600);
    }
  });

  it('writes every message without a key, each in a file of its own', async () => {
    const outbox = new OutboxMailer(directory, pino({ level: 'silent' }));
    await Promise.all([outbox.send(email()), outbox.send(email()), outbox.send(email())]);
    const stored = await readOutbox(directory);
    expect(stored).to.have.length(3);
    expect(new Set(stored.map((message) => message.id)).size).to.equal(3);
  });
});
