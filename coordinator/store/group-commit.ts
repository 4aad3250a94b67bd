// Group commit: the volunteer messages that arrive while the previous group commits share
// one durable commit (one fsync) instead of paying for one each, so many small messages
// (a browser tab asks for one or two tasks at a time) cost about what one large one does.
// Each message still runs alone in its own savepoint, and is answered only once the
// shared commit is on disk: durability is what it was, only cheaper. One group is in
// flight at a time, so a connection's messages are answered in the order they came.
import { TransactionLostError } from './sql/transaction-scope.js';
import type { Store, Tx } from './store.js';

interface Job {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Most messages in one commit: bounds how long the first of them waits for its answer. */
export const DEFAULT_MAX_GROUP = 64;

export interface GroupCommitOptions {
  maxGroup?: number;
  /** An after-commit callback (telling hosts) threw: the group is committed all the same. */
  onNoticeError: (error: unknown) => void;
  /**
   * Runs in each group's transaction after its messages, before the commit (the hosts heard from
   * written as seen). If it throws, the group fails as one, as its commit would.
   */
  beforeCommit?: (tx: Tx) => Promise<void>;
  /** Each commit: how many messages it carried and how long it took (for the metrics). */
  observe?: (messages: number, seconds: number) => void;
}

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;
  private closed = false;
  /** The group being committed, if one is. */
  private inFlight: Promise<void> | undefined;
  /** Commits made, and messages they carried: their ratio is the saving. */
  groups = 0;
  jobs = 0;

  constructor(
    private readonly store: Store,
    private readonly options: GroupCommitOptions,
  ) {}

  /**
   * Runs fn in a savepoint of a coming group's transaction; resolves with its value once that
   * transaction has committed, or rejects with what fn threw (its writes undone, the others'
   * kept) or with the commit's own failure (nothing kept). Never call it from inside a
   * transaction and wait for it: the group cannot start until that transaction ends.
   */
  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(new Error('the coordinator is shutting down'));
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.inFlight) return; // joins the next group, started when this one is done
      if (this.queue.length >= (this.options.maxGroup ?? DEFAULT_MAX_GROUP)) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // After the poll phase: every message that has already arrived joins this group.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is queued, and refuses what comes later; resolves once all of it is committed. */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    while (this.inFlight) await this.inFlight;
  }

  /** Starts committing what is queued now, unless a group is in flight (then it follows that one). */
  flush(): void {
    this.scheduled = false;
    if (this.inFlight || this.queue.length === 0) return;
    const max = this.options.maxGroup ?? DEFAULT_MAX_GROUP;
    const jobs = this.queue.splice(0, max);
    this.inFlight = this.commit(jobs)
      .catch((error: unknown) => this.options.onNoticeError(error))
      .finally(() => {
        this.inFlight = undefined;
        this.flush();
      });
  }

  private async commit(jobs: Job[]): Promise<void> {
    const started = process.hrtime.bigint();
    const outcomes: Outcome[] = [];
    let committed = false;
    try {
      await this.store.transaction(async (tx) => {
        tx.afterCommit(() => (committed = true));
        // The ledger's turn before any message's first lock: a message's locks last as long as its
        // group, so one that took a host's row and then waited for the turn (to judge) could wait
        // on a transaction holding the turn and waiting for that row. (A no-op on SQLite.)
        await tx.ledger.takeTurn();
        for (const job of jobs) {
          try {
            outcomes.push({ ok: true, value: await tx.savepoint(job.fn) });
          } catch (error) {
            // The database lost the whole transaction (a full disk, I/O, the connection): the
            // jobs before this one are lost too, so the group fails as one.
            if (error instanceof TransactionLostError) throw error;
            outcomes.push({ ok: false, error });
          }
        }
        await this.options.beforeCommit?.(tx);
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
    // After the answers: an observer that throws must not leave a message unanswered.
    this.options.observe?.(jobs.length, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
