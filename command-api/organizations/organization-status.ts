import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import {
  billingAccountDecider,
  billingAccountStream,
  billingPeriodAt,
  restrictionStart,
  type SubscriptionSnapshot,
} from '../../domain/billing/billing-account.ts';
import { organizationDecider, organizationStream, type Organization, type OrganizationEvent } from '../../domain/organizations/organization.ts';
import type { SuspensionCheck } from '../../infra/http/routes.ts';
import type { Notifications } from '../../infra/notifications/notifications.ts';
import type { CommandHandler } from '../command-handling.ts';

export const CHANNEL_ORGANIZATION_STATUS = 'nf_organization_status';

type Status = {
  suspended: boolean;
  restriction: { at: number; since: string; reason: string } | null;
  planId: string | null;
  /** Whether the AI service serves the organization (true for one that does not exist: nothing to refuse). */
  aiEnabled: boolean;
  /** What the billing period is computed from (billingPeriodAt), at the time of the write. */
  billing: { subscription: SubscriptionSnapshot | null; timezone: string };
  /** The billing period last asked for, while it lasts. */
  period?: { start: Date; end: Date };
};

/**
 * Whether an organization is suspended, for the check every write makes, and what is kept with it (its plan,
 * its billing period, whether the AI service serves it). Read from the organization's stream (the source of
 * truth) and kept briefly; a suspension, reactivation or change of the AI setting is announced to every
 * process (PostgreSQL NOTIFY, or in-process on the embedded default), which drops its copy at once. The time
 * to live only bounds how stale a copy can get if an announcement is lost.
 */
export class OrganizationStatusCache implements SuspensionCheck {
  private readonly cache: LRUCache<string, Status>;
  private readonly unlisten: () => void;

  constructor(
    private readonly handler: CommandHandler,
    private readonly notifications: Notifications,
    private readonly logger: Logger,
    ttlMs: number,
    /** BILLING_GRACE_DAYS: how long after a trial or subscription ended unpaid writes are still allowed. */
    private readonly graceDays = 7,
  ) {
    this.cache = new LRUCache({ max: 50_000, ttl: ttlMs });
    this.unlisten = notifications.listen(CHANNEL_ORGANIZATION_STATUS, (organizationId) => {
      // An empty payload (the listener reconnected and may have missed some): forget everything.
      if (organizationId) this.cache.delete(organizationId);
      else this.cache.clear();
    });
  }

  async isSuspended(organizationId: string): Promise<boolean> {
    return (await this.status(organizationId)).suspended;
  }

  /**
   * Billing's restriction, evaluated at the time of the write from the organization's and its billing account's
   * streams (restrictionStart): a grace or trial that runs out while the copy is kept restricts on time.
   */
  async restriction(organizationId: string): Promise<{ since: string; reason: string } | null> {
    const { restriction } = await this.status(organizationId);
    if (restriction === null || Date.now() < restriction.at) return null;
    return { since: restriction.since, reason: restriction.reason };
  }

  /** The catalog plan the organization is on (null: none, as in a trial), kept and dropped with its status. */
  async planOf(organizationId: string): Promise<string | null> {
    return (await this.status(organizationId)).planId;
  }

  /**
   * Whether the organization has the AI service on (AiSettingsChanged; on unless its managers turned it off),
   * kept and dropped with its status: a change is announced by OrganizationCommands.changeAiSettings.
   */
  async aiEnabled(organizationId: string): Promise<boolean> {
    return (await this.status(organizationId)).aiEnabled;
  }

  /** The billing period `now` falls in (the subscription's, else the calendar month in the organization's zone). */
  async periodOf(organizationId: string, now: Date): Promise<{ start: Date; end: Date }> {
    const status = await this.status(organizationId);
    // The last answer holds until its end (computing it reads the time zone, a measurable cost per AI request).
    const known = status.period;
    if (known && now >= known.start && now < known.end) return known;
    const period = billingPeriodAt(status.billing.subscription, status.billing.timezone, now);
    status.period = period;
    return period;
  }

  private async status(organizationId: string): Promise<Status> {
    const known = this.cache.get(organizationId);
    if (known) return known;
    const [{ state }, billing] = await Promise.all([
      this.handler.load<Organization, OrganizationEvent>(organizationStream(organizationId), organizationDecider),
      this.handler.load(billingAccountStream(organizationId), billingAccountDecider),
    ]);
    const existing = state.status === 'absent' ? null : state;
    // Comped: on a plan staff gave without ever subscribing (nothing is owed).
    const comped = existing !== null && existing.planId !== null && billing.state.subscription === null;
    const start = existing ? restrictionStart(billing.state, { trialEndsAt: existing.trialEndsAt, comped }, this.graceDays) : null;
    const status = {
      suspended: state.status === 'suspended',
      restriction: start ? { at: Date.parse(start.at), since: start.at, reason: start.reason } : null,
      planId: existing?.planId ?? null,
      aiEnabled: existing?.aiEnabled ?? true,
      billing: { subscription: billing.state.subscription, timezone: existing?.timezone ?? 'UTC' },
    };
    this.cache.set(organizationId, status);
    return status;
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
