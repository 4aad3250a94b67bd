// The data dir is the coordinator's alone: its database holds password hashes, session and token
// hashes, every input and result; files/ the large ones; the key file the signing key. New files
// are made owner-only where they are created (the database in store/database.ts — SQLite gives
// its -wal and -shm the database file's mode —, blobs in blob-store.ts, the key in
// identity/coordinator-key.ts); this makes the directory owner-only and tightens what an older
// version (or a copy) left readable by others.
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Bits for group and others: none of them belong on anything in the data dir. */
const OTHERS = 0o077;

export interface DataDirModes {
  /** What was readable by others, and its mode now: `path 755→700`, relative to the data dir. */
  tightened: string[];
  /** What could not be changed (owned by another user): `path: reason`. */
  failed: string[];
}

/**
 * Creates the data dir (0700) if needed and takes group and other permissions off it and
 * everything in it. The dir itself goes first, so nobody else opens anything from then on; a
 * subdirectory goes last, after its contents, and one already closed to others is not walked
 * again — so a start after the first is a handful of stats, however many files are stored, and
 * a walk cut short is finished at the next start.
 */
export function secureDataDir(dir: string): DataDirModes {
  const result: DataDirModes = { tightened: [], failed: [] };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tighten = (path: string, mode: number) => {
    if ((mode & OTHERS) === 0) return;
    const to = mode & 0o777 & ~OTHERS;
    const name = relative(dir, path) || '.';
    try {
      chmodSync(path, to);
      result.tightened.push(`${name} ${(mode & 0o777).toString(8)}→${to.toString(8)}`);
    } catch (e) {
      result.failed.push(`${name}: ${(e as Error).message}`);
    }
  };
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      // Symbolic links are left alone: what they point to is not the data dir's to change.
      if (!entry.isDirectory() && !entry.isFile()) continue;
      const mode = statSync(child).mode;
      if (entry.isDirectory()) {
        if ((mode & OTHERS) === 0) continue;
        walk(child);
      }
      tighten(child, mode);
    }
  };
  tighten(dir, statSync(dir).mode);
  walk(dir);
  return result;
}
