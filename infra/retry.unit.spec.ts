import { expect } from 'chai';
import { backoffDelayMs, retrying, type RetryPolicy } from './retry.ts';

const immediately = (attempts: number): RetryPolicy => ({ attempts, initialDelayMs: 0, maxDelayMs: 0, jitter: false });

describe('Retry policies', () => {
  it('tries as many times as the policy says, then throws the last failure as thrown', async () => {
    let tries = 0;
    const thrown = await retrying(immediately(4), async (attempt) => {
      tries++;
      throw new Error(`failure ${attempt}`);
    }).catch((err: unknown) => err);
    expect(tries).to.equal(4);
    expect((thrown as Error).message).to.equal('failure 4');
  });

  it('stops at the first failure retryIf refuses, and tells onRetry of each retry only', async () => {
    const retried: number[] = [];
    const thrown = await retrying(
      immediately(10),
      async (attempt) => {
        throw attempt < 3 ? new RangeError('again') : new SyntaxError('final');
      },
      { retryIf: (err) => err instanceof RangeError, onRetry: (_err, attempt) => retried.push(attempt) },
    ).catch((err: unknown) => err);
    expect(thrown).to.be.instanceOf(SyntaxError);
    expect(retried).to.deep.equal([1, 2]);
  });

  it('retries a TypeError (a bug is worth a few tries) and gives back a thrown non-Error as it was', async () => {
    let tries = 0;
    const answer = await retrying(immediately(3), async () => {
      if (++tries < 3) throw new TypeError("Cannot read properties of undefined (reading 'x')");
      return 'done';
    });
    expect(answer).to.equal('done');
    const thrown = await retrying(immediately(2), async () => {
      throw 'not an error';
    }).catch((err: unknown) => err);
    expect(thrown).to.equal('not an error');
  });

  it('stops the pause and the tries when the signal aborts (a pause of an hour would otherwise hold the test)', async () => {
    const controller = new AbortController();
    let tries = 0;
    const outcome = await retrying(
      { attempts: Infinity, initialDelayMs: 3_600_000, maxDelayMs: 3_600_000, jitter: false },
      async () => {
        tries++;
        throw new Error('down');
      },
      { signal: controller.signal, onRetry: () => controller.abort(new Error('stopping')) },
    ).catch((err: unknown) => err);
    expect(tries).to.equal(1);
    expect((outcome as Error).message).to.equal('stopping');
  });

  it('computes a scheduled retry with the same formula: doubling from the initial delay, capped, jitter in [1, 2)', () => {
    const plain = { initialDelayMs: 100, maxDelayMs: 1_000, jitter: false };
    expect([1, 2, 3, 4, 5, 6].map((retry) => backoffDelayMs(plain, retry))).to.deep.equal([100, 200, 400, 800, 1_000, 1_000]);
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelayMs({ ...plain, jitter: true }, 2);
      expect(delay).to.be.within(200, 400);
    }
  });
});
