// Group commit: the volunteer messages that arrive in one turn of the event loop share
// one durable commit (one fsync) instead of paying for one each, so many small messages
// (a browser tab asks for one or two tasks at a time) cost about what one large one does.
// Each message still runs alone in its own savepoint, and is answered only once the
// shared commit is on disk: durability is what it was, only cheaper.
import type { Store } from './store.js';

interface Job {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Most messages in one commit: bounds how long the first of them waits for its answer. */
export const DEFAULT_MAX_GROUP = 64;

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;
  private closed = false;
  /** Commits made, and messages they carried: their ratio is the saving. */
  groups = 0;
  jobs = 0;

  constructor(
    private readonly store: Store,
    private readonly options: {
      maxGroup?: number;
      /** An after-commit callback (telling hosts) threw: the group is committed all the same. */
      onNoticeError: (error: unknown) => void;
    },
  ) {}

  /**
   * Runs fn in a savepoint of the next group's transaction; resolves with its value once
   * that transaction has committed, or rejects with what fn threw (its writes undone,
   * the others' kept) or with the commit's own failure (nothing kept).
   */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(new Error('the coordinator is shutting down'));
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length >= (this.options.maxGroup ?? DEFAULT_MAX_GROUP)) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // After the poll phase: every message that has already arrived joins this group.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is queued now, and refuses what comes later: for shutting down. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Commits what is queued now. */
  flush(): void {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0) return;
    if (this.store.db.inTransaction) {
      // Inside another transaction the group would be a savepoint: answering after it would
      // acknowledge what is not on disk yet, and may never be.
      const error = new Error('a group commit cannot run inside another transaction');
      for (const job of jobs) job.reject(error);
      return;
    }
    const outcomes: Outcome[] = [];
    let committed = false;
    try {
      this.store.transaction(() => {
        this.store.afterCommit(() => (committed = true));
        for (const job of jobs) {
          try {
            outcomes.push({ ok: true, value: this.store.transaction(job.fn) });
          } catch (error) {
            // SQLite rolls the whole transaction back on some errors (a full disk, I/O):
            // then the jobs before this one are lost too, so the group fails as one.
            if (!this.store.db.inTransaction) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      if (!committed) {
        for (const job of jobs) job.reject(error);
        return;
      }
      this.options.onNoticeError(error);
    }
    this.groups += 1;
    this.jobs += jobs.length;
    jobs.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }
}
