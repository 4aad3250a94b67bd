// Which stored files may count as outputs: only bytes that are exactly the canonical JSON of a
// value. The results export copies an output file's bytes into the researcher's NDJSON, so
// anything else (a line break and a forged line, or bytes that are not JSON) would reach them.
// Uploads are checked as they arrive, streamed to a temp file a piece at a time (never held in
// memory whole), and stored only if they pass; a file stored without that check (an app file, a
// large input, anything from before migration 7) is checked the first time a result or an export
// names it as an output, and the answer is kept.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { CanonicalJsonCheck } from '../../protocol/canonical-check.js';
import type { Repositories } from '../store/store.js';
import type { BlobStore } from './blob-store.js';

/** Checked a slice at a time: a 64 MiB body takes one or two seconds of CPU. */
const SLICE = 256 * 1024;

export type OutputFileStatus = 'canonical' | 'not_canonical' | 'missing';

/** Bytes received in full and checked, in a temp file, waiting to be kept or dropped. */
export interface Received {
  temp: string;
  size: number;
}

/** Why received bytes are not an output. */
export interface ReceiveProblem {
  code: 'bad_request' | 'too_large';
  message: string;
}

export class OutputFiles {
  constructor(private readonly blobs: BlobStore) {}

  /**
   * Receives an output's bytes as they arrive, into a temp file: at most `maxBytes`, exactly
   * the canonical JSON of a value (docs/protocol.md §1), hashing to `sha256`. Stops at the first
   * problem. A piece arrives at a time, so other work runs in between.
   */
  async receive(body: AsyncIterable<Uint8Array>, sha256: string, maxBytes: number): Promise<Received | ReceiveProblem> {
    const temp = this.blobs.tempPath();
    const file = await open(temp, 'w', 0o600);
    const check = new CanonicalJsonCheck();
    const hash = createHash('sha256');
    let size = 0;
    const fail = async (p: ReceiveProblem) => {
      await file.close();
      rmSync(temp, { force: true });
      return p;
    };
    const notCanonical = (problem: string): ReceiveProblem => ({
      code: 'bad_request',
      message: `the body is not canonical JSON (an output is uploaded as the exact bytes of its canonical JSON; docs/protocol.md §1): ${problem}`,
    });
    try {
      for await (const piece of body) {
        size += piece.length;
        if (size > maxBytes) return await fail({ code: 'too_large', message: `the output is larger than ${maxBytes} bytes (the coordinator's --max-output-bytes)` });
        for (let at = 0; at < piece.length; at += SLICE) {
          const problem = check.write(piece.subarray(at, at + SLICE));
          if (problem !== undefined) return await fail(notCanonical(problem));
        }
        hash.update(piece);
        await file.write(piece);
      }
    } catch (e) {
      // The body was cut off, or the disk failed: nothing is kept.
      await file.close().catch(() => {});
      rmSync(temp, { force: true });
      throw e;
    }
    const problem = check.end();
    if (problem !== undefined) return fail(notCanonical(problem));
    const actual = hash.digest('hex');
    if (actual !== sha256) return fail({ code: 'bad_request', message: `the body hashes to ${actual}, not ${sha256}` });
    await file.sync();
    await file.close();
    return { temp, size };
  }

  /** Keeps received bytes as the output file `sha256` (their hash); call in the transaction that records what it is for. */
  async keep(r: Repositories, received: Received, sha256: string, now: number): Promise<void> {
    await this.blobs.keep({ sha256, temp: received.temp }, () => r.catalog.recordCanonicalFile(sha256, received.size, now));
  }

  /** Drops received bytes that were not kept (nothing if they were). */
  drop(received: Received): void {
    rmSync(received.temp, { force: true });
  }

  /** Whether a stored file may count as an output. A file never checked is checked now, once. */
  async status(r: Repositories, sha256: string): Promise<OutputFileStatus> {
    const canonical = await r.catalog.fileCanonical(sha256);
    if (canonical === undefined) return 'missing';
    if (canonical === null) {
      const checked = this.checkStored(sha256);
      if (checked === undefined) return 'missing';
      await r.catalog.setFileCanonical(sha256, checked);
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
