import { DomainError } from '../errors.ts';
import type { DomainEvent } from '../events.ts';
import type { PlanEvent, PlanLimits } from '../plans/plan.ts';

/**
 * A plan's limits on things an organization holds (live contacts, active workflows, seats), kept exact at
 * the moment of the write under any concurrency: each organization and kind has a quota stream, and every
 * creation that takes a unit appends to it, together with the creation, at the revision its check was made
 * on. Two requests racing for the last unit cannot both win: the second one's append is refused, and it
 * decides again on the new count.
 *
 * The count is a baseline (counted from the read models when the organization came onto a limited plan,
 * `basis` naming that plan and its revision) plus the units taken and given back after the revision the
 * baseline was counted through. Without a baseline for its current plan (it just moved onto one) units are
 * taken unchecked until the billing worker has counted: the one window where a limit is not enforced, as
 * short as the read models' lag.
 */
export const quotaKinds = ['contacts', 'activeWorkflows', 'seats', 'executionsPerMonth'] as const;
export type QuotaKind = (typeof quotaKinds)[number];

/** Kinds counted afresh in each billing period (a stream per period, never given back): executions. */
export const periodicQuotaKinds: readonly QuotaKind[] = ['executionsPerMonth'];

/** The quota stream; a periodic kind's is the billing period's (`period`: its start, ISO 8601). */
export const quotaStream = (organizationId: string, kind: QuotaKind, period?: string) =>
  period === undefined ? `quota-${organizationId}-${kind}` : `quota-${organizationId}-${kind}-${period}`;

/**
 * What a baseline was counted for: the plan, and the revision of its stream since which it has limited this
 * kind without a break. While it stays the same, every unit taken or given back was recorded in the quota
 * stream (a limit raised or lowered keeps the count); a move to another plan, or a limit that was lifted
 * and set again, needs a new count. Null: the plan sets no limit on the kind.
 */
export function quotaBasis(planId: string, planEvents: readonly { revision: number; event: PlanEvent }[], kind: QuotaKind): string | null {
  let limit: number | null = null;
  let since = -1;
  for (const { revision, event } of planEvents) {
    let next: number | null = limit;
    if (event.type === 'PlanDrafted') next = event.data.limits[kind];
    else if (event.type === 'PlanRevised' && event.data.changes.limits && kind in event.data.changes.limits)
      next = event.data.changes.limits[kind] ?? null;
    if (limit === null && next !== null) since = revision;
    limit = next;
  }
  return limit === null ? null : `${planId}@${since}`;
}

/** Counted from the read models once they held everything up to the quota stream's revision `throughRevision`. */
export type QuotaCounted = DomainEvent<
  'QuotaCounted',
  { organizationId: string; kind: QuotaKind; count: number; throughRevision: number; basis: string }
>;
/**
 * A unit was taken (a contact created, a workflow activated, a member joined); `units` (default 1) when a
 * bulk (an import) took some at once, `ownerId` then naming the bulk, not one thing counted.
 */
export type QuotaTaken = DomainEvent<'QuotaTaken', { organizationId: string; kind: QuotaKind; ownerId: string; units?: number }>;
/** Units were given back (deleted, erased, deactivated, removed; or a bulk's it did not use). */
export type QuotaReleased = DomainEvent<'QuotaReleased', { organizationId: string; kind: QuotaKind; ownerId: string; units?: number }>;
export type QuotaEvent = QuotaCounted | QuotaTaken | QuotaReleased;
export const quotaEventTypes = ['QuotaCounted', 'QuotaTaken', 'QuotaReleased'] as const satisfies readonly QuotaEvent['type'][];

export interface Quota {
  /** The stream's last revision (-1: none). */
  revision: number;
  /** The basis of the last baseline; null: never counted. */
  basis: string | null;
  /** Units held: the baseline plus what was taken and given back after the revision it was counted through. */
  used: number;
}

export const initialQuota: Quota = { revision: -1, basis: null, used: 0 };

