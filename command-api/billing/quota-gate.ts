import { LRUCache } from 'lru-cache';
import {
  PlanLimitReachedError,
  quotaAfter,
  quotaBasis,
  quotaOf,
  periodicQuotaKinds,
  quotaKinds,
  quotaStream,
  takeQuota,
  type Quota,
  type QuotaCounted,
  type QuotaEvent,
  type QuotaKind,
  type QuotaReleased,
  type QuotaTaken,
} from '../../domain/billing/quota.ts';
import { metadataFrom, type CommandContext, type RecordedEvent } from '../../domain/events.ts';
import { planLimitNames, planStream, type PlanEvent, type PlanLimits } from '../../domain/plans/plan.ts';
import { newEventId } from '../../infra/eventstore/event-ids.ts';
import type { Metrics } from '../../infra/observability/metrics.ts';
import { WrongExpectedRevisionError, type EventStreams, type StreamAppend } from '../ports.ts';

/** Where the gate learns which plan an organization is on (the write check's copy: dropped when it changes). */
export interface PlanOfOrganization {
  planOf(organizationId: string): Promise<string | null>;
  /** The billing period `now` falls in (monthly limits are counted in it). */
  periodOf(organizationId: string, now: Date): Promise<{ start: Date; end: Date }>;
}

/** A kind's limit as the organization's plan sets it, and the basis a count of it must have been made for. */
interface Terms {
  limit: number;
  basis: string;
  plan: { id: string; name: string };
  /** The quota stream the limit is kept in (a periodic kind's: the current period's). */
  streamId: string;
  /** A periodic kind's current billing period. */
  period: { start: Date; end: Date } | null;
}

interface PlanTerms {
  name: string;
  limits: Record<keyof PlanLimits, number | null>;
  bases: Record<QuotaKind, string | null>;
}

/** What the quota counter needs to count a kind (QuotaGate.countWanted). */
export interface CountWanted {
  basis: string;
  revision: number;
  /** The stream's units, with their positions in the log. */
  units: { position: string; event: QuotaTaken | QuotaReleased }[];
  streamId: string;
  /** A periodic kind's billing period (what is counted is what started in it). */
  period: { start: Date; end: Date } | null;
}

/** The quota stream's append was refused: another write took a unit between our decision and our append. */
const lostTo = (err: unknown, append: StreamAppend) => err instanceof WrongExpectedRevisionError && err.streamId === append.streamId;

/** Tries at deciding again after another write took a unit between our read and our append. */
const MAX_TRIES = 20;

/**
 * A quota stream as this process knows it. `stored` is what the stream holds as far as this process has read
 * or itself stored (a prefix of the stream); `ahead` is that with the takes sent and not yet settled, and is
 * what the next decision is made on.
 */
interface KnownQuota {
  stored: Quota;
  ahead: Quota;
  /** Read the stream again (from `stored` on) before the next decision. */
  stale: boolean;
}
/** How long a plan's terms are kept: a limit staff changed applies to writes within this. */
const PLAN_TTL_MS = 5_000;

/**
 * Keeps writes inside the organization's plan limits (domain/billing/quota.ts), exactly and under
 * concurrency. A plan without a limit on a kind costs a write nothing here but a cached lookup. With one,
 * the write appends a QuotaTaken together with its own events at the quota stream's revision its check was
 * made on; one that another process beat decides again on the stream as it is now.
 *
 * Writes of one organization and kind decide one after the other in this process, each on the quota with
 * the takes before it that are still under way: the next one decides as soon as the previous one's append
 * is on its way to the store (StreamAppend.onSent), not when it has been stored, so their appends share the
 * store's group commits instead of waiting a commit each. If a take under way fails, the ones decided on it
 * are refused by the store too (their revisions, and the hash chain's link, name it) and decide again. A
 * refusal at the limit is only given on takes that are stored: with some under way it waits for them.
 */
