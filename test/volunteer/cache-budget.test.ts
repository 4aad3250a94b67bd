// The app cache's budget (volunteer-core/cache-budget.ts): least recently used first, never
// what a held task needs, and nothing stored that cannot fit.
import { describe, expect, it } from 'vitest';
import { entryId, planEviction, type CacheEntry } from '../../volunteer-core/cache-budget.js';

const file = (key: string, bytes: number, usedAt: number): CacheEntry => ({ kind: 'file', key, bytes, usedAt });
const keys = (p: { evict: CacheEntry[] }) => p.evict.map((e) => e.key);

describe('planEviction', () => {
  const cache = [file('a', 40, 3), file('b', 30, 1), file('c', 20, 2), { kind: 'version' as const, key: 'v', bytes: 5, usedAt: 0 }];

  it('evicts nothing while the incoming entry fits', () => {
    expect(planEviction(cache, new Set(), 100, 5)).toEqual({ evict: [], fits: true });
  });

  it('evicts the least recently used first, only as many as needed', () => {
    expect(keys(planEviction(cache, new Set(), 100, 10))).toEqual(['v']);
    expect(keys(planEviction(cache, new Set(), 100, 40))).toEqual(['v', 'b']);
    expect(planEviction(cache, new Set(), 100, 40).fits).toBe(true);
  });

  it('never evicts what a held task needs', () => {
    const inUse = new Set([entryId('file', 'b'), entryId('version', 'v')]);
    const p = planEviction(cache, inUse, 100, 40);
    expect(keys(p)).toEqual(['c', 'a']);
    expect(p.fits).toBe(true);
  });

  it('stores nothing that cannot fit, and then only brings the cache back within its budget', () => {
    const inUse = new Set([entryId('file', 'a')]);
    expect(planEviction(cache, inUse, 100, 80)).toEqual({ evict: [], fits: false }); // 95 bytes: within budget already
    expect(planEviction(cache, inUse, 60, 1000)).toEqual({ evict: [cache[3], cache[1]], fits: false }); // 95 → 60
    expect(planEviction([], new Set(), 10, 11)).toEqual({ evict: [], fits: false });
  });

  it('breaks ties in use time by key, so the plan is the same every time', () => {
    const tied = [file('y', 10, 5), file('x', 10, 5)];
    expect(keys(planEviction(tied, new Set(), 15, 0))).toEqual(['x']);
  });
});
