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
  }
>;

export const AI_TOKENS_USED = 'AiTokensUsed' as const satisfies AiTokensUsed['type'];
