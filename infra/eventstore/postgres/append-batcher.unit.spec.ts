import { expect } from 'chai';
import { eventually } from '../../../test/support/events.ts';
import { AppendBatcher, type BatchDependencies, type PendingAppend } from './append-batcher.ts';

/** A request: its id, and the ids it builds on. */
interface Request {
  id: string;
  needs?: string[];
}

const dependencies: BatchDependencies<Request> = {
  needs: (request) => request.needs ?? [],
  provides: (request) => [request.id],
};

/** A batcher whose batches are written when the test says so, recording what went in each. */
function controlledBatcher(withDependencies: boolean) {
  const batches: string[][] = [];
  const finish: (() => void)[] = [];
  const batcher = new AppendBatcher<Request, string>(
    (batch: PendingAppend<Request, string>[]) => {
      batches.push(batch.map((entry) => entry.request.id));
      return new Promise<void>((resolve) =>
        finish.push(() => {
          for (const entry of batch) entry.resolve(entry.request.id);
          resolve();
        }),
      );
    },
    100,
    2,
    1,
    withDependencies ? dependencies : undefined,
  );
  return { batcher, batches, finish };
}

describe('AppendBatcher (group commit)', () => {
  it('never puts a request beside the batch in flight that writes what it builds on, nor one building on a request held back', async () => {
    const { batcher, batches, finish } = controlledBatcher(true);
    const written = [
      batcher.submit({ id: 'a' }, 1),
      batcher.submit({ id: 'b', needs: ['a'] }, 1),
      batcher.submit({ id: 'c' }, 1),
      batcher.submit({ id: 'd', needs: ['b'] }, 1),
      batcher.submit({ id: 'e', needs: ['c'] }, 1),
    ];
    // 'a' went alone (the batcher was idle); beside it, only what does not build on it: 'c', and 'e' after it.
    await eventually(
      async () => batches.length,
      (n) => n === 2,
      2_000,
    );
    expect(batches).to.deep.equal([['a'], ['c', 'e']]);
    finish[0]!();
    await eventually(
      async () => batches.length,
      (n) => n === 3,
      2_000,
    );
    expect(batches[2]).to.deep.equal(['b', 'd']);
    finish[1]!();
    finish[2]!();
    expect(await Promise.all(written)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
  });

  it('without dependencies, a second batch takes everything queued beside the one in flight', async () => {
    const { batcher, batches, finish } = controlledBatcher(false);
    const written = [batcher.submit({ id: 'a' }, 1), batcher.submit({ id: 'b', needs: ['a'] }, 1), batcher.submit({ id: 'c' }, 1)];
    await eventually(
      async () => batches.length,
      (n) => n === 2,
      2_000,
    );
    expect(batches).to.deep.equal([['a'], ['b', 'c']]);
    finish[0]!();
    finish[1]!();
    await Promise.all(written);
  });

  it('waits for the batch in flight when everything queued builds on it, then writes it in order', async () => {
    const { batcher, batches, finish } = controlledBatcher(true);
    const written = [batcher.submit({ id: 'a' }, 1), batcher.submit({ id: 'b', needs: ['a'] }, 1), batcher.submit({ id: 'c', needs: ['b'] }, 1)];
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).to.deep.equal([['a']]);
    finish[0]!();
    await eventually(
      async () => batches.length,
      (n) => n === 2,
      2_000,
    );
    expect(batches[1]).to.deep.equal(['b', 'c']);
    finish[1]!();
    expect(await Promise.all(written)).to.deep.equal(['a', 'b', 'c']);
    await batcher.flushed();
  });
});
