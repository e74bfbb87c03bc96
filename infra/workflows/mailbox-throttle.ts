import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';

export interface MailboxLimits {
  perMinute: number;
  perDay: number;
}

/**
 * Sends per mailbox per minute and per day, toward what email providers tolerate. A send over a limit is
 * not refused: the caller waits until the window that is full has passed (the execution waits, it never
 * fails). Counted in the ephemeral store, so every runner process shares the count: both windows in one
 * round trip, and a send refused by one window counts in neither.
 */
export class MailboxThrottle {
  constructor(
    private readonly store: EphemeralStore,
    private readonly limits: MailboxLimits,
  ) {}

  /** Takes a slot now, or says when to try again. */
  async reserve(mailbox: string, now: Date): Promise<{ ok: true } | { ok: false; retryAt: Date }> {
    const minute = Math.floor(now.getTime() / 60_000);
    const day = Math.floor(now.getTime() / 86_400_000);
    const full = await this.store.takeSlots([
      { key: `mailbox:${mailbox.toLowerCase()}:m:${minute}`, ttlMs: 120_000, limit: this.limits.perMinute },
      { key: `mailbox:${mailbox.toLowerCase()}:d:${day}`, ttlMs: 2 * 86_400_000, limit: this.limits.perDay },
    ]);
    if (full === 0) return { ok: false, retryAt: new Date((minute + 1) * 60_000) };
    if (full === 1) return { ok: false, retryAt: new Date((day + 1) * 86_400_000) };
    return { ok: true };
  }
}
