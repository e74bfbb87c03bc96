import { expect } from 'chai';
import { isStorableText, storableText, textProblem, unstorableTextIn } from './text.ts';

describe('The text rule', () => {
  it('refuses NUL and the other control characters in every kind of field, but not tab', () => {
    for (const kind of ['single-line', 'free-text'] as const) {
      expect(textProblem('x\u0000', kind), kind).to.match(/control characters \(found U\+0000\)/);
      expect(textProblem('a\u001bb', kind), kind).to.match(/U\+001B/);
      expect(textProblem('a\u007fb', kind), kind).to.match(/U\+007F/);
      expect(textProblem('a\u009bb', kind), kind).to.match(/U\+009B/);
      expect(textProblem('a\tb', kind), kind).to.equal(null);
    }
  });

  it('refuses unpaired surrogates but keeps paired ones (emoji) and right-to-left text', () => {
    expect(textProblem('\ud800', 'free-text')).to.match(/unpaired surrogate/);
    expect(textProblem('a\udc00b', 'single-line')).to.match(/unpaired surrogate/);
    expect(textProblem('🚀 launch', 'single-line')).to.equal(null);
    expect(textProblem('שלום \u202eabc', 'single-line')).to.equal(null);
  });

  it('allows line breaks only in free text', () => {
    for (const text of ['a\r\nBcc: x@evil.test', 'a\nb', 'a\rb', 'a\u2028b', 'a\u0085b']) {
      expect(textProblem(text, 'single-line'), JSON.stringify(text)).to.match(/single line/);
      expect(textProblem(text, 'free-text'), JSON.stringify(text)).to.equal(null);
    }
  });

  it('says what no read model can store, anywhere in a value, keys included', () => {
    expect(isStorableText('a\u0001b')).to.equal(true); // PostgreSQL stores it; the edge refuses it
    expect(isStorableText('a\u0000b')).to.equal(false);
    expect(unstorableTextIn({ a: [1, { b: 'ok' }, { c: 'x\u0000' }] })).to.equal('a.2.c');
    expect(unstorableTextIn({ ['k\ud800']: 1 })).to.equal('k\ufffd');
    expect(unstorableTextIn({ a: 'fine', n: 1, t: true, z: null })).to.equal(null);
  });

  it('walks a value nested 100,000 deep without exhausting the stack', () => {
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(unstorableTextIn(deep)).to.match(/^0(\.0)+$/);
  });

  it('makes outside text storable', () => {
    expect(storableText('a\u0000b\ud800')).to.equal('a\ufffdb\ufffd');
    expect(isStorableText(storableText('\udfff\u0000'))).to.equal(true);
  });
});
