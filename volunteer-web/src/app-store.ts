// Where the page keeps verified app versions and files: IndexedDB, by hash, with an index of
// each one's size and last use for the cache's budget. volunteer-core/app-cache.ts fetches and
// verifies them, and keeps them within the budget.
import type { SignedAppVersion } from '../../protocol/verify.js';
import type { AppStore } from '../../volunteer-core/app-cache.js';
import type { CacheEntry, CacheKind } from '../../volunteer-core/cache-budget.js';
import type { Idb, StoreName } from './idb.js';

const STORE: Record<CacheKind, StoreName> = { version: 'appVersions', file: 'files' };

interface IndexRecord {
  bytes: number;
  usedAt: number;
}

const sizeOf = (value: unknown) => (value instanceof Uint8Array ? value.length : new TextEncoder().encode(JSON.stringify(value) ?? '').length);

export function idbAppStore(db: Idb): AppStore {
  const save = (kind: CacheKind, key: string, value: unknown) =>
    db.putAll([
      [STORE[kind], key, value],
      ['cacheIndex', [kind, key], { bytes: sizeOf(value), usedAt: Date.now() } satisfies IndexRecord],
    ]);
  return {
    appVersion: (bundleHash) => db.get<SignedAppVersion>('appVersions', bundleHash),
    saveAppVersion: (bundleHash, doc) => save('version', bundleHash, doc),
    file: async (sha256) => {
      const bytes = await db.get<unknown>('files', sha256);
      return bytes instanceof Uint8Array ? bytes : undefined;
    },
    saveFile: (sha256, bytes) => save('file', sha256, bytes),
    async entries() {
      const index = new Map((await db.entries<IndexRecord>('cacheIndex')).map(([k, v]) => [String(k), v]));
      const out: CacheEntry[] = [];
      for (const kind of ['version', 'file'] as const) {
        for (const key of await db.keys(STORE[kind])) {
          if (typeof key !== 'string') continue;
          let record = index.get(String([kind, key]));
          if (!record) {
            // Kept before the page had a budget: measured once, and oldest of all.
            record = { bytes: sizeOf(await db.get<unknown>(STORE[kind], key)), usedAt: 0 };
            await db.put('cacheIndex', [kind, key], record);
          }
          out.push({ kind, key, ...record });
        }
      }
      return out;
    },
    async touch(kind, key) {
      const record = await db.get<IndexRecord>('cacheIndex', [kind, key]);
      if (record) await db.put('cacheIndex', [kind, key], { ...record, usedAt: Date.now() });
    },
    remove: (kind, key) => db.deleteAll([[STORE[kind], key], ['cacheIndex', [kind, key]]]),
  };
}
