import { wordsOf } from './feature-hashing.ts';

/**
 * The offline sentiment (no provider configured): counts words from short lists of positive and negative
 * ones, a negation ("not", "no", "never", "n't") just before a word turning it round. It reads words, not
 * meaning, and says so in every answer (`offline`).
 */
const POSITIVE = new Set([
  'good',
  'great',
  'excellent',
  'love',
  'like',
  'thanks',
  'thank',
  'happy',
  'glad',
  'interested',
  'yes',
  'perfect',
  'awesome',
  'helpful',
  'appreciate',
  'pleased',
  'wonderful',
  'fantastic',
  'nice',
  'agree',
  'excited',
  'sure',
]);
const NEGATIVE = new Set([
  'bad',
  'terrible',
  'awful',
  'hate',
  'angry',
  'unhappy',
  'disappointed',
  'problem',
  'issue',
  'broken',
  'refund',
  'cancel',
  'unsubscribe',
  'spam',
  'stop',
  'wrong',
  'worst',
  'annoyed',
  'frustrated',
  'complaint',
  'poor',
  'slow',
]);
const NEGATIONS = new Set(['not', 'no', 'never', 'dont', 'doesnt', 'didnt', 'isnt', 'wasnt', 'cant', 'wont']);

export type SentimentLabel = 'positive' | 'negative' | 'neutral';

export interface Sentiment {
  label: SentimentLabel;
  /** From -1 (all negative) to 1 (all positive). */
  score: number;
  /** The words that counted, as read (negated ones prefixed with "not "). */
  evidence: string[];
}

export function keywordSentiment(text: string): Sentiment {
  // "don't" reads as "don" "t": joined first, so the negation is seen.
  const words = wordsOf(text.replace(/n['’]t\b/gi, 'nt'));
  let positive = 0;
  let negative = 0;
  const evidence: string[] = [];
  words.forEach((word, i) => {
    const polarity = POSITIVE.has(word) ? 1 : NEGATIVE.has(word) ? -1 : 0;
    if (polarity === 0) return;
    const negated = i > 0 && NEGATIONS.has(words[i - 1]!);
    const counted = negated ? -polarity : polarity;
    if (counted > 0) positive += 1;
    else negative += 1;
    evidence.push(negated ? `not ${word}` : word);
  });
  const total = positive + negative;
  const score = total === 0 ? 0 : (positive - negative) / total;
  const label: SentimentLabel = score > 0.2 ? 'positive' : score < -0.2 ? 'negative' : 'neutral';
  return { label, score: Math.round(score * 100) / 100, evidence };
}
