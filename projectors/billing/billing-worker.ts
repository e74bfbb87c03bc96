import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { BillingCommands } from '../../command-api/billing/billing-commands.ts';
import type { Mailer } from '../../command-api/ports.ts';
import type { CommandContext } from '../../domain/events.ts';
import { PeriodicPass } from '../../infra/periodic.ts';

export interface BillingWorkerOptions {
  /** Between two passes. */
  intervalMs: number;
  /** How long before a period ends a scheduled change is made at Stripe (the renewal then bills the new plan). */
  leadMs: number;
  /** Where the first reconciliation starts (Stripe retries a webhook for three days). */
  reconcileBackMs: number;
  /** Each later reconciliation starts this long before the previous pass began (events listed late). */
  reconcileOverlapMs: number;
  /** APP_URL, for the link in the admins' mails. */
  appUrl: string | null;
  /**
   * Between two listings of every subscription at Stripe (default 6 h; the first pass makes one). Slower than the
   * event pass: it reads the whole account, and only catches what the events cannot (changes whose events are gone).
   */
  subscriptionsEveryMs?: number;
}

export type OrganizationAdmins = (organizationId: string) => Promise<{ email: string; name: string }[]>;

export interface BillingPass {
  checked: number;
  recorded: string[];
  scheduledChanges: number;
  reconciled: { listed: number; applied: number };
  /** The subscriptions listed and applied; null when that pass was not due. */
  subscriptions: { listed: number; applied: number } | null;
}

const SUBSCRIPTIONS_EVERY_MS = 6 * 3_600_000;

/** Candidates per pass (the rest wait for the next one). */
const BATCH = 500;

/**
 * The billing worker, one per projector process: each pass
 * - records what time made true (a trial or subscription that ended unpaid starts grace, a grace that ran out
 *   restricts, a longer trial or a comped plan restores) and mails the organization's admins about grace and
 *   restriction;
 * - makes the plan changes scheduled for a period end that is near;
 * - reconciles with Stripe's event list, for webhooks that never arrived;
 * - now and then (subscriptionsEveryMs) lists every subscription at Stripe and applies those our accounts do not
 *   show, for changes whose events are no longer listed.
 * Candidates come from the read models; every decision is taken on the streams. Every step is idempotent
 * (deciders record only what changed, Stripe calls carry idempotency keys from the stream's revision, mails
 * carry keys), so two processes passing at once do the same work twice, never an effect twice.
 */
export class BillingWorker {
  private readonly periodic: PeriodicPass;
  private reconciledUntil: number | null = null;
  private subscriptionsListedAt: number | null = null;

