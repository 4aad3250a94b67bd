import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalEncodingError } from '../../protocol/canonical.js';
import { jsonHash } from '../../protocol/hash.js';

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops white space', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('orders keys by UTF-16 code units, as RFC 8785 does', () => {
    expect(canonicalJson({ é: 1, z: 2, A: 3, '': 4 })).toBe('{"":4,"A":3,"z":2,"é":1}');
  });

  it('encodes numbers as ECMAScript does, with -0 as 0', () => {
    expect(canonicalJson([1.5, 1e21, 1e-7, -0, 100])).toBe('[1.5,1e+21,1e-7,0,100]');
  });

  it('makes equal values hash equal whatever their key order', () => {
    expect(jsonHash({ x: 1, y: [1, 2] })).toBe(jsonHash({ y: [1, 2], x: 1 }));
    expect(jsonHash({ x: 1 })).not.toBe(jsonHash({ x: 2 }));
  });

  it('omits undefined members like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it.each([
    ['NaN', { v: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a function', { f: () => 1 }],
    ['a Date', { d: new Date(0) }],
    ['a bigint', { n: 10n }],
  ])('refuses %s with a clear error', (_what, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalEncodingError);
  });

  it('refuses nesting deeper than 64 levels', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/nesting deeper/);
  });
});
