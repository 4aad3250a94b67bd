// How much of the volunteer's disk the app cache may take, and what goes when it is full:
// the entries used least recently that no held task needs. Pure: the stores list their
// entries and delete what the plan names.

export type CacheKind = 'version' | 'file';

/** An app version's signed manifest, or a file (an app file or a large input) by its SHA-256. */
export interface CacheEntry {
  kind: CacheKind;
  key: string;
  bytes: number;
  /** When a task last used it (ms since the epoch); 0 when unknown. */
  usedAt: number;
}

export const entryId = (kind: CacheKind, key: string) => `${kind}:${key}`;

export interface EvictionPlan {
  evict: CacheEntry[];
  /** Whether `incomingBytes` can be stored once `evict` is gone. */
  fits: boolean;
}

/**
 * What to delete so that the cache holds at most `maxBytes` with `incomingBytes` more, oldest
 * use first, never an entry in `inUse` (ids from entryId). If even that cannot make room, the
 * incoming entry is not to be stored (the task runs from memory), and the plan only brings
 * the cache back within its budget.
 */
export function planEviction(entries: readonly CacheEntry[], inUse: ReadonlySet<string>, maxBytes: number, incomingBytes: number): EvictionPlan {
  let total = entries.reduce((n, e) => n + e.bytes, 0);
  const candidates = entries
    .filter((e) => !inUse.has(entryId(e.kind, e.key)))
    .sort((a, b) => a.usedAt - b.usedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const evict: CacheEntry[] = [];
  let withinBudget: number | undefined; // how many evictions bring the cache itself within budget
  for (const e of [undefined, ...candidates]) {
    if (e) {
      evict.push(e);
      total -= e.bytes;
    }
    withinBudget ??= total <= maxBytes ? evict.length : undefined;
    if (total + incomingBytes <= maxBytes) return { evict, fits: true };
  }
  return { evict: evict.slice(0, withinBudget ?? evict.length), fits: false };
}
