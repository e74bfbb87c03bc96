import { createHash } from 'node:crypto';
import type { MailThrottle } from '../../command-api/auth/ports.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';

/** At most `perHour` emails to one address per hour, counted in the ephemeral store (shared by processes). */
export class EphemeralMailThrottle implements MailThrottle {
  constructor(
    private readonly store: EphemeralStore,
    private readonly perHour: number,
  ) {}

  async allow(address: string): Promise<boolean> {
    const key = `mail:sent:${createHash('sha256').update(address.toLowerCase()).digest('hex')}`;
    return (await this.store.increment(key, 60 * 60_000)) <= this.perHour;
  }
}
