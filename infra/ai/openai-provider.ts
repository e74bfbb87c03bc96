import OpenAI from 'openai';
import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions';
import {
  AiProviderUnavailable,
  AiRequestRejected,
  type AiProvider,
  type CallOptions,
  type EmbedOptions,
  type ChatAnswer,
  type ChatChunk,
  type ChatRequest,
  type EmbedAnswer,
  type ModelInfo,
} from '../../command-api/ai/ports.ts';
import { retryAfterMs } from '../crm/rest/rest.ts';

export interface OpenAiProviderSettings {
  /** The routing table's name for this provider (`openai`, `fallback`, …). */
  name: string;
  apiKey: string;
  /** Any OpenAI-compatible server; the library's default (api.openai.com) when absent. */
  baseUrl?: string;
  /** Per call, unless the call says otherwise. */
  timeoutMs: number;
}

/**
 * A provider through the `openai` library: chat completions (streamed ones with `include_usage`, so their
 * tokens are counted exactly), embeddings, models. The library's own retries are off: the AI service's
 * router retries with back-off and falls back to another provider, and must see each failure. Failures are
 * sorted into "this provider cannot answer now" (5xx, 429 with its Retry-After, a timeout, the connection)
 * and "the request is refused" (other 4xx).
 */
export class OpenAiProvider implements AiProvider {
  readonly offline = false;
  readonly name: string;
  private readonly client: OpenAI;

  constructor(private readonly settings: OpenAiProviderSettings) {
    this.name = settings.name;
    this.client = new OpenAI({
      apiKey: settings.apiKey,
      ...(settings.baseUrl ? { baseURL: settings.baseUrl } : {}),
      timeout: settings.timeoutMs,
      maxRetries: 0,
    });
  }

  async chat(request: ChatRequest, options: CallOptions = {}): Promise<ChatAnswer> {
    const completion = await this.call(() =>
      this.client.chat.completions.create({ ...this.params(request), stream: false }, this.requestOptions(options)),
    );
    const choice = completion.choices[0];
    return {
      content: choice?.message.content ?? '',
      model: completion.model,
      usage: { promptTokens: completion.usage?.prompt_tokens ?? 0, completionTokens: completion.usage?.completion_tokens ?? 0 },
      finishReason: choice?.finish_reason ?? 'stop',
    };
  }

  async *chatStream(request: ChatRequest, options: CallOptions = {}): AsyncIterable<ChatChunk> {
    const stream = await this.call(() =>
      this.client.chat.completions.create(
        { ...this.params(request), stream: true, stream_options: { include_usage: true } },
        this.requestOptions(options),
      ),
    );
    let model = request.model;
    let finishReason = 'stop';
    let usage = { promptTokens: 0, completionTokens: 0 };
    try {
      for await (const chunk of stream) {
        model = chunk.model || model;
        const choice = chunk.choices[0];
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        if (choice?.delta.content) yield { type: 'delta', text: choice.delta.content };
        // The last chunk (include_usage) carries the whole call's usage and no choices.
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
      }
    } catch (err) {
      throw this.sorted(err);
    }
    yield { type: 'done', model, usage, finishReason };
  }

  async embed(inputs: string[], model: string, options: EmbedOptions = {}): Promise<EmbedAnswer> {
    const answer = await this.call(() =>
      this.client.embeddings.create(
        { model, input: inputs, ...(options.dimensions ? { dimensions: options.dimensions } : {}) },
        this.requestOptions(options),
      ),
    );
    const vectors = [...answer.data].sort((a, b) => a.index - b.index).map((item) => item.embedding);
    return { vectors, model: answer.model, usage: { promptTokens: answer.usage?.prompt_tokens ?? 0 } };
  }

  async models(options: CallOptions = {}): Promise<ModelInfo[]> {
    const models: ModelInfo[] = [];
    const page = await this.call(() => this.client.models.list(this.requestOptions(options)));
    for await (const model of page) models.push({ id: model.id, ownedBy: model.owned_by });
    return models;
  }

  private params(request: ChatRequest): ChatCompletionCreateParamsBase {
    return {
      model: request.model,
      messages: request.messages,
      ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.responseFormat === 'json' ? { response_format: { type: 'json_object' as const } } : {}),
    };
  }

  private requestOptions(options: CallOptions) {
    return { ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw this.sorted(err);
    }
  }

  private sorted(err: unknown): Error {
    if (err instanceof OpenAI.APIConnectionTimeoutError) return new AiProviderUnavailable(this.name, 'timed out', null);
    if (err instanceof OpenAI.APIUserAbortError) return err;
    if (err instanceof OpenAI.APIConnectionError) return new AiProviderUnavailable(this.name, `could not connect: ${err.message}`, null);
    if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
      if (err.status === 429 || err.status >= 500) {
        const headers = err.headers;
        const retryAfter = headers?.get('retry-after-ms')
          ? Number(headers.get('retry-after-ms'))
          : headers?.get('retry-after')
            ? retryAfterMs(headers.get('retry-after'), 0)
            : null;
        return new AiProviderUnavailable(this.name, err.message, err.status, Number.isFinite(retryAfter) ? retryAfter : null);
      }
      return new AiRequestRejected(this.name, err.message, err.status, (err as { code?: string | null }).code ?? null);
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}