const delta = (event: QuotaEvent) =>
  event.type === 'QuotaTaken' ? (event.data.units ?? 1) : event.type === 'QuotaReleased' ? -(event.data.units ?? 1) : 0;

/**
 * Folds a quota stream's events, each with its revision in the stream. A baseline's count holds every unit
 * through its `throughRevision`; units recorded after that, before or after the baseline itself, are added.
 */
export function quotaOf(events: readonly { revision: number; event: QuotaEvent }[]): Quota {
  let baselineAt = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i]!.event.type === 'QuotaCounted') {
      baselineAt = i;
      break;
    }
  }
  if (baselineAt < 0) {
    return { revision: events.at(-1)?.revision ?? -1, basis: null, used: events.reduce((sum, e) => sum + delta(e.event), 0) };
  }
  const baseline = events[baselineAt]!.event as QuotaCounted;
  let used = baseline.data.count;
  for (const { revision, event } of events) if (revision > baseline.data.throughRevision) used += delta(event);
  return { revision: events.at(-1)!.revision, basis: baseline.data.basis, used: Math.max(0, used) };
}

/**
 * Moves a known quota on by events appended after it (the caller's own, or read since); null when a new
 * baseline is among them (its count is through a revision the caller must read the stream again for).
 */
export function quotaAfter(quota: Quota, appended: readonly { revision: number; event: QuotaEvent }[]): Quota | null {
  let { used, revision } = quota;
  for (const { revision: at, event } of appended) {
    if (event.type === 'QuotaCounted') return null;
    revision = at;
    used += delta(event);
  }
  return { revision, basis: quota.basis, used: Math.max(0, used) };
}

/** The human name of a limit, in a refusal's message. */
const limitNames: Record<keyof PlanLimits, string> = {
  contacts: 'contacts',
  activeWorkflows: 'active workflows',
  seats: 'seats',
  executionsPerMonth: 'executions per billing period',
  aiTokensPerMonth: 'AI tokens per billing period',
};

/** Limits counted afresh in each billing period. */
const periodicLimits: readonly (keyof PlanLimits)[] = [...periodicQuotaKinds, 'aiTokensPerMonth'];

/** The limit of a plan that a kind of quota is held to (null: unlimited). */
export const limitOf = (limits: PlanLimits, kind: QuotaKind): number | null => limits[kind];

/** A write would take the organization beyond its plan's limit (answered 402 with the numbers and where to upgrade). */
export class PlanLimitReachedError extends DomainError {
  constructor(
    /** A quota kind, or the AI allowance (kept by the AI service: domain/ai/usage.ts). */
    readonly kind: keyof PlanLimits,
    readonly limit: number,
    readonly usage: number,
    readonly plan: { id: string; name: string },
  ) {
    super(
      kind === 'aiTokensPerMonth'
        ? `Your plan ${plan.name} allows ${limit} ${limitNames[kind]}; ${usage} were used in this one. Upgrade your plan to use more.`
        : periodicLimits.includes(kind)
          ? `Your plan ${plan.name} allows ${limit} ${limitNames[kind]}; ${usage} started in this one. Upgrade your plan to run more.`
          : `Your plan ${plan.name} allows ${limit} ${limitNames[kind]}; you have ${usage}. Upgrade your plan to add more.`,
      'plan_limit_reached',
    );
  }
}

/**
 * Whether one more unit may be taken: unchecked without a baseline for the current basis (being counted),
 * refused at the limit.
 */
export function takeQuota(
  quota: Quota,
  command: { organizationId: string; kind: QuotaKind; ownerId: string; limit: number; basis: string; plan: { id: string; name: string } },
): QuotaTaken {
  const { organizationId, kind, ownerId, limit, basis, plan } = command;
  if (quota.basis === basis && quota.used + 1 > limit) throw new PlanLimitReachedError(kind, limit, quota.used, plan);
  return { type: 'QuotaTaken', version: 1, data: { organizationId, kind, ownerId } };
}