export class QuotaGate {
  private readonly quotas = new LRUCache<string, KnownQuota>({ max: 50_000 });
  /** By quota stream, the outcomes of takes sent and not yet settled (kept apart: never evicted while some are). */
  private readonly underWay = new Map<string, Set<Promise<unknown>>>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly plans: LRUCache<string, PlanTerms>;

  constructor(
    private readonly streams: EventStreams,
    private readonly organizations: PlanOfOrganization,
    /**
     * Times the check (the plan's terms, the quota as known, the decision) as the `plan_limits` layer, and
     * counts the decisions.
     */
    private readonly metrics: Pick<Metrics, 'layer' | 'planLimitDecisions'> | null = null,
  ) {
    this.plans = new LRUCache({ max: 1_000, ttl: PLAN_TTL_MS });
  }

  /**
   * Runs `write` with the append that takes one unit of `kind` for `ownerId` (nothing to append when the plan
   * sets no limit); refuses with PlanLimitReachedError at the limit.
   */
  async taking<T>(
    context: CommandContext,
    organizationId: string,
    kind: QuotaKind,
    ownerId: string,
    write: (together: StreamAppend[]) => Promise<T>,
  ): Promise<T> {
    let checked = this.metrics?.layer('plan_limits');
    const terms = await this.termsOf(organizationId, kind, context.now);
    if (!terms) {
      checked?.();
      return write([]);
    }
    for (let attempt = 1; ; attempt++) {
      // Decided and sent in the organization's queue; stored outside it, beside the writes decided after it.
      const { outcome, append } = await this.queued(terms.streamId, async () => {
        let decided: { known: KnownQuota; quota: Quota; taken: QuotaTaken };
        try {
          // The first decision's wait behind this organization's other writes counts too: it is the check's cost.
          decided = await this.decide(terms, { organizationId, kind, ownerId, ...terms });
        } catch (err) {
          if (err instanceof PlanLimitReachedError) this.metrics?.planLimitDecisions.inc({ kind, outcome: 'refused' });
          throw err;
        } finally {
          checked?.();
          checked = undefined;
        }
        const { known, quota, taken } = decided;
        let onSent = () => {};
        const sent = new Promise<void>((resolve) => (onSent = resolve));
        const append: StreamAppend = { ...this.appendOf(context, taken, quota, terms), onSent };
        const take = this.takeUnderWay(known, quota, taken, append);
        let outcome: Promise<T>;
        try {
          outcome = write([append]);
        } catch (err) {
          outcome = Promise.reject(err);
        }
        // What is known of the quota follows the outcome before anything waiting on it goes on (decide).
        const settled = outcome.then(
          () => this.stored(append, taken),
          (err: unknown) => this.takeRefused(append.streamId, take, lostTo(err, append)),
        );
        this.track(terms.streamId, settled);
        // Without a count the append goes at 'any' and names no revision a next decision could build on.
        await (append.expectedRevision === 'any' ? settled : Promise.race([sent, settled]));
        return { outcome, append };
      });
      try {
        const result = await outcome;
        this.metrics?.planLimitDecisions.inc({ kind, outcome: 'taken' });
        return result;
      } catch (err) {
        if (!lostTo(err, append) || attempt >= MAX_TRIES) throw err;
        this.metrics?.planLimitDecisions.inc({ kind, outcome: 'decided_again' });
      }
    }
  }

  /**
   * Decides one more unit on the quota with the takes under way. At the limit with some under way, waits for
   * them and decides again: one of them may fail and leave its place.
   */
  private async decide(terms: Terms, command: Parameters<typeof takeQuota>[1]): Promise<{ known: KnownQuota; quota: Quota; taken: QuotaTaken }> {
    for (;;) {
      const known = await this.current(terms);
      try {
        return { known, quota: known.ahead, taken: takeQuota(known.ahead, command) };
      } catch (err) {
        const underWay = this.underWay.get(terms.streamId);
        if (!(err instanceof PlanLimitReachedError) || !underWay) throw err;
        await Promise.all([...underWay]);
      }
    }
  }

