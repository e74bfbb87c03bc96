import { expect } from 'chai';
import { cosine, hashedEmbedding, OFFLINE_EMBEDDING_DIMENSIONS, wordsOf } from './feature-hashing.ts';
import { keywordSentiment } from './sentiment.ts';

describe('Offline AI: feature-hashed embeddings and keyword sentiment (no provider configured)', () => {
  it('embeds deterministically, at unit length, texts sharing words nearer than unrelated ones', () => {
    const a = hashedEmbedding('VP of Sales at Acme, interested in the enterprise plan');
    expect(a).to.have.length(OFFLINE_EMBEDDING_DIMENSIONS);
    expect(hashedEmbedding('VP of Sales at Acme, interested in the enterprise plan')).to.deep.equal(a);
    expect(Math.hypot(...a)).to.be.closeTo(1, 1e-9);
    const near = hashedEmbedding('Head of sales at Acme asking about the enterprise plan');
    const far = hashedEmbedding('Gardening tips for tomatoes in spring');
    expect(cosine(a, near)).to.be.greaterThan(cosine(a, far));
    expect(cosine(a, a)).to.be.closeTo(1, 1e-9);
  });

  it('gives an empty text a zero vector, and refuses to compare vectors of different lengths', () => {
    expect(hashedEmbedding('  ...  ').every((value) => value === 0)).to.equal(true);
    expect(cosine(hashedEmbedding(''), hashedEmbedding('sales'))).to.equal(0);
    expect(() => cosine([1, 0], [1, 0, 0])).to.throw(/2 and 3 dimensions/);
  });

  it('reads words in any script, lower-cased', () => {
    expect(wordsOf('Grüße aus Zürich — 東京 2026!')).to.deep.equal(['grüße', 'aus', 'zürich', '東京', '2026']);
  });

  it('labels positive, negative and neutral text by its words, a negation turning a word round, and shows its evidence', () => {
    expect(keywordSentiment('Thanks, this looks great and I am interested')).to.deep.include({ label: 'positive', score: 1 });
    expect(keywordSentiment('This is broken and I want a refund')).to.deep.include({ label: 'negative', score: -1 });
    expect(keywordSentiment('The meeting is on Tuesday at 10')).to.deep.equal({ label: 'neutral', score: 0, evidence: [] });
    const negated = keywordSentiment("I'm not happy and don't like it");
    expect(negated.label).to.equal('negative');
    expect(negated.evidence).to.deep.equal(['not happy', 'not like']);
  });
});
