// Where the page keeps verified app versions and files: IndexedDB, by hash.
// volunteer-core/app-cache.ts fetches and verifies them.
import type { SignedAppVersion } from '../../protocol/verify.js';
import type { AppStore } from '../../volunteer-core/app-cache.js';
import type { Idb } from './idb.js';

export function idbAppStore(db: Idb): AppStore {
  return {
    appVersion: (bundleHash) => db.get<SignedAppVersion>('appVersions', bundleHash),
    saveAppVersion: (bundleHash, doc) => db.put('appVersions', bundleHash, doc),
    file: async (sha256) => {
      const bytes = await db.get<unknown>('files', sha256);
      return bytes instanceof Uint8Array ? bytes : undefined;
    },
    saveFile: (sha256, bytes) => db.put('files', sha256, bytes),
  };
}