  /** A take sent: the next decision counts it (at an exact revision; one at 'any' makes the quota be read again). */
  private takeUnderWay(known: KnownQuota, quota: Quota, taken: QuotaTaken, append: StreamAppend): { base: Quota; ahead: Quota | null } {
    if (append.expectedRevision === 'any') {
      known.stale = true;
      return { base: quota, ahead: null };
    }
    const ahead = quotaAfter(quota, [{ revision: quota.revision + 1, event: taken }])!;
    known.ahead = ahead;
    return { base: quota, ahead };
  }

  /**
   * A take refused. If no later decision was made on it, and the quota stream did not move under it, the
   * quota is as before it; otherwise it is read again from what is known to be stored.
   */
  private takeRefused(streamId: string, take: { base: Quota; ahead: Quota | null }, lost: boolean): void {
    const known = this.quotas.peek(streamId);
    if (!known) return;
    if (!lost && take.ahead !== null && known.ahead === take.ahead) {
      known.ahead = take.base;
      return;
    }
    this.markStale(streamId);
  }

  /**
   * Takes up to `wanted` units at once for a bulk of creations (an import): answers how many it got, fewer
   * at the limit (possibly none); null when the plan sets no limit. Units the bulk did not use go back with
   * giveBack.
   */
  async reserve(context: CommandContext, organizationId: string, kind: QuotaKind, ownerId: string, wanted: number): Promise<number | null> {
    const terms = await this.termsOf(organizationId, kind, context.now);
    if (!terms) return null;
    if (wanted <= 0) return 0;
    return this.queued(terms.streamId, async () => {
      for (let attempt = 1; ; attempt++) {
        let known = await this.current(terms);
        // Fewer places than wanted counting takes under way: wait for them (one may fail and leave its place).
        while (known.ahead.basis === terms.basis && terms.limit - known.ahead.used < wanted) {
          const underWay = this.underWay.get(terms.streamId);
          if (!underWay) break;
          await Promise.all([...underWay]);
          known = await this.current(terms);
        }
        const quota = known.ahead;
        const counted = quota.basis === terms.basis;
        const units = counted ? Math.max(0, Math.min(wanted, terms.limit - quota.used)) : wanted;
        if (units === 0) return 0;
        // `units` even for one: a bulk's owner is not one of the things counted (the counter tells them apart).
        const taken: QuotaTaken = { type: 'QuotaTaken', version: 1, data: { organizationId, kind, ownerId, units } };
        const append = this.appendOf(context, taken, quota, terms);
        try {
          await this.streams.append(append.streamId, append.events, append.expectedRevision);
          this.stored(append, taken);
          return units;
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_TRIES) throw err;
          this.markStale(terms.streamId);
        }
      }
    });
  }

  /** Gives back units a reservation did not use. */
  async giveBack(context: CommandContext, organizationId: string, kind: QuotaKind, ownerId: string, units: number): Promise<void> {
    if (units <= 0) return;
    const [append] = await this.releasing(context, organizationId, kind, ownerId);
    if (!append) return;
    const released = { ...append.events[0]!, data: { organizationId, kind, ownerId, units } };
    await this.streams.append(append.streamId, [released], append.expectedRevision);
  }

  /**
   * The append that gives a unit back, to go with the deletion (nothing when the plan sets no limit: a later
   * limit counts what is there then). It needs no check, so no exact revision: writes that take a unit after
   * it find the stream moved and read it again.
   */
  async releasing(context: CommandContext, organizationId: string, kind: QuotaKind, ownerId: string): Promise<StreamAppend[]> {
    const terms = await this.termsOf(organizationId, kind, context.now);
    if (!terms) return [];
    this.markStale(terms.streamId);
    const released: QuotaReleased = { type: 'QuotaReleased', version: 1, data: { organizationId, kind, ownerId } };
    return [
      {
        streamId: terms.streamId,
        events: [{ id: newEventId(), ...released, metadata: metadataFrom(context) }],
        expectedRevision: 'any',
      },
    ];
  }

  /**
   * What the billing worker needs to count: the basis a count must be for, and the quota stream as it is now
   * (its units, with their positions in the log); null when the plan sets no limit or the quota already has
   * a count for its basis.
   */
  async countWanted(organizationId: string, kind: QuotaKind, now = new Date()): Promise<CountWanted | null> {
    const terms = await this.termsOf(organizationId, kind, now);
    if (!terms) return null;
    // The quota as this process knows it answers the usual "counted already" without reading the whole stream.
    if ((await this.current(terms)).stored.basis === terms.basis) return null;
    const events = await this.streams.readStream(terms.streamId);
    const quota = quotaOf(events.map((event) => ({ revision: event.revision, event: event as unknown as QuotaEvent })));
    if (quota.basis === terms.basis) return null;
    const units = events
      .filter((event) => event.type === 'QuotaTaken' || event.type === 'QuotaReleased')
      .map((event) => ({ position: event.position, event: event as unknown as QuotaTaken | QuotaReleased }));
    return { basis: terms.basis, revision: quota.revision, units, streamId: terms.streamId, period: terms.period };
  }

  /**
   * Records a count that holds every unit of the quota stream through `counted.revision`, at exactly that
   * revision: a unit taken or given back after it refuses the count (WrongExpectedRevisionError), which is
   * then made again, so no unit is ever counted twice or missed.
   */
  async recordCount(
    context: CommandContext,
    organizationId: string,
    kind: QuotaKind,
    count: number,
    counted: Pick<CountWanted, 'basis' | 'revision' | 'streamId'>,
  ) {
    const event: QuotaCounted = {
      type: 'QuotaCounted',
      version: 1,
      data: { organizationId, kind, count, throughRevision: counted.revision, basis: counted.basis },
    };
    await this.streams.append(
      counted.streamId,
      [{ id: newEventId(), ...event, metadata: metadataFrom(context) }],
      counted.revision < 0 ? 'no_stream' : counted.revision,
    );
    this.markStale(counted.streamId);
  }

  /** The kind's limit on the organization's plan, null when there is none (no plan, as in a trial, or no limit). */
  async termsOf(organizationId: string, kind: QuotaKind, now = new Date()): Promise<Terms | null> {
    const planId = await this.organizations.planOf(organizationId);
    if (planId === null) return null;
    const plan = await this.planTerms(planId);
    const limit = plan?.limits[kind] ?? null;
    const basis = plan?.bases[kind] ?? null;
    if (!plan || limit === null || basis === null) return null;
    const period = periodicQuotaKinds.includes(kind) ? await this.organizations.periodOf(organizationId, now) : null;
    const streamId = quotaStream(organizationId, kind, period?.start.toISOString());
    return { limit, basis, plan: { id: planId, name: plan.name }, streamId, period };
  }

  /**
   * A limit of the organization's plan that no quota stream keeps (the AI allowance, kept by the AI service),
   * with the plan; null when there is no plan or no such limit.
   */
  async planLimit(organizationId: string, name: keyof PlanLimits): Promise<{ limit: number; plan: { id: string; name: string } } | null> {
    const planId = await this.organizations.planOf(organizationId);
    if (planId === null) return null;
    const plan = await this.planTerms(planId);
    const limit = plan?.limits[name] ?? null;
    return plan && limit !== null ? { limit, plan: { id: planId, name: plan.name } } : null;
  }

  /** The billing period `now` falls in for the organization. */
  periodOf(organizationId: string, now: Date): Promise<{ start: Date; end: Date }> {
    return this.organizations.periodOf(organizationId, now);
  }

  private async planTerms(planId: string): Promise<PlanTerms | null> {
    const known = this.plans.get(planId);
    if (known) return known;
    const events = (await this.streams.readStream(planStream(planId))) as RecordedEvent<PlanEvent>[];
    if (events.length === 0) return null;
    const history = events.map((event) => ({ revision: event.revision, event: event as PlanEvent }));
    let name = '';
    const limits = Object.fromEntries(planLimitNames.map((name) => [name, null])) as Record<keyof PlanLimits, number | null>;
    for (const { event } of history) {
      if (event.type === 'PlanDrafted') {
        name = event.data.name;
        for (const name of planLimitNames) limits[name] = event.data.limits[name];
      } else if (event.type === 'PlanRevised') {
        if (event.data.changes.name !== undefined) name = event.data.changes.name;
        for (const name of planLimitNames) {
          const changed = event.data.changes.limits?.[name];
          if (changed !== undefined) limits[name] = changed;
        }
      }
    }
    const bases = Object.fromEntries(quotaKinds.map((kind) => [kind, quotaBasis(planId, history, kind)])) as Record<QuotaKind, string | null>;
    const terms: PlanTerms = { name, limits, bases };
    this.plans.set(planId, terms);
    return terms;
  }

  /**
   * The quota as this process knows it: read again (from what it knows to be stored on) when another write may
   * have moved it, and while it has no count for the current basis (the billing worker's count may have come).
   */
  private async current(terms: Terms): Promise<KnownQuota> {
    const { streamId } = terms;
    const known = this.quotas.get(streamId);
    if (known && !known.stale && known.ahead.basis === terms.basis) return known;
    let quota: Quota | null = null;
    if (known) {
      // Taken before the read: takes stored meanwhile move `known.stored` on, and the read holds them too.
      const base = known.stored;
      const since = await this.streams.readStream(streamId, { fromRevision: base.revision + 1 });
      quota = quotaAfter(
        base,
        since.map((event) => ({ revision: event.revision, event: event as unknown as QuotaEvent })),
      );
    }
    if (!quota) {
      const events = await this.streams.readStream(streamId);
      quota = quotaOf(events.map((event) => ({ revision: event.revision, event: event as unknown as QuotaEvent })));
    }
    const fresh: KnownQuota = { stored: quota, ahead: quota, stale: false };
    this.quotas.set(streamId, fresh);
    return fresh;
  }

  /** The quota stream's append: at the exact revision when a count makes the check exact, else anywhere. */
  private appendOf(context: CommandContext, taken: QuotaTaken, quota: Quota, terms: Terms): StreamAppend {
    const checked = quota.basis === terms.basis;
    return {
      streamId: terms.streamId,
      events: [{ id: newEventId(), ...taken, metadata: metadataFrom(context) }],
      expectedRevision: !checked ? 'any' : quota.revision < 0 ? 'no_stream' : quota.revision,
    };
  }

  /**
   * After our own append stored: at an exact revision it extends what is known to be stored (when that is
   * where it left off), and the next write starts from it without a read.
   */
  private stored(append: StreamAppend, taken: QuotaTaken): void {
    if (append.expectedRevision === 'any') return this.markStale(append.streamId);
    const known = this.quotas.peek(append.streamId);
    if (!known) return;
    const revision = append.expectedRevision === 'no_stream' ? 0 : (append.expectedRevision as number) + 1;
    if (known.stored.revision === revision - 1) known.stored = quotaAfter(known.stored, [{ revision, event: taken }])!;
    if (known.ahead.revision < known.stored.revision) known.ahead = known.stored;
  }

  private markStale(streamId: string): void {
    const known = this.quotas.get(streamId);
    if (!known) return;
    known.stale = true;
    known.ahead = known.stored;
  }

  /** Keeps a take's outcome as under way on its quota stream until it settles (`settled` never rejects). */
  private track(streamId: string, settled: Promise<unknown>): void {
    let underWay = this.underWay.get(streamId);
    if (!underWay) this.underWay.set(streamId, (underWay = new Set()));
    underWay.add(settled);
    void settled.then(() => {
      underWay.delete(settled);
      if (underWay.size === 0 && this.underWay.get(streamId) === underWay) this.underWay.delete(streamId);
    });
  }

  /** Runs `task` after the ones queued on `key` before it (in this process). */
  private queued<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }
}
