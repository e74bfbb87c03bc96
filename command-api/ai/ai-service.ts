import { costMicros } from '../../domain/ai/prices.ts';
import { DomainError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { Metrics } from '../../infra/observability/metrics.ts';
import type { RateLimitDecision, RateLimitPolicy, SlidingWindowRateLimiter } from '../../infra/ratelimit/sliding-window-rate-limiter.ts';
import type { AnswerCache } from './answer-cache.ts';
import type { ChatChunk, TokenUsage } from './ports.ts';
import type { Served } from './router.ts';
import type { AiUsageLedger } from './usage-ledger.ts';

export const aiEndpoints = [
  'complete',
  'embed',
  'search',
  'suggest/workflow-steps',
  'generate/email',
  'analyze/sentiment',
  'generate/workflow',
] as const;
/** An endpoint of the API, or a caller inside NexusFlow (the workflow step, the embedder). */
export type AiEndpoint = (typeof aiEndpoints)[number] | 'workflow/ai_compose_email' | 'index/embeddings';

/** Whether the organization allows AI (its setting, PUT /organizations/current/ai). */
export interface AiSwitch {
  aiEnabled(organizationId: string): Promise<boolean>;
}

export interface AiServiceOptions {
  requestsPerMinute: number;
  maxTokensPerRequest: number;
  /** Endpoints cached unless a request says otherwise. */
  cachedEndpoints: readonly string[];
}

/** The organization turned AI off (403 `ai_disabled`). */
export class AiDisabledError extends DomainError {
  constructor() {
    super('AI is turned off for this organization (PUT /organizations/current/ai turns it on).', 'ai_disabled');
  }
}

/** More tokens than one request may take, counted before any call (413). */
export class AiRequestTooLargeError extends DomainError {
  constructor(
    readonly tokens: number,
    readonly limit: number,
  ) {
    super(
      `This request would take ${tokens} tokens (its prompt as sent and the answer it may get); at most ${limit} are allowed per request.`,
      'request_too_large',
    );
  }
}

/** The organization's AI requests per minute are used up (429). */
export class AiRateLimitedError extends DomainError {
  constructor(
    readonly decision: RateLimitDecision,
    readonly policy: RateLimitPolicy,
  ) {
    super(
      `The AI limit of ${policy.limit} requests per minute for this organization was reached; retry after ${decision.retryAfterSeconds} s.`,
      'ai_rate_limited',
    );
  }
}

/** What one call took and who served it: the answer's labels and the usage event. */
export interface CallOutcome<T> {
  result: T;
  served: Served;
  usage: TokenUsage;
  streamed?: boolean;
  estimated?: boolean;
}

export interface AiCall<T> {
  context: CommandContext;
  organizationId: string;
  endpoint: AiEndpoint;
  /** The prompt version used (named in the answer and in the cache key). */
  prompt: string;
  /** The model alias (`chat`, `embedding`). */
  alias: string;
  /** Tokens the request may take, counted before the call: its prompt as sent plus its answer's cap. */
  tokens: number;
  /** The normalized request for the cache key; null: not cacheable. */
  cacheRequest: unknown;
  /** The request's own wish (`cache: true|false`); undefined: the endpoint's default. */
  cacheWanted?: boolean | undefined;
  invoke: () => Promise<CallOutcome<T>>;
  /**
   * False for the workflow step: the per-minute limit is for people and clients, and a step's sends are paced
   * by its mailbox's throttles instead (a sequence firing for 1,000 contacts would otherwise fail most of them).
   */
  rateLimited?: boolean;
}

export interface Answered<T> {
  result: T;
  served: Served;
  usage: TokenUsage & { totalTokens: number };
  prompt: string;
  cache: 'hit' | 'miss' | 'off';
  rateLimit: RateLimitDecision | null;
}

/**
 * The gateway every AI request goes through, in this order: the organization's switch (403), the request's
 * size (413, counted before any call), its requests per minute across every process (429 with Retry-After,
 * counters in Redis), the cache (an answer without a call), the monthly allowance (402 at `>=`); then the
 * provider through the router (retries, fallback, cooldown), and the tokens it reports recorded as
 * AiTokensUsed, streamed calls included, before the answer leaves.
 */
export class AiService {
  constructor(
    private readonly switches: AiSwitch,
    private readonly limiter: SlidingWindowRateLimiter,
    private readonly ledger: AiUsageLedger,
    private readonly cache: AnswerCache,
    private readonly options: AiServiceOptions,
    private readonly metrics: Pick<Metrics, 'layer' | 'aiRequests' | 'aiTokens' | 'outboundDuration'> | null = null,
  ) {}

  get maxTokensPerRequest(): number {
    return this.options.maxTokensPerRequest;
  }

  /**
   * The checks before a call: switch, size, rate. Answers the rate decision (for the RateLimit headers), null
   * for a call that the per-minute limit does not apply to.
   */
  async admit(organizationId: string, tokens: number, rateLimited = true): Promise<RateLimitDecision | null> {
    if (!(await this.switches.aiEnabled(organizationId))) throw new AiDisabledError();
    if (tokens > this.options.maxTokensPerRequest) throw new AiRequestTooLargeError(tokens, this.options.maxTokensPerRequest);
    if (!rateLimited) return null;
    const policy = this.ratePolicy();
    const decision = await this.limiter.consume(`ai:${organizationId}`, policy);
    if (!decision.allowed) throw new AiRateLimitedError(decision, policy);
    return decision;
  }

  /** Whether the endpoint's answer is cached for this request. */
  caches(endpoint: AiEndpoint, wanted: boolean | undefined): boolean {
    return wanted ?? this.options.cachedEndpoints.includes(endpoint);
  }

  async run<T>(call: AiCall<T>): Promise<Answered<T>> {
    try {
      const answered = await this.answer(call);
      this.metrics?.aiRequests.inc({ endpoint: call.endpoint, outcome: answered.cache === 'hit' ? 'cached' : 'answered' });
      return answered;
    } catch (err) {
      this.metrics?.aiRequests.inc({ endpoint: call.endpoint, outcome: outcomeOf(err) });
      throw err;
    }
  }

  private async answer<T>(call: AiCall<T>): Promise<Answered<T>> {
    const measured = this.metrics?.layer('ai_gateway');
    let rateLimit: RateLimitDecision | null;
    try {
      rateLimit = await this.admit(call.organizationId, call.tokens, call.rateLimited ?? true);
    } finally {
      measured?.();
    }
    const cacheKey =
      call.cacheRequest !== null && this.caches(call.endpoint, call.cacheWanted)
        ? this.cache.keyOf({
            organizationId: call.organizationId,
            endpoint: call.endpoint,
            prompt: call.prompt,
            alias: call.alias,
            request: call.cacheRequest,
          })
        : null;
    if (cacheKey) {
      const hit = await this.cache.get<{ result: T; served: Served }>(cacheKey);
      if (hit) {
        return { ...hit, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 }, prompt: call.prompt, cache: 'hit', rateLimit };
      }
    }
    const usage = await this.ledger.admit(call.organizationId, call.context.now);
    const outcome = await this.invoking(call.invoke);
    await this.record(call, usage.streamId, outcome);
    if (cacheKey) await this.cache.set(cacheKey, { result: outcome.result, served: outcome.served });
    return {
      result: outcome.result,
      served: outcome.served,
      usage: { ...outcome.usage, totalTokens: outcome.usage.promptTokens + outcome.usage.completionTokens },
      prompt: call.prompt,
      cache: cacheKey ? 'miss' : 'off',
      rateLimit,
    };
  }

  /**
   * Work NexusFlow does for the organization in the background (the embedder): the switch and the monthly
   * allowance apply and the usage is recorded, but not the per-minute request limit (meant for people and
   * clients; the embedder batches) nor the per-request size (its batches are sized by it).
   */
  async background<T>(call: Pick<AiCall<T>, 'context' | 'organizationId' | 'endpoint' | 'prompt' | 'invoke'>): Promise<CallOutcome<T>> {
    await this.admit(call.organizationId, 0, false);
    const usage = await this.ledger.admit(call.organizationId, call.context.now);
    const outcome = await this.invoking(call.invoke);
    await this.record(call, usage.streamId, outcome);
    return outcome;
  }

  /**
   * A streamed chat: the same checks, then the pieces as they come; the usage is recorded when the stream
   * ends, from the provider's own count (its final chunk), or, when the stream was cut short before it (the
   * client left, the provider broke off), from our count of the prompt and of the text that came, marked
   * `estimated`. Never cached.
   */
  async *stream(
    call: Omit<AiCall<never>, 'invoke' | 'cacheRequest'> & {
      open: () => Promise<{ served: Served; chunks: AsyncIterable<ChatChunk> }>;
      /** Counts the completion's text when the provider did not (a stream cut short). */
      countCompletion: (text: string) => number;
      promptTokens: number;
    },
    started: (served: Served, rateLimit: RateLimitDecision | null, prompt: string) => void,
  ): AsyncGenerator<ChatChunk> {
    let opened: { served: Served; chunks: AsyncIterable<ChatChunk> };
    let rateLimit: RateLimitDecision | null;
    let usage: Awaited<ReturnType<AiUsageLedger['admit']>>;
    try {
      rateLimit = await this.admit(call.organizationId, call.tokens);
      usage = await this.ledger.admit(call.organizationId, call.context.now);
      opened = await call.open();
    } catch (err) {
      this.metrics?.aiRequests.inc({ endpoint: call.endpoint, outcome: outcomeOf(err) });
      throw err;
    }
    this.metrics?.aiRequests.inc({ endpoint: call.endpoint, outcome: 'answered' });
    const { served, chunks } = opened;
    started(served, rateLimit, call.prompt);
    let text = '';
    let done: Extract<ChatChunk, { type: 'done' }> | null = null;
    try {
      for await (const chunk of chunks) {
        if (chunk.type === 'delta') text += chunk.text;
        else done = chunk;
        yield chunk;
      }
    } finally {
      const outcome: CallOutcome<null> = done
        ? { result: null, served: { ...served, model: done.model || served.model }, usage: done.usage, streamed: true }
        : {
            result: null,
            served,
            usage: { promptTokens: call.promptTokens, completionTokens: call.countCompletion(text) },
            streamed: true,
            estimated: true,
          };
      await this.record(call, usage.streamId, outcome);
    }
  }

  /** The organization's AI usage in its current period, with the allowance (the console, GET /ai/usage). */
  usage(organizationId: string, now = new Date()) {
    return this.ledger.usage(organizationId, now);
  }

  /** The provider call, timed as an outbound request to `ai`. */
  private async invoking<T>(invoke: () => Promise<CallOutcome<T>>): Promise<CallOutcome<T>> {
    const timer = this.metrics?.outboundDuration.startTimer({ target: 'ai' });
    let outcome = 'failed';
    try {
      const answered = await invoke();
      outcome = answered.served.offline ? 'offline' : 'ok';
      return answered;
    } finally {
      timer?.({ outcome });
    }
  }

  private async record(
    call: Pick<AiCall<unknown>, 'context' | 'organizationId' | 'endpoint' | 'prompt'>,
    streamId: string,
    outcome: CallOutcome<unknown>,
  ) {
    if (outcome.served.offline) return;
    const { promptTokens, completionTokens } = outcome.usage;
    const cost = costMicros(outcome.served.model, promptTokens, completionTokens);
    this.metrics?.aiTokens.inc({ endpoint: call.endpoint, provider: outcome.served.provider, kind: 'prompt' }, promptTokens);
    this.metrics?.aiTokens.inc({ endpoint: call.endpoint, provider: outcome.served.provider, kind: 'completion' }, completionTokens);
    await this.ledger.record(call.context, streamId, {
      organizationId: call.organizationId,
      tokens: promptTokens + completionTokens,
      promptTokens,
      completionTokens,
      model: outcome.served.model,
      provider: outcome.served.provider,
      endpoint: call.endpoint,
      promptVersion: call.prompt,
      ...(cost !== null ? { costMicros: cost } : {}),
      ...(outcome.streamed ? { streamed: true } : {}),
      ...(outcome.estimated ? { estimated: true } : {}),
    });
  }

  private ratePolicy(): RateLimitPolicy {
    return { limit: this.options.requestsPerMinute, windowMs: 60_000 };
  }
}

/** A refusal's or failure's label in nexusflow_ai_requests_total. */
function outcomeOf(err: unknown): string {
  if (err instanceof DomainError) return err.code;
  const name = (err as { name?: string } | null)?.name;
  if (name === 'AiProviderUnavailable') return 'unavailable';
  if (name === 'AiRequestRejected') return 'rejected';
  if (name === 'AiInvalidAnswerError') return 'invalid_answer';
  return 'failed';
}
