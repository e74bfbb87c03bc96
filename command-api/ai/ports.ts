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

export interface EmbedOptions extends CallOptions {
  /** A shorter vector, for models that make one on request (OpenAI's text-embedding-3); absent: the model's own. */
  dimensions?: number;
}

export interface AiProvider {
  /** The routing table's name for it (`openai`, `fallback`, `offline`). */
  readonly name: string;
  /** True for the offline provider: every answer is labelled so. */
  readonly offline: boolean;
  chat(request: ChatRequest, options?: CallOptions): Promise<ChatAnswer>;
  chatStream(request: ChatRequest, options?: CallOptions): AsyncIterable<ChatChunk>;
  embed(inputs: string[], model: string, options?: EmbedOptions): Promise<EmbedAnswer>;
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

/**
 * The embeddings of a tenant's records (contacts, sent emails), for similarity search (issue 22). Rows live
 * in the read models' table `ai_embeddings`: the embeddings projection writes what is to be embedded (the
 * minimal text, its hash) in its batch's transaction and deletes the row when the record is erased; the
 * embedder fills in vectors. Two engines behind this one port, one contract suite: pgvector (the database's
 * own exact distance operator, where the extension exists) and an exact cosine scan in this process.
 */
export interface EmbeddingToMake {
  organizationId: string;
  kind: string;
  itemId: string;
  text: string;
  textHash: string;
}

export interface StoredVector {
  organizationId: string;
  kind: string;
  itemId: string;
  /** Stored only if the row still holds this text (it may have changed or been erased meanwhile). */
  textHash: string;
  model: string;
  vector: number[];
}

export interface VectorMatch {
  itemId: string;
  /** Cosine similarity, 1 for the same direction. */
  score: number;
}

export interface VectorIndex {
  /** Which engine answers searches: `pgvector`, or `scan` (exact cosine over the tenant's vectors, in this process). */
  readonly engine: 'pgvector' | 'scan';
  /** Rows whose vector is missing or made from an older text, oldest first, at most `limit`. */
  pending(limit: number, options?: { organizationIds?: string[]; excludeOrganizationIds?: string[] }): Promise<EmbeddingToMake[]>;
  /** Stores vectors; a row whose text hash moved on (or that is gone) is left alone. Answers how many were stored. */
  store(vectors: StoredVector[]): Promise<number>;
  /** The `limit` nearest rows of one organization and kind, by cosine similarity, among vectors of `model` only. */
  search(query: { organizationId: string; kind: string; model: string; vector: number[]; limit: number }): Promise<VectorMatch[]>;
  /** How many rows the organization has of the kind, and how many carry a current vector of `model`. */
  coverage(organizationId: string, kind: string, model: string): Promise<{ items: number; embedded: number }>;
}
