import type { RecentRotations } from '../../command-api/auth/ports.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import { sleep } from '../resilience.ts';
import { backoffDelayMs, retryPolicies } from '../retry.ts';
import type { DataProtection } from './data-protection.ts';
import { sha256 } from './secret-tokens.ts';

const PURPOSE = 'refresh-rotation';

/**
 * The answers of recent refreshes, for the reuse grace: sealed with AES-256-GCM (a dump of the ephemeral
 * store shows no usable token), keyed by the SHA-256 of the refresh token presented, kept only for the grace
 * (plus the longest a presentation that arrived within it may wait for a concurrent first use to keep its
 * answer). Nothing here is a record: losing it costs a client one refused refresh, never a session.
 */
export class SealedRecentRotations implements RecentRotations {
  constructor(
    private readonly store: EphemeralStore,
    private readonly box: Pick<DataProtection, 'encrypt' | 'decrypt'>,
    readonly graceMs: number,
    /** How long a presentation within the grace waits for the first use's answer to appear. */
    private readonly waitMs = 5_000,
  ) {}

  async remember(presentedToken: string, answer: object): Promise<void> {
    if (this.graceMs <= 0) return;
    const digest = sha256(presentedToken);
    const sealed = this.box.encrypt(JSON.stringify({ digest, answer }), PURPOSE);
    await this.store.set(this.key(digest), sealed, this.graceMs + this.waitMs);
  }

  async recall(presentedToken: string): Promise<object | null> {
    if (this.graceMs <= 0) return null;
    const digest = sha256(presentedToken);
    const deadline = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      const sealed = await this.store.get(this.key(digest));
      if (sealed !== null) {
        let kept: { digest: string; answer: object };
        try {
          kept = JSON.parse(this.box.decrypt(sealed, PURPOSE)) as typeof kept;
        } catch {
          return null; // sealed with another key (rotated since): as if lost
        }
        // Bound to the token it answered: a value moved under another key is not served.
        return kept.digest === digest ? kept.answer : null;
      }
      // The first use appends its rotation, then keeps its answer: a concurrent presentation that saw the
      // rotation may be a round trip ahead of it. Looked for again until the deadline (a poll, not a retry of
      // a failure: bounded by time, not by a count), paced by the shared backoff.
      if (Date.now() >= deadline) return null;
      await sleep(backoffDelayMs(retryPolicies.concurrentAnswer, attempt + 1));
    }
  }

  private key(digest: string): string {
    return `refresh:rotated:${digest}`;
  }
}
