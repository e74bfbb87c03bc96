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
 * Brute-force protection for password sign-in, per login email. Emails that have no account are counted
 * and locked exactly like real ones, so a lock never tells whether an account exists.
 */
export class LoginLockout {
  constructor(
    private readonly store: EphemeralStore,
    private readonly policy: LoginLockoutPolicy = defaultLoginLockoutPolicy,
  ) {}

  /** Milliseconds the email stays locked (0: not locked). */
  async lockedForMs(email: string): Promise<number> {
    return (await this.store.ttl(this.lockKey(email))) ?? 0;
  }

  async recordFailure(email: string): Promise<void> {
    const failures = await this.store.increment(this.failuresKey(email), this.policy.failureWindowMs);
    if (failures < this.policy.maxFailures) return;
    const lockMs = Math.min(this.policy.baseLockMs * 2 ** (failures - this.policy.maxFailures), this.policy.maxLockMs);
    await this.store.set(this.lockKey(email), String(failures), lockMs);
  }

  async recordSuccess(email: string): Promise<void> {
    await this.store.delete(this.failuresKey(email));
  }

  private failuresKey(email: string): string {
    return `login:failures:${email.toLowerCase()}`;
  }

  private lockKey(email: string): string {
    return `login:lock:${email.toLowerCase()}`;
  }
}
