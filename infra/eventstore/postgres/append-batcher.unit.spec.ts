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

/**
 * A batcher whose batches are written when the test says so, recording what went in each (a speculative
 * request marked with a trailing '?'). finish[i](ids) ends batch i, handing back the requests named.
 */
function controlledBatcher(withDependencies: boolean) {
  const batches: string[][] = [];
  const finish: ((handBack?: string[]) => void)[] = [];
  const batcher = new AppendBatcher<Request, string>(
    (batch: PendingAppend<Request, string>[]) => {
      batches.push(batch.map((entry) => entry.request.id + (entry.speculative ? '?' : '')));
      return new Promise<PendingAppend<Request, string>[]>((resolve) =>
        finish.push((handBack = []) => {
          const back = batch.filter((entry) => handBack.includes(entry.request.id));
          for (const entry of batch) if (!back.includes(entry)) entry.resolve(entry.request.id);
          resolve(back);
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

/** Submits each request (of size 1), in order. */
function submitAll(batcher: AppendBatcher<Request, string>, requests: Request[]): Promise<string>[] {
  return requests.map((request) => batcher.submit(request, 1));
}

async function batchesSent(batches: string[][], n: number): Promise<void> {
  await eventually(
    async () => batches.length,
    (sent) => sent === n,
    2_000,
  );
}

describe('AppendBatcher (group commit)', () => {
  it('puts a request beside the batch in flight that writes what it builds on only as speculative, and those building on it too', async () => {
    const { batcher, batches, finish } = controlledBatcher(true);
    const written = submitAll(batcher, [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c' }, { id: 'd', needs: ['b'] }, { id: 'e', needs: ['c'] }]);
    // 'a' went alone (the batcher was idle); beside it everything else, in order, 'b' and 'd' as speculative.
    await batchesSent(batches, 2);
    expect(batches).to.deep.equal([['a'], ['b?', 'c', 'd?', 'e']]);
    finish[0]!();
    finish[1]!();
    expect(await Promise.all(written)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
  });

  it('sends what was handed back again at the head of the queue, once what it builds on is written, and not as speculative', async () => {
    const { batcher, batches, finish } = controlledBatcher(true);
    const written = submitAll(batcher, [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c' }, { id: 'd', needs: ['b'] }]);
    await batchesSent(batches, 2);
    expect(batches[1]).to.deep.equal(['b?', 'c', 'd?']);
    // The second batch went first: 'b' (and 'd' on it) were not yet stored. Meanwhile more arrive.
    const later = submitAll(batcher, [{ id: 'f', needs: ['d'] }, { id: 'g' }]);
    finish[1]!(['b', 'd']);
    // Beside 'a', still in flight: only 'g'. 'b' and 'd' wait for 'a', and 'f' waits behind 'd'.
    await batchesSent(batches, 3);
    expect(batches[2]).to.deep.equal(['g']);
    finish[2]!();
    finish[0]!();
    await batchesSent(batches, 4);
    expect(batches[3]).to.deep.equal(['b', 'd', 'f']);
    finish[3]!();
    expect(await Promise.all([...written, ...later])).to.deep.equal(['a', 'b', 'c', 'd', 'f', 'g']);
    await batcher.flushed();
  });

  it('without dependencies, a second batch takes everything queued beside the one in flight', async () => {
    const { batcher, batches, finish } = controlledBatcher(false);
    const written = submitAll(batcher, [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c' }]);
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

  it('sends a chain beside the batch it builds on, in order, as speculative', async () => {
    const { batcher, batches, finish } = controlledBatcher(true);
    const written = submitAll(batcher, [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }]);
    await batchesSent(batches, 2);
    expect(batches).to.deep.equal([['a'], ['b?', 'c?']]);
    finish[0]!();
    finish[1]!();
    expect(await Promise.all(written)).to.deep.equal(['a', 'b', 'c']);
    await batcher.flushed();
  });
});
