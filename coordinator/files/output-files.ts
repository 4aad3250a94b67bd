// Which stored files may count as outputs: only bytes that are exactly the canonical JSON of a
// value. The results export copies an output file's bytes into the researcher's NDJSON, so
// anything else (a line break and a forged line, or bytes that are not JSON) would reach them.
// Uploads are checked as they arrive, before anything is stored; a file stored without that
// check (an app file, a large input, anything from before migration 7) is checked the first
// time a result or an export names it as an output, and the answer is kept.
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CanonicalJsonCheck } from '../../protocol/canonical-check.js';
import type { CatalogStore } from '../store/catalog.js';
import type { BlobStore } from './blob-store.js';

/** Checked a slice at a time: a 64 MiB body takes one or two seconds of CPU. */
const SLICE = 256 * 1024;

export type OutputFileStatus = 'canonical' | 'not_canonical' | 'missing';

export class OutputFiles {
  constructor(
    private readonly catalog: CatalogStore,
    private readonly blobs: BlobStore,
  ) {}

  /** What is wrong with an upload's bytes as an output, if anything; other work runs between slices. */
  static async uploadProblem(bytes: Uint8Array): Promise<string | undefined> {
    const check = new CanonicalJsonCheck();
    for (let at = 0; at < bytes.length; at += SLICE) {
      if (at > 0) await nextTurn();
      const problem = check.write(bytes.subarray(at, at + SLICE));
      if (problem !== undefined) return problem;
    }
    return check.end();
  }

  /** Stores an upload uploadProblem found nothing wrong with; throws if it does not hash to sha256. */
  storeUpload(bytes: Uint8Array, sha256: string, now: number): void {
    this.blobs.put(bytes, sha256);
    this.catalog.recordCanonicalFile(sha256, bytes.length, now);
  }

  /** Whether a stored file may count as an output. A file never checked is checked now, once. */
  status(sha256: string): OutputFileStatus {
    const canonical = this.catalog.fileCanonical(sha256);
    if (canonical === undefined) return 'missing';
    if (canonical === null) {
      const checked = this.checkStored(sha256);
      if (checked === undefined) return 'missing';
      this.catalog.setFileCanonical(sha256, checked);
      return checked ? 'canonical' : 'not_canonical';
    }
    return canonical ? 'canonical' : 'not_canonical';
  }

  pathOf(sha256: string): string {
    return this.blobs.pathOf(sha256);
  }

  /** Reads the file a slice at a time (never the whole of it at once); undefined if it is not there. */
  private checkStored(sha256: string): boolean | undefined {
    let fd: number;
    try {
      fd = openSync(this.blobs.pathOf(sha256), 'r');
    } catch {
      return undefined;
    }
    try {
      const check = new CanonicalJsonCheck();
      const buf = Buffer.alloc(SLICE);
      for (;;) {
        const n = readSync(fd, buf, 0, SLICE, null);
        if (n === 0) return check.end() === undefined;
        if (check.write(buf.subarray(0, n)) !== undefined) return false;
      }
    } finally {
      closeSync(fd);
    }
  }
}
