import { expect } from 'chai';
import { randomBytesPooled } from './random-pool.ts';

describe('Pooled random bytes', () => {
  it('answers independent copies of the asked size, never repeating, across refills', () => {
    const seen = new Set<string>();
    const handedOut: Buffer[] = [];
    for (let i = 0; i < 3_000; i++) {
      const bytes = randomBytesPooled(i % 2 ? 12 : 32);
      expect(bytes.length).to.equal(i % 2 ? 12 : 32);
      seen.add(bytes.toString('hex'));
      handedOut.push(bytes);
    }
    expect(seen.size).to.equal(3_000);
    // Copies: later refills of the pool do not change what was handed out.
    const before = handedOut[0]!.toString('hex');
    for (let i = 0; i < 1_000; i++) randomBytesPooled(32);
    expect(handedOut[0]!.toString('hex')).to.equal(before);
    expect(randomBytesPooled(20_000).length).to.equal(20_000);
  });
});
