import type { ChatMessage } from './ports.ts';

type CountTokens = (text: string) => number;

let loading: Promise<CountTokens> | null = null;

/**
 * The tokenizer of OpenAI's current models (o200k_base, through gpt-tokenizer), loaded on first use: it holds
 * ~30 MB of ranks that a process without AI requests (the command line) should not pay for.
 */
function tokenizer(): Promise<CountTokens> {
  loading ??= import('gpt-tokenizer/encoding/o200k_base').then((module) => module.countTokens as CountTokens);
  return loading;
}

/**
 * Counts what a request will take before it is sent (the per-request limit is checked on it, and a streamed
 * call cut short is charged from it). A chat message costs its content's tokens plus the 3 of its framing,
 * and every answer is primed with 3 more (OpenAI's published counting for its chat models); other providers
 * count a little differently, which the limit's margin absorbs.
 */
export class TokenCount {
  private constructor(private readonly count: CountTokens) {}

  static async load(): Promise<TokenCount> {
    return new TokenCount(await tokenizer());
  }

  text(text: string): number {
    return this.count(text);
  }

  texts(texts: readonly string[]): number {
    let total = 0;
    for (const text of texts) total += this.count(text);
    return total;
  }

  chat(messages: readonly ChatMessage[]): number {
    let total = 3;
    for (const message of messages) total += 3 + this.count(message.content);
    return total;
  }
}
