// Content-addressed files on disk (app files, large inputs and outputs), indexed in SQLite.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const HASH = /^[0-9a-f]{64}$/;

export class BlobStore {
  constructor(private readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  static hash(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  /** Path of a blob; only ever built from a validated hash, so never outside the root. */
  pathOf(sha256: string): string {
    if (!HASH.test(sha256)) throw new Error('not a SHA-256 hex digest');
    return join(this.root, sha256.slice(0, 2), sha256);
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
    const path = this.pathOf(sha256);
    if (existsSync(path)) return sha256;
    // Owner-only, as the whole data dir (files/data-dir.ts): inputs and results are researchers'.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    return sha256;
  }

  read(sha256: string): Buffer {
    return readFileSync(this.pathOf(sha256));
  }
}
