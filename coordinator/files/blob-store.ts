// Content-addressed files on disk (app files, large inputs and outputs), indexed in the database.
// The files directory may be shared by several instances (--files-dir on a shared mount): a file
// is only ever written whole under its hash, by rename, so two instances storing the same bytes
// store the same file; what is in tmp/ may be another instance's upload in progress.
//
// Invariant: a committed row of `files` has its blob on disk. The database is the referee
// between storing and removing the same bytes, on any instance: storing takes the file's row
// first and only then puts the blob in place (keep), in the transaction that records it; removing (files/output-collector.ts) takes the row, deletes it and unlinks the blob
// before it commits. Whichever takes the row second sees what the first did.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
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

/** Bytes on their way in: written to a temp file, or still in hand when their blob was stored already. */
export type Incoming = { sha256: string; temp: string } | { sha256: string; bytes: Uint8Array };

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
   * checked), over the blob if it is there already: the same bytes, replaced atomically (a
   * reader keeps what it opened). Not asked first whether it is there: on a shared mount the
   * answer may come from the client's cache, and say yes of a blob another instance removed.
   * Synchronous, so that nothing else on the event loop sees the blob half-stored.
   */
  adopt(tempPath: string, sha256: string): void {
    const path = this.pathOf(sha256);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    renameSync(tempPath, path);
    syncDir(dirname(path));
  }

  /** Deletes a blob, if it is there: only while holding its row, whose deletion has not committed (see the header). */
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

  /**
   * Writes bytes to a temp file, synced, for keep() to put in place: the slow part, outside any
   * transaction. Bytes whose blob is there already are not written again (an app version that
   * keeps most of its files); keep() writes them if it went meanwhile.
   */
  stage(bytes: Uint8Array): Incoming {
    const sha256 = BlobStore.hash(bytes);
    if (this.has(sha256)) return { sha256, bytes };
    return { sha256, temp: this.writeTemp(bytes) };
  }

  /**
   * Keeps incoming bytes as the blob of their hash, in the transaction that records them:
   * `record` writes the file's row, which holds it until this transaction ends; only then is the
   * blob put in place, so a removal of the same bytes has either finished (its unlink done) or
   * waits for this transaction.
   */
  async keep(incoming: Incoming, record: () => Promise<void>): Promise<void> {
    await record();
    if ('temp' in incoming) this.adopt(incoming.temp, incoming.sha256);
    else if (!this.opens(incoming.sha256)) this.adopt(this.writeTemp(incoming.bytes), incoming.sha256);
  }

  /**
   * Whether the blob is there, asked of the file system itself: opening a file revalidates what
   * an NFS client cached about it (close-to-open consistency), where a stat may be answered from
   * the cache.
   */
  private opens(sha256: string): boolean {
    try {
      closeSync(openSync(this.pathOf(sha256), 'r'));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Drops incoming bytes that were not kept (nothing if they were). */
  drop(incoming: Incoming): void {
    if ('temp' in incoming) rmSync(incoming.temp, { force: true });
  }

  /**
   * Writes durably (fsync, then atomic rename) and returns the hash. Idempotent. Outside a
   * transaction: for bytes no row names yet (tests, tools); the coordinator stores with keep().
   */
  put(bytes: Uint8Array, expected?: string): string {
    const sha256 = BlobStore.hash(bytes);
    if (expected !== undefined && expected !== sha256) {
      throw new Error(`content hashes to ${sha256}, not ${expected}`);
    }
    if (!this.has(sha256)) this.adopt(this.writeTemp(bytes), sha256);
    return sha256;
  }

  /** A new temp file holding the bytes, synced; in tmp/, where a crash's leftover is found and removed. */
  private writeTemp(bytes: Uint8Array): string {
    const tmp = this.tempPath();
    // Owner-only, as the whole data dir (files/data-dir.ts): inputs and results are researchers'.
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    return tmp;
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
