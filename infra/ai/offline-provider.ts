import type { AiProvider, ChatAnswer, ChatChunk, ChatRequest, EmbedAnswer, ModelInfo } from '../../command-api/ai/ports.ts';
import { hashedEmbedding, OFFLINE_EMBEDDING_DIMENSIONS, wordsOf } from '../../domain/ai/feature-hashing.ts';

export const OFFLINE_MODEL = 'offline';

/** What every offline answer says about itself (the API puts it in the answer's `offline` field). */
export const OFFLINE_NOTE =
  'No AI provider is configured (OPENAI_API_KEY): this answer is made by NexusFlow without a language model — ' +
  'templates, keyword sentiment and feature-hashed embeddings. Set OPENAI_API_KEY (and OPENAI_BASE_URL for any ' +
  'OpenAI-compatible server) for model answers.';

/**
 * The provider when no key is configured (the embedded default, tests): deterministic, instant, and honest.
 * A chat answer does not pretend to be a model's: it says what it is and what it was asked (the last user
 * message's first words). Embeddings are feature-hashed (domain/ai/feature-hashing.ts). Nothing is counted
 * as used: no provider's tokens were spent.
 */
export class OfflineAiProvider implements AiProvider {
  readonly name = 'offline';
  readonly offline = true;

  async chat(request: ChatRequest): Promise<ChatAnswer> {
    return { content: this.answer(request), model: OFFLINE_MODEL, usage: { promptTokens: 0, completionTokens: 0 }, finishReason: 'stop' };
  }

  async *chatStream(request: ChatRequest): AsyncIterable<ChatChunk> {
    const answer = await this.chat(request);
    for (const piece of answer.content.match(/\S+\s*/g) ?? []) yield { type: 'delta', text: piece };
    yield { type: 'done', model: answer.model, usage: answer.usage, finishReason: answer.finishReason };
  }

  async embed(inputs: string[]): Promise<EmbedAnswer> {
    return {
      vectors: inputs.map((input) => hashedEmbedding(input)),
      model: `${OFFLINE_MODEL}-hashing-${OFFLINE_EMBEDDING_DIMENSIONS}`,
      usage: { promptTokens: 0 },
    };
  }

  async models(): Promise<ModelInfo[]> {
    return [{ id: OFFLINE_MODEL, ownedBy: 'nexusflow' }];
  }

  private answer(request: ChatRequest): string {
    const asked = [...request.messages].reverse().find((message) => message.role === 'user')?.content ?? '';
    const words = wordsOf(asked);
    const gist = words.slice(0, 12).join(' ') + (words.length > 12 ? ' …' : '');
    if (request.responseFormat === 'json') return JSON.stringify({ offline: true, note: OFFLINE_NOTE, asked: gist });
    return `[offline] No language model answered this. You asked about: "${gist}". ${OFFLINE_NOTE}`;
  }
}
