import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { organizationDecider, organizationStream, type Organization, type OrganizationEvent } from '../../domain/organizations/organization.ts';
import type { SuspensionCheck } from '../../infra/http/routes.ts';
import type { Notifications } from '../../infra/notifications/notifications.ts';
import type { CommandHandler } from '../command-handling.ts';

export const CHANNEL_ORGANIZATION_STATUS = 'nf_organization_status';

/**
 * Whether an organization is suspended, for the check every write makes. Read from the organization's
 * stream (the source of truth) and kept briefly; a suspension or reactivation is announced to every process
 * (PostgreSQL NOTIFY, or in-process on the embedded default), which drops its copy at once. The time to
 * live only bounds how stale a copy can get if an announcement is lost.
 */
export class OrganizationStatusCache implements SuspensionCheck {
  private readonly cache: LRUCache<string, { suspended: boolean }>;
  private readonly unlisten: () => void;

  constructor(
    private readonly handler: CommandHandler,
    private readonly notifications: Notifications,
    private readonly logger: Logger,
    ttlMs: number,
  ) {
    this.cache = new LRUCache({ max: 50_000, ttl: ttlMs });
    this.unlisten = notifications.listen(CHANNEL_ORGANIZATION_STATUS, (organizationId) => {
      // An empty payload (the listener reconnected and may have missed some): forget everything.
      if (organizationId) this.cache.delete(organizationId);
      else this.cache.clear();
    });
  }

  async isSuspended(organizationId: string): Promise<boolean> {
    const known = this.cache.get(organizationId);
    if (known) return known.suspended;
    const { state } = await this.handler.load<Organization, OrganizationEvent>(organizationStream(organizationId), organizationDecider);
    const suspended = state.status === 'suspended';
    this.cache.set(organizationId, { suspended });
    return suspended;
  }

  async changed(organizationId: string): Promise<void> {
    this.cache.delete(organizationId);
    await this.notifications
      .notify(CHANNEL_ORGANIZATION_STATUS, organizationId)
      .catch((err: unknown) =>
        this.logger.warn({ err, organizationId }, 'could not announce an organization status change; other processes see it within the cache TTL'),
      );
  }

  close(): void {
    this.unlisten();
  }
}
