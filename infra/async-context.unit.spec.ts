import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { releaseAsyncContextWhenIdle } from './async-context.ts';

describe('AsyncLocalStorage released when idle (processes pay promise hooks only while a store is in use)', () => {
  let uninstall: () => void;
  beforeEach(() => {
    uninstall = releaseAsyncContextWhenIdle();
  });
  afterEach(() => uninstall());

  it('keeps each run its store while runs of the same instance overlap, nested or concurrent', async () => {
    const storage = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    let finishLong!: () => void;
    const long = storage.run('long', async () => {
      await new Promise<void>((resolve) => (finishLong = resolve));
      seen.push(storage.getStore());
      await storage.run('nested', async () => {
        await Promise.resolve();
        seen.push(storage.getStore());
      });
      seen.push(storage.getStore());
    });
    // A short run starts and ends while the long one waits: the long one still has its store afterwards.
    await storage.run('short', async () => {
      await Promise.resolve();
      seen.push(storage.getStore());
    });
    finishLong();
    await long;
    expect(seen).to.deep.equal(['short', 'long', 'nested', 'long']);
  });

  it('answers what the callback answers, and its failure, synchronous or not', async () => {
    const storage = new AsyncLocalStorage<number>();
    expect(storage.run(1, () => storage.getStore())).to.equal(1);
    expect(await storage.run(2, async () => storage.getStore())).to.equal(2);
    expect(() =>
      storage.run(3, () => {
        throw new Error('sync failure');
      }),
    ).to.throw('sync failure');
    const failure = await storage.run(4, () => Promise.reject(new Error('async failure'))).catch((err: Error) => err.message);
    expect(failure).to.equal('async failure');
    // Still usable after all of them.
    expect(await storage.run(5, async () => storage.getStore())).to.equal(5);
  });

  it('disables the instance once its last run has ended, and enables it again at the next run', async () => {
    const storage = new AsyncLocalStorage<string>();
    // A function bound inside the run keeps seeing the store while the instance is enabled.
    const later = await storage.run('first', async () => {
      await sleep(1);
      return AsyncLocalStorage.snapshot();
    });
    expect(later(() => storage.getStore())).to.equal(undefined);
    expect(await storage.run('second', async () => storage.getStore())).to.equal('second');
  });

  it('turns the process’s promise hooks off again after an ORM-style flush (a fresh process)', () => {
    // In a fresh process: this one has had stores enabled by other specs. Promise continuations get their
    // own async id only while promise hooks are on.
    const script = `
      import { AsyncLocalStorage, executionAsyncId } from 'node:async_hooks';
      const { releaseAsyncContextWhenIdle } = await import(${JSON.stringify(new URL('./async-context.ts', import.meta.url).pathname)});
      const probe = () => Promise.resolve().then(() => executionAsyncId());
      const guard = new AsyncLocalStorage();
      const before = await probe();
      await guard.run(true, async () => { await probe(); });
      const withoutRelease = await probe();
      guard.disable();
      releaseAsyncContextWhenIdle();
      let inside;
      await guard.run(true, async () => { inside = await probe(); });
      const withRelease = await probe();
      console.log(JSON.stringify({ before, withoutRelease, inside, withRelease }));`;
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const { before, withoutRelease, inside, withRelease } = JSON.parse(output) as Record<string, number>;
    expect(before, 'no hooks at first').to.equal(0);
    expect(withoutRelease, 'Node leaves them on after a run').to.not.equal(0);
    expect(inside, 'on during a run').to.not.equal(0);
    expect(withRelease, 'off once the run has ended').to.equal(0);
  });
});
