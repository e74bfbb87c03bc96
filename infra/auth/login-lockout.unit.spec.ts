import { expect } from 'chai';
import { InProcessEphemeralStore } from '../ephemeral/in-process-ephemeral-store.ts';
import { LoginLockout } from './login-lockout.ts';

describe('Login lockout', () => {
  let now = 0;
  const store = new InProcessEphemeralStore(() => now);
  const lockout = new LoginLockout(store, { maxFailures: 3, baseLockMs: 1_000, maxLockMs: 5_000, failureWindowMs: 60_000 });
  after(() => store.close());

  it('locks after the allowed failures, for a growing interval with a ceiling, and a success forgets', async () => {
    const email = 'ada@example.com';
    await lockout.recordFailure(email);
    await lockout.recordFailure(email);
    expect(await lockout.lockedForMs(email)).to.equal(0);
    await lockout.recordFailure(email);
    expect(await lockout.lockedForMs(email)).to.equal(1_000);
    now += 1_000;
    expect(await lockout.lockedForMs(email)).to.equal(0);
    await lockout.recordFailure(email);
    expect(await lockout.lockedForMs(email)).to.equal(2_000);
    now += 2_000;
    await lockout.recordFailure(email);
    expect(await lockout.lockedForMs(email)).to.equal(4_000);
    now += 4_000;
    await lockout.recordFailure(email);
    expect(await lockout.lockedForMs(email), 'capped').to.equal(5_000);
    now += 5_000;
    await lockout.recordSuccess(email);
    await lockout.recordFailure(email);
    expect(await lockout.lockedForMs(email), 'counting starts again after a success').to.equal(0);
  });

  it('counts emails case-insensitively and separately', async () => {
    for (let i = 0; i < 3; i++) await lockout.recordFailure('Grace@Example.com');
    expect(await lockout.lockedForMs('grace@example.com')).to.be.greaterThan(0);
    expect(await lockout.lockedForMs('someone@example.com')).to.equal(0);
  });
});
