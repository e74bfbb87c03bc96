/**
 * The AI service's port to a model provider (issue 22): an OpenAI-compatible server through the `openai`
 * library (infra/ai/openai-provider.ts), or the offline provider when no key is configured
 * (infra/ai/offline-provider.ts), which answers deterministically and says so.
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  /** `json`: the answer must be one JSON object (OpenAI's json_object response format). */
  responseFormat?: 'text' | 'json';
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface ChatAnswer {
  content: string;
  /** The model that answered, as the provider names it. */
  model: string;
  usage: TokenUsage;
  finishReason: string;
}

/** A streamed answer: pieces of text, then (last) the usage the provider counted for the whole call. */
export type ChatChunk = { type: 'delta'; text: string } | { type: 'done'; model: string; usage: TokenUsage; finishReason: string };

export interface EmbedAnswer {
  vectors: number[][];
  model: string;
  usage: { promptTokens: number };
}

export interface ModelInfo {
  id: string;
  ownedBy: string;
}

export interface CallOptions {
  /** Gives up (AiProviderUnavailable, retryable) when the provider has not answered within this. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface AiProvider {
  /** The routing table's name for it (`openai`, `fallback`, `offline`). */
  readonly name: string;
  /** True for the offline provider: every answer is labelled so. */
  readonly offline: boolean;
  chat(request: ChatRequest, options?: CallOptions): Promise<ChatAnswer>;
  chatStream(request: ChatRequest, options?: CallOptions): AsyncIterable<ChatChunk>;
  embed(inputs: string[], model: string, options?: CallOptions): Promise<EmbedAnswer>;
  models(options?: CallOptions): Promise<ModelInfo[]>;
}

/**
 * The provider could not answer now (5xx, 429, a timeout, the connection): another provider may, or this one
 * later (`retryAfterMs` when it said).
 */
export class AiProviderUnavailable extends Error {
  constructor(
    readonly provider: string,
    message: string,
    readonly status: number | null,
    readonly retryAfterMs: number | null = null,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'AiProviderUnavailable';
  }
}

/** The provider refused the request itself (4xx other than 429): another provider would refuse it too. */
export class AiRequestRejected extends Error {
  constructor(
    readonly provider: string,
    message: string,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'AiRequestRejected';
  }
}
