// Removes uploaded outputs nothing needs any more: uploads never reported, and outputs of
// results that can no longer count (forfeited, or of a work unit that failed or was cancelled),
// once the grace period since they were last uploaded has passed (store/upload-store.ts says
// which). Off the hot path: private files are read a page at a time, and the garbage among them
// removed a few per turn of the event loop.
//
// Invariant: a committed row has its blob (files/blob-store.ts), whichever instance stores or
// removes the same bytes at once. A file is removed in a transaction that first takes its row —
// waiting for one that is storing the same bytes, which holds it — then checks and deletes it in
// one statement, and unlinks the blob before committing: storing waits for the row, then finds
// no blob and puts its own. If that commit fails after the unlink, the row is left without its
// blob; it was garbage, so nothing reads it, and the next pass, or the next store of those
// bytes, mends it.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UNFENCED, type Fence } from '../cluster/fence.js';
import type { Store, Tx } from '../store/store.js';
import type { BlobStore } from './blob-store.js';

/** Private files looked at per read. */
const PAGE = 500;
/**
 * Files removed per turn of the event loop, in one transaction: each is a lock, a check-and-
 * delete and an unlink (an unlink took about a millisecond here).
 */
const REMOVE = 16;

export class OutputCollector {
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    /** How long an upload is kept, at least, whatever refers to it (--upload-grace-ms). */
    private readonly graceMs: number,
    private readonly clock: () => number,
  ) {}

  /**
   * A whole pass over the private files, begun after this call; resolves with how many were
   * removed. With a pass under way, the next one starts when it ends (callers meanwhile share
   * it): the pass under way may have walked past files stored since it began (on PostgreSQL
   * files are walked in key order, not in the order they came). Each deletion asks the fence in
   * its transaction (a coordinator's lease on the job); the pass ends at the first refusal.
   */
  collect(fence: Fence = UNFENCED): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    if (this.running) {
      this.next ??= this.running.then(() => {
        this.next = undefined;
        return this.collect(fence);
      });
      return this.next;
    }
    this.running = this.pass(fence).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private next: Promise<number> | undefined;

  /** Stops after the chunk in hand (the coordinator is closing). */
  stop(): void {
    this.stopped = true;
  }

  /** Removes a private file, its row and its blob, if it is garbage at `before` (now − grace); false if it is not (any more). */
  async removeIfGarbage(tx: Tx, sha256: string, before: number): Promise<boolean> {
    if (!(await tx.uploads.lockPrivateFile(sha256))) return false;
    if (!(await tx.uploads.deleteIfGarbage(sha256, before))) return false;
    // While the row is held: unlinked after the commit, an instance storing the same bytes
    // meanwhile would find the blob, keep none of its own, and then lose it.
    this.blobs.remove(sha256);
    return true;
  }

  private async pass(fence: Fence): Promise<number> {
    let after = this.store.uploads.firstFile;
    let removed = 0;
    let fenced = false;
    for (;;) {
      const page = await this.store.uploads.privateFiles(after, PAGE, this.clock() - this.graceMs);
      const garbage = page.filter((f) => f.garbage).map((f) => f.sha256);
      for (let i = 0; i < garbage.length && !this.stopped && !fenced; i += REMOVE) {
        await nextTurn();
        if (this.stopped) break;
        const before = this.clock() - this.graceMs;
        // Checked again as each is deleted: it may have come to be needed since the page was read.
        removed += await this.store.transaction(async (tx) => {
          if (!(await fence(tx.sql))) {
            fenced = true;
            return 0;
          }
          let deleted = 0;
          for (const sha256 of garbage.slice(i, i + REMOVE)) if (await this.removeIfGarbage(tx, sha256, before)) deleted++;
          return deleted;
        });
      }
      if (page.length < PAGE || this.stopped || fenced) return removed;
      after = page.at(-1)!.cursor;
      await nextTurn();
    }
  }
}
