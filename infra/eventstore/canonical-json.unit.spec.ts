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
});
