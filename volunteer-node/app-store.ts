// Where the daemon keeps verified app versions and files: on disk in the data dir, by hash,
// written durably; a file's modification time is its last use (atime is often not kept).
// volunteer-core/app-cache.ts fetches and verifies them, and keeps them within the budget.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../common/durable-file.js';
import type { SignedAppVersion } from '../protocol/verify.js';
import type { AppStore } from '../volunteer-core/app-cache.js';
import type { CacheEntry, CacheKind } from '../volunteer-core/cache-budget.js';

const NAME: Record<CacheKind, RegExp> = { version: /^([0-9a-f]{64})\.json$/, file: /^([0-9a-f]{64})$/ };

export function fileAppStore(dataDir: string): AppStore {
  const dirs: Record<CacheKind, string> = { version: join(dataDir, 'app-versions'), file: join(dataDir, 'files') };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  const path = (kind: CacheKind, key: string) => join(dirs[kind], kind === 'version' ? `${key}.json` : key);
  const read = (p: string) => (existsSync(p) ? readFileSync(p) : undefined);
  return {
    async appVersion(bundleHash) {
      const text = read(path('version', bundleHash));
      return text === undefined ? undefined : (JSON.parse(text.toString('utf8')) as SignedAppVersion); // checked by the cache
    },
    async saveAppVersion(bundleHash, doc) {
      writeFileDurably(path('version', bundleHash), JSON.stringify(doc));
    },
    async file(sha256) {
      const bytes = read(path('file', sha256));
      return bytes === undefined ? undefined : new Uint8Array(bytes);
    },
    async saveFile(sha256, bytes) {
      writeFileDurably(path('file', sha256), bytes);
    },
    async entries() {
      const out: CacheEntry[] = [];
      for (const kind of ['version', 'file'] as const) {
        for (const name of readdirSync(dirs[kind])) {
          const key = NAME[kind].exec(name)?.[1];
          const p = join(dirs[kind], name);
          // Anything else is a temporary file of a write a crash interrupted (writes here are synchronous).
          if (key === undefined) rmSync(p, { force: true });
          else {
            const st = statSync(p, { throwIfNoEntry: false });
            if (st) out.push({ kind, key, bytes: st.size, usedAt: st.mtimeMs });
          }
        }
      }
      return out;
    },
    async touch(kind, key) {
      const now = new Date();
      try {
        utimesSync(path(kind, key), now, now);
      } catch {
        // gone meanwhile: nothing to mark
      }
    },
    async remove(kind, key) {
      rmSync(path(kind, key), { force: true });
    },
  };
}
