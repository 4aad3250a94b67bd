// Where the daemon keeps verified app versions and files: on disk in the data dir, by hash,
// written durably. volunteer-core/app-cache.ts fetches and verifies them.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../common/durable-file.js';
import type { SignedAppVersion } from '../protocol/verify.js';
import type { AppStore } from '../volunteer-core/app-cache.js';

export function fileAppStore(dataDir: string): AppStore {
  const filesDir = join(dataDir, 'files');
  const versionsDir = join(dataDir, 'app-versions');
  mkdirSync(filesDir, { recursive: true });
  mkdirSync(versionsDir, { recursive: true });
  const read = (path: string) => (existsSync(path) ? readFileSync(path) : undefined);
  return {
    async appVersion(bundleHash) {
      const text = read(join(versionsDir, `${bundleHash}.json`));
      return text === undefined ? undefined : (JSON.parse(text.toString('utf8')) as SignedAppVersion); // checked by the cache
    },
    async saveAppVersion(bundleHash, doc) {
      writeFileDurably(join(versionsDir, `${bundleHash}.json`), JSON.stringify(doc));
    },
    async file(sha256) {
      const bytes = read(join(filesDir, sha256));
      return bytes === undefined ? undefined : new Uint8Array(bytes);
    },
    async saveFile(sha256, bytes) {
      writeFileDurably(join(filesDir, sha256), bytes);
    },
  };
}
