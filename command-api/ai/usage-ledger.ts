import { LRUCache } from 'lru-cache';
import { PlanLimitReachedError } from '../../domain/billing/quota.ts';
import { AI_TOKENS_USED, aiUsageStream, mayUseAi, tokensUsed, type AiTokensUsed } from '../../domain/ai/usage.ts';
import { metadataFrom, type CommandContext } from '../../domain/events.ts';
import type { PlanLimits } from '../../domain/plans/plan.ts';
import { newEventId } from '../../infra/eventstore/event-ids.ts';
import type { EventStreams } from '../ports.ts';

/** What the ledger needs from billing: the plan's allowance and the organization's billing period. */
export interface AiAllowanceTerms {
  planLimit(organizationId: string, name: keyof PlanLimits): Promise<{ limit: number; plan: { id: string; name: string } } | null>;
  periodOf(organizationId: string, now: Date): Promise<{ start: Date; end: Date }>;
}

export interface AiPeriodUsage {
  /** The period's usage stream (the call's usage is recorded there). */
  streamId: string;
  period: { start: Date; end: Date };
  used: number;
  /** The plan's monthly AI-token allowance; null: not limited. */
  allowance: number | null;
  plan: { id: string; name: string } | null;
}

/**
 * The organization's AI tokens per billing period, from its usage stream (domain/ai/usage.ts), shared by
 * every process: each reads the stream from the revision it last saw (usually nothing new), so a call
 * recorded by another replica counts here at the next request. Refuses at the allowance (402, at `>=`).
 */
export class AiUsageLedger {
  private readonly known = new LRUCache<string, { revision: number; used: number }>({ max: 20_000 });

  constructor(
    private readonly streams: EventStreams,
    private readonly terms: AiAllowanceTerms,
  ) {}

  async usage(organizationId: string, now: Date): Promise<AiPeriodUsage> {
    const [period, allowance] = await Promise.all([
      this.terms.periodOf(organizationId, now),
      this.terms.planLimit(organizationId, 'aiTokensPerMonth'),
    ]);
    const streamId = aiUsageStream(organizationId, period.start.toISOString());
    const known = this.known.get(streamId) ?? { revision: -1, used: 0 };
    const since = await this.streams.readStream(streamId, { fromRevision: known.revision + 1 });
    const current = since.length === 0 ? known : { revision: since[since.length - 1]!.revision, used: tokensUsed(since, known.used) };
    this.known.set(streamId, current);
    return { streamId, period, used: current.used, allowance: allowance?.limit ?? null, plan: allowance?.plan ?? null };
  }

  /** The period's usage, refusing with PlanLimitReachedError when it is at the allowance. */
  async admit(organizationId: string, now: Date): Promise<AiPeriodUsage> {
    const usage = await this.usage(organizationId, now);
    if (!mayUseAi(usage.used, usage.allowance)) throw new PlanLimitReachedError('aiTokensPerMonth', usage.allowance!, usage.used, usage.plan!);
    return usage;
  }

  /** Records a call's tokens in the period's stream (no expectation: a call that happened is always recorded). */
  async record(context: CommandContext, streamId: string, data: AiTokensUsed['data']): Promise<void> {
    const event: AiTokensUsed = { type: AI_TOKENS_USED, version: 1, data };
    await this.streams.append(streamId, [{ id: newEventId(), ...event, metadata: metadataFrom(context) }], 'any');
  }
}
