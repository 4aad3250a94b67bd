// Content-addressed files on disk (app files, large inputs and outputs), indexed in the database.
// The files directory may be shared by several instances (--files-dir on a shared mount): a file
// is only ever written whole under its hash, by rename, so two instances storing the same bytes
// store the same file; what is in tmp/ may be another instance's upload in progress.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const HASH = /^[0-9a-f]{64}$/;

/**
 * A temp file nothing wrote to for this long is a crash's leftover, of this instance or another.
 * An upload in progress writes as its body comes (one that stalls is cut by --body-timeout-ms,
 * 30 s by default), and bytes received wait in their temp file only for the transaction that
 * keeps them: a day is far beyond both, and leftovers still go.
 */
export const STALE_TEMP_MS = 24 * 3_600_000;

/** The files directory unless --files-dir names another: `files/` in the data dir. */
export function filesDirOf(o: { dataDir: string; filesDir?: string | undefined }): string {
  return resolve(o.filesDir ?? join(o.dataDir, 'files'));
}

/** Where the blob `sha256` lives under a blob root (the files directory); only ever built from a validated hash. */
export function blobPath(root: string, sha256: string): string {
  if (!HASH.test(sha256)) throw new Error('not a SHA-256 hex digest');
  return join(root, sha256.slice(0, 2), sha256);
}

export class BlobStore {
  /** The files directory, absolute. */
  readonly root: string;
  private readonly tmp: string;

  constructor(root: string) {
    // Absolute: files are sent with res.sendFile, which refuses a relative path (--data-dir ./data).
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.tmp = join(this.root, 'tmp');
    mkdirSync(this.tmp, { recursive: true, mode: 0o700 });
    // Not the whole of tmp/: another instance sharing the files may be receiving an upload.
    this.removeStaleTemps();
  }

  /**
   * Removes the temp files nothing wrote to for STALE_TEMP_MS: bytes of uploads a crash cut
   * short, none of them recorded. At start, and now and then (an instance may run for months
   * while another's crash leaves its temp files). Returns how many it removed.
   */
  removeStaleTemps(now = Date.now()): number {
    let removed = 0;
    for (const name of readdirSync(this.tmp)) {
      const path = join(this.tmp, name);
      try {
        if (statSync(path).mtimeMs > now - STALE_TEMP_MS) continue;
        rmSync(path, { recursive: true, force: true });
        removed++;
      } catch (e) {
        // Kept or removed meanwhile by its instance, or by another one sweeping.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return removed;
  }

  /** A fresh path for bytes being received, on the blobs' own file system (so that adopt renames). */
  tempPath(): string {
    return join(this.tmp, `upload-${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Moves a complete, synced temp file into place as the blob `sha256` (whose hash the caller
   * checked); if the blob is already there the temp file goes. Synchronous, so that nothing
   * else on the event loop sees the blob half-stored.
   */
  adopt(tempPath: string, sha256: string): void {
    const path = this.pathOf(sha256);
    if (existsSync(path)) {
      unlinkSync(tempPath);
      return;
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    renameSync(tempPath, path);
    syncDir(dirname(path));
  }

  /** Deletes a blob, if it is there. */
  remove(sha256: string): void {
    rmSync(this.pathOf(sha256), { force: true });
  }

  static hash(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  /** Path of a blob; only ever built from a validated hash, so never outside the root. */
  pathOf(sha256: string): string {
    return blobPath(this.root, sha256);
  }

  has(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  /** Writes durably (fsync, then atomic rename) and returns the hash. Idempotent. */
  put(bytes: Uint8Array, expected?: string): string {
    const sha256 = BlobStore.hash(bytes);
    if (expected !== undefined && expected !== sha256) {
      throw new Error(`content hashes to ${sha256}, not ${expected}`);
    }
    if (existsSync(this.pathOf(sha256))) return sha256;
    // In tmp/, so that a crash's leftover is found and removed there.
    const tmp = this.tempPath();
    // Owner-only, as the whole data dir (files/data-dir.ts): inputs and results are researchers'.
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.adopt(tmp, sha256);
    return sha256;
  }

  read(sha256: string): Buffer {
    return readFileSync(this.pathOf(sha256));
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