  constructor(
    private readonly deps: { commands: BillingCommands; orm: MikroORM; mailer: Mailer; admins: OrganizationAdmins; logger: Logger },
    private readonly options: BillingWorkerOptions,
  ) {
    this.periodic = new PeriodicPass(
      () => this.pass(new Date()),
      options.intervalMs,
      (err) => deps.logger.error({ err }, 'billing pass failed; the next one tries again'),
    );
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One pass at `now` (tests and tools call it directly). */
  async pass(now: Date): Promise<BillingPass> {
    const result: BillingPass = { checked: 0, recorded: [], scheduledChanges: 0, reconciled: { listed: 0, applied: 0 }, subscriptions: null };
    const connection = this.deps.orm.em.getConnection();

    const standing = await connection.execute<{ organization_id: string }[]>(
      `SELECT o.id AS organization_id
         FROM organizations o
         LEFT JOIN billing_accounts b ON b.organization_id = o.id
        WHERE (b.standing = 'grace' AND b.grace_until <= ?)
           OR (coalesce(b.standing, 'good') = 'good'
               AND NOT (o.plan_id IS NOT NULL AND b.subscription_id IS NULL)
               AND ((o.trial_ends_at <= ? AND (b.status IS NULL OR b.status IN ('incomplete', 'incomplete_expired')))
                    OR b.status IN ('canceled', 'incomplete_expired')))
           OR (b.standing IN ('grace', 'restricted') AND b.grace_reason <> 'payment_failed'
               AND ((b.grace_reason = 'trial_ended' AND o.trial_ends_at > ?) OR (o.plan_id IS NOT NULL AND b.subscription_id IS NULL)))
        ORDER BY o.id
        LIMIT ${BATCH}`,
      [now, now, now],
    );
    for (const { organization_id: organizationId } of standing) {
      result.checked += 1;
      const { recorded, revision } = await this.deps.commands.checkStanding(organizationId, this.context(organizationId, now));
      result.recorded.push(...recorded);
      for (const type of recorded) await this.tellAdmins(organizationId, type, revision);
    }

    const due = await connection.execute<{ organization_id: string }[]>(
      `SELECT organization_id FROM billing_accounts WHERE scheduled_at <= ? ORDER BY scheduled_at LIMIT ${BATCH}`,
      [new Date(now.getTime() + this.options.leadMs)],
    );
    for (const { organization_id: organizationId } of due) {
      if (await this.deps.commands.applyScheduledChange(organizationId, this.context(organizationId, now), this.options.leadMs)) {
        result.scheduledChanges += 1;
      }
    }

    const from = this.reconciledUntil ?? now.getTime() - this.options.reconcileBackMs;
    result.reconciled = await this.deps.commands.reconcile(new Date(from).toISOString(), (organizationId) => this.context(organizationId, now));
    this.reconciledUntil = now.getTime() - this.options.reconcileOverlapMs;

    const every = this.options.subscriptionsEveryMs ?? SUBSCRIPTIONS_EVERY_MS;
    if (this.subscriptionsListedAt === null || now.getTime() - this.subscriptionsListedAt >= every) {
      result.subscriptions = await this.deps.commands.reconcileSubscriptions((organizationId) => this.context(organizationId, now));
      // Only a listing that went through counts: one that failed is tried again at the next pass.
      this.subscriptionsListedAt = now.getTime();
    }
    if (result.recorded.length > 0 || result.scheduledChanges > 0 || result.reconciled.applied > 0 || (result.subscriptions?.applied ?? 0) > 0) {
      this.deps.logger.info(result, 'billing pass');
    }
    return result;
  }

  private context(organizationId: string | null, now: Date): CommandContext {
    return { tenantId: organizationId, actor: { type: 'system', id: 'billing-worker' }, correlationId: randomUUID(), causationId: randomUUID(), now };
  }

  private async tellAdmins(organizationId: string, fact: string, revision: number): Promise<void> {
    if (fact !== 'GraceStarted' && fact !== 'OrganizationRestricted') return;
    const billing = this.options.appUrl ? `${this.options.appUrl.replace(/\/+$/, '')}/settings/billing` : 'the billing settings';
    const [subject, body] =
      fact === 'GraceStarted'
        ? [
            'Action needed: your NexusFlow plan is unpaid',
            `Your organization's trial, subscription or last payment has ended without payment. NexusFlow keeps working ` +
              `for a few days; after that, changes are refused until billing is settled. Settle it in ${billing}.`,
          ]
        : [
            'Your NexusFlow organization is restricted',
            `Your organization's plan is unpaid and its grace period has ended: your team can still read everything, ` +
              `but changes are refused until billing is settled in ${billing}.`,
          ];
    try {
      for (const admin of await this.deps.admins(organizationId)) {
        await this.deps.mailer.send({
          to: admin.email,
          subject,
          text: `Hello ${admin.name},\n\n${body}\n`,
          template: fact === 'GraceStarted' ? 'billing-grace-started' : 'billing-restricted',
          // One mail per fact and admin, however many processes record it.
          idempotencyKey: `billing:${fact}:${organizationId}:${revision}:${admin.email}`,
        });
      }
    } catch (err) {
      // The fact is recorded (and shown by GET /billing/subscription); a lost mail must not hide it.
      this.deps.logger.error({ err, organizationId }, 'could not mail the admins about billing standing');
    }
  }
}
