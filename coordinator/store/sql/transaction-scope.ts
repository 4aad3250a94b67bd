// What both backends keep for an open transaction: its nested savepoints, which of them may run
// statements now, and the after-commit callbacks of each.
import { ConflictError } from './sql.js';
import { WriteBehind } from './write-behind.js';

/** A transaction lost as a whole (connection gone, disk full, I/O error): nothing in it was kept. */
export class TransactionLostError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'TransactionLostError';
  }
}

export class TransactionScope {
  /** One frame of after-commit callbacks per open level: 0 the transaction, then each savepoint. */
  private readonly frames: (() => void)[][] = [[]];
  private savepoints = 0;
  /** Advisory locks the transaction took outside any savepoint: held until it ends, whatever its savepoints do. */
  readonly heldLocks = new Set<number>();
  /**
   * What the transaction has learnt and may reuse (the ledger's end it appended, averages and
   * levels it wrote): forgotten whenever any of its savepoints rolls back, since what was learnt
   * there may be undone.
   */
  readonly memo = new Map<string, unknown>();
  /** Writes held back (PostgreSQL): always of the innermost level, written before it opens another or ends. */
  readonly behind = new WriteBehind();

  /** The level that may run statements now: the innermost open one. */
  get depth(): number {
    return this.frames.length - 1;
  }

  /**
   * A transaction runs one statement at a time, in the innermost savepoint: a statement from an
   * outer level while a savepoint is open would land in the savepoint (and be undone with it).
   */
  checkDepth(depth: number): void {
    if (depth !== this.depth) {
      throw new Error(`a statement of transaction level ${depth} ran while level ${this.depth} was open: await each savepoint before going on`);
    }
  }

  afterCommit(depth: number, cb: () => void): void {
    this.checkDepth(depth);
    this.frames[depth]!.push(cb);
  }

  /** Opens a savepoint level; returns its name. */
  enter(): string {
    this.frames.push([]);
    this.savepoints += 1;
    return `vg_sp_${this.savepoints}`;
  }

  /** Closes the innermost level: its callbacks join the level around it when it was kept. */
  leave(kept: boolean): void {
    const frame = this.frames.pop()!;
    if (kept) this.frames.at(-1)!.push(...frame);
    else this.memo.clear();
  }

  /** The callbacks to run now that the transaction has committed. */
  committed(): (() => void)[] {
    return this.frames[0]!;
  }
}

/** Runs once(), again while it fails with a conflict and retries are left (TransactionOptions.retries). */
export async function retryConflicts<T>(once: () => Promise<T>, retries: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once();
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= retries) throw error;
    }
  }
}

/** Runs every callback even if one throws (the commit has happened), then rethrows the first error. */
export function runAfterCommit(callbacks: (() => void)[]): void {
  let first: unknown;
  let failed = false;
  for (const cb of callbacks) {
    try {
      cb();
    } catch (e) {
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
}
