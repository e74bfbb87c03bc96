import type { DomainEvent } from '../events.ts';

/**
 * Tokens an organization's AI request consumed, recorded by the AI service for every call that reached a
 * provider (streamed ones included, counted from the provider's final usage), so billing's metering and
 * analytics count them exactly. `tokens` is the total (prompt and completion) that a plan's monthly AI
 * allowance counts; a cached answer consumed none and records nothing.
 */
export type AiTokensUsed = DomainEvent<
  'AiTokensUsed',
  {
    organizationId: string;
    tokens: number;
    /** Absent on the first version's events (metering needs only the total). */
    promptTokens?: number;
    completionTokens?: number;
    /** The model that answered and the provider that served it (after any fallback). */
    model?: string;
    provider?: string;
    /** The AI endpoint (`complete`, `embed`, `generate/email`, …) and the prompt's version it used. */
    endpoint?: string;
    promptVersion?: string;
    /** The provider's list price of the call, in millionths of a US dollar (no float sums). */
    costMicros?: number;
    streamed?: boolean;
    /** True when a stream was cut short before the provider's own count: the tokens were counted here. */
    estimated?: boolean;
  }
>;

export const AI_TOKENS_USED = 'AiTokensUsed' as const satisfies AiTokensUsed['type'];

/**
 * Where an organization's AI usage of one billing period is recorded (`period`: its start, ISO 8601): every
 * call's AiTokensUsed, whether or not the plan limits AI tokens, so the allowance is known exactly the moment
 * a plan starts limiting it, in every process (each reads the stream from where it left off).
 */
export const aiUsageStream = (organizationId: string, period: string) => `ai-usage-${organizationId}-${period}`;

/** Tokens recorded so far: the sum over the period's AiTokensUsed. */
export function tokensUsed(events: readonly { type: string; data: unknown }[], since = 0): number {
  let used = since;
  for (const event of events) if (event.type === AI_TOKENS_USED) used += (event.data as AiTokensUsed['data']).tokens;
  return used;
}

/**
 * A request may reach a provider while the period's usage is below the allowance: at the allowance (`>=`,
 * not `>`) it is refused. A call's tokens are known only once it answered, so calls already under way when
 * the allowance is reached may take the usage past it, by at most their own size (each at most the
 * per-request limit).
 */
export function mayUseAi(used: number, allowance: number | null): boolean {
  return allowance === null || used < allowance;
}
