/**
 * List prices of OpenAI's models, in US dollars per million tokens (input, output), as published on
 * openai.com/api/pricing when this was written. A model answers with its dated name (`gpt-4o-mini-2024-07-18`):
 * the longest listed name it starts with is its price. A model not listed (another vendor's, a newer one) has
 * no known cost: the usage event then leaves `costMicros` out rather than record a guess.
 */
const perMillion: Record<string, { input: number; output: number }> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },
};

const names = Object.keys(perMillion).sort((a, b) => b.length - a.length);

/** The call's list price in millionths of a dollar (a price per million tokens is micro-dollars per token), or null. */
export function costMicros(model: string, promptTokens: number, completionTokens: number): number | null {
  const name = names.find((known) => model === known || model.startsWith(`${known}-`));
  if (!name) return null;
  const price = perMillion[name]!;
  return Math.round(promptTokens * price.input + completionTokens * price.output);
}
