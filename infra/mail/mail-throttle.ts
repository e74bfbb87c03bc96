import { hash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Mailer, OutgoingEmail } from '../../command-api/ports.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';

/**
 * At most `perHour` emails to one address per hour (counted in the ephemeral store, shared by processes),
 * so nobody can flood a mailbox through our forms (sign-up, reset, invitation). Past the limit the email is
 * dropped with a warning: the record is the event, and a person can ask again later.
 */
export class ThrottledMailer implements Mailer {
  constructor(
    private readonly inner: Mailer,
    private readonly store: EphemeralStore,
    private readonly perHour: number,
    private readonly logger: Logger,
  ) {}

  async send(email: OutgoingEmail): Promise<void> {
    const key = `mail:sent:${hash('sha256', email.to.toLowerCase(), 'hex')}`;
    if ((await this.store.increment(key, 60 * 60_000)) > this.perHour) {
      this.logger.warn({ template: email.template }, 'email not sent: too many to this address this hour');
      return;
    }
    await this.inner.send(email);
  }
}
