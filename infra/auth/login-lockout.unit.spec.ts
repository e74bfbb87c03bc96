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

describe('Login lockout: attempts counted before they are checked', () => {
  let now = 0;
  const store = new InProcessEphemeralStore(() => now);
  const policy = { maxFailures: 3, baseLockMs: 1_000, maxLockMs: 5_000, failureWindowMs: 60_000 };
  const lockout = new LoginLockout(store, policy);
  after(() => store.close());

  it('lets at most the allowed number of concurrent attempts be checked, and refuses the rest while locked', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => lockout.begin('race@example.com')));
    expect(answers.filter((ms) => ms === 0)).to.have.length(policy.maxFailures);
    expect(answers.filter((ms) => ms > 0).every((ms) => ms <= policy.baseLockMs)).to.equal(true);
    expect(await lockout.begin('race@example.com'), 'still locked').to.equal(1_000);
  });

  it('doubles each lock up to the ceiling, not lengthened by refused attempts; clear() lifts it at once', async () => {
    const email = 'slow@example.com';
    for (let i = 0; i < policy.maxFailures; i++) expect(await lockout.begin(email), `attempt ${i + 1}`).to.equal(0);
    for (let i = 0; i < 10; i++) expect(await lockout.begin(email), 'refused while locked').to.equal(1_000);
    const lengths: number[] = [];
    for (let lock = 0; lock < 4; lock++) {
      now += 5_000;
      expect(await lockout.begin(email), 'the lock ran out: one more check').to.equal(0);
      lengths.push(await lockout.begin(email));
    }
    expect(lengths).to.deep.equal([2_000, 4_000, 5_000, 5_000]);

    await lockout.clear(email);
    for (let i = 0; i < policy.maxFailures; i++) expect(await lockout.begin(email), 'counting starts again').to.equal(0);
    expect(await lockout.begin(email), 'the first lock again').to.equal(1_000);
  });

  it('shares nothing between keys', async () => {
    for (let i = 0; i < 5; i++) await lockout.begin('one@example.com');
    expect(await lockout.begin('two@example.com')).to.equal(0);
  });
});
