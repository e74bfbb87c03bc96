import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';

export interface LoginLockoutPolicy {
  /** Failed attempts allowed before the first lock. */
  maxFailures: number;
  /** Length of the first lock; each further failure doubles it, up to maxLockMs. */
  baseLockMs: number;
  maxLockMs: number;
  /** How long failures are remembered (a success forgets them at once). */
  failureWindowMs: number;
}

export const defaultLoginLockoutPolicy: LoginLockoutPolicy = {
  maxFailures: 5,
  baseLockMs: 30_000,
  maxLockMs: 60 * 60_000,
  failureWindowMs: 24 * 60 * 60_000,
};

/**
 * Brute-force protection for password sign-in, per login email (and for second factors, per user). Emails
 * that have no account are counted and locked exactly like real ones, so a lock never tells whether an
 * account exists.
 *
 * An attempt is counted before its secret is checked, in the same round trip that reads the lock
 * (`begin`): concurrent guesses cannot all pass a "not locked yet" test and be checked. The attempt that
 * reaches the limit takes the lock itself before its check runs (set-if-absent), so while it is being
 * checked every other attempt is refused without a check; if it fails the lock stays. Each lock lasts twice
 * the one before (counted apart, so attempts refused while locked do not lengthen it), up to a ceiling. A
 * success (or a reset, or a completed two-factor sign-in) clears it all.
 */
export class LoginLockout {
  constructor(
    private readonly store: EphemeralStore,
    private readonly policy: LoginLockoutPolicy = defaultLoginLockoutPolicy,
  ) {}

  /** Counts an attempt about to be checked: 0 to go ahead (its failure is already counted), or ms locked. */
  async begin(key: string): Promise<number> {
    const lockKey = this.lockKey(key);
    const [attempts, lock] = await this.store.incrementAndPeek(this.failuresKey(key), this.policy.failureWindowMs, lockKey);
    if (lock === null) {
      if (attempts < this.policy.maxFailures) return 0;
      // This attempt may be the one that reaches the limit: it locks first, and is checked under its lock.
      if (await this.store.set(lockKey, 'checking', this.policy.baseLockMs, { onlyIfAbsent: true })) {
        const level = await this.store.increment(this.levelKey(key), this.policy.failureWindowMs);
        await this.store.set(lockKey, String(level), this.lockMs(level));
        return 0;
      }
    }
    return Math.max(1, (await this.store.ttl(lockKey)) ?? 1);
  }

  /** Forgets the failures and lifts the lock. */
  async clear(key: string): Promise<void> {
    await Promise.all([this.store.delete(this.failuresKey(key)), this.store.delete(this.lockKey(key)), this.store.delete(this.levelKey(key))]);
  }

  /** Milliseconds the key stays locked (0: not locked). For callers that check first and record after. */
  async lockedForMs(key: string): Promise<number> {
    return (await this.store.ttl(this.lockKey(key))) ?? 0;
  }

  /**
   * Check-then-record (the staff console's sign-in still works this way): concurrent failures may all be
   * checked before the lock exists. Prefer begin().
   */
  async recordFailure(key: string): Promise<void> {
    const failures = await this.store.increment(this.failuresKey(key), this.policy.failureWindowMs);
    if (failures < this.policy.maxFailures) return;
    await this.store.set(this.lockKey(key), String(failures), this.lockMs(failures - this.policy.maxFailures + 1));
  }

  async recordSuccess(key: string): Promise<void> {
    await this.clear(key);
  }

  /** The first lock lasts the base interval, each further one twice the one before, up to the ceiling. */
  private lockMs(level: number): number {
    return Math.min(this.policy.baseLockMs * 2 ** Math.min(Math.max(0, level - 1), 30), this.policy.maxLockMs);
  }

  /** How many locks were taken since the last success (their lengths double). */
  private levelKey(key: string): string {
    return `login:locks:${key.toLowerCase()}`;
  }

  private failuresKey(key: string): string {
    return `login:failures:${key.toLowerCase()}`;
  }

  private lockKey(key: string): string {
    return `login:lock:${key.toLowerCase()}`;
  }
}
