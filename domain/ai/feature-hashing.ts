import { hash } from 'node:crypto';

/**
 * The offline embedding (no provider configured): feature hashing of a text's words and word pairs into a
 * fixed number of dimensions, signed by a second hash bit and normalised to unit length. Deterministic and
 * honest about what it is: texts sharing words land near each other; it knows no synonyms or meaning.
 */
export const OFFLINE_EMBEDDING_DIMENSIONS = 256;

/** Lower-cased words of letters and digits (any script), the unit the offline embedding and sentiment read. */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function bucketOf(feature: string, dimensions: number): { index: number; sign: 1 | -1 } {
  const digest = hash('sha256', feature, 'buffer');
  return { index: digest.readUInt32BE(0) % dimensions, sign: (digest[4]! & 1) === 0 ? 1 : -1 };
}

export function hashedEmbedding(text: string, dimensions = OFFLINE_EMBEDDING_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const words = wordsOf(text);
  const features = [...words, ...words.slice(1).map((word, i) => `${words[i]} ${word}`)];
  for (const feature of features) {
    const { index, sign } = bucketOf(feature, dimensions);
    vector[index]! += sign;
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((value) => value / norm);
}

/** Cosine similarity of two vectors of one length (0 when either is all zeros). */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`vectors of ${a.length} and ${b.length} dimensions cannot be compared`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
