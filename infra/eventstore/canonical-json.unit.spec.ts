import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalJson } from './hash-chain.ts';

/** The first, plain-spoken version: every chain already stored was hashed with its output. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : reference(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

describe('Canonical JSON (what the hash chain hashes)', () => {
  it('gives exactly the text stored chains were hashed with, for any JSON value (keys in any order, undefined left out)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.anything({ maxDepth: 3, withUndefined: true } as never), (json, anything) => {
        expect(canonicalJson(json)).to.equal(reference(json));
        expect(canonicalJson(anything)).to.equal(reference(anything));
      }),
      { numRuns: 2_000 },
    );
    expect(canonicalJson({ b: 1, a: [undefined, { d: undefined, c: 'x' }] })).to.equal('{"a":[null,{"c":"x"}],"b":1}');
  });

  it('gives the reference text for values JSON.stringify writes differently (dates, boxed values, integer-like keys, toJSON)', () => {
    const exotic = fc.anything({
      maxDepth: 3,
      withUndefined: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withBoxedValues: true,
      withNullPrototype: true,
      withObjectString: true,
      withTypedArray: true,
      withUnicodeString: true,
    } as never);
    fc.assert(
      fc.property(exotic, (anything) => {
        expect(canonicalJson(anything)).to.equal(reference(anything));
      }),
      { numRuns: 2_000 },
    );
    const cases: unknown[] = [
      { 10: 'a', 2: 'b', x: 1 },
      { b: { 1: true, a: [new Date(0)] }, a: null },
      JSON.parse('{"__proto__": {"b": 1, "a": 2}, "z": 0}'),
      { toJSON: () => 'replaced', a: 1 },
      Object.assign([1, 2], { toJSON: () => 'replaced' }),
      { a: () => 1, b: Symbol('s'), c: [() => 1, Symbol('t'), undefined] },
      new Number(3),
      new String('ab'),
    ];
    for (const value of cases) expect(canonicalJson(value)).to.equal(reference(value));
    // Holes write null, as they always did here (the reference's map and join would leave them empty).
    const holes: unknown[] = [];
    holes[1] = 1;
    holes[3] = 2;
    expect(canonicalJson(holes)).to.equal('[null,1,null,2]');
  });
});
