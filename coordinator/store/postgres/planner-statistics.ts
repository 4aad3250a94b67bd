// PostgreSQL plans the hot path's statements from table statistics, which autovacuum refreshes
// at most once a minute (autovacuum_naptime). A batch's replicas change the work queue within
// seconds: until the next ANALYZE the planner still sees the queue as it was (a few unsent
// replicas, or none) and, for every request, reads all of it and sorts it where an index would
// hand it over in order (milliseconds a statement on the group's one connection; seen in the
// benchmark with auto_explain). PostgreSQL's documentation says what to do after a bulk load:
// ANALYZE. This does it after replicas are made, no more often than MIN_INTERVAL_MS nor than ten
// times the last one took, and once more after the last change it let pass. SQLite needs none.
import { errorFields, type Logger } from '../../../common/log.js';
import type { SqlDatabase } from '../sql/sql.js';

const MIN_INTERVAL_MS = 5_000;
/** The tables the work queue's statements read: their sizes and what is unsent. */
const TABLES = 'workunits, replicas';

export class PlannerStatistics {
  private running: Promise<void> | undefined;
  private lastEnded = 0;
  private lastTookMs = 0;
  /** A change let pass while one ran or ran lately: refreshed when the interval is over. */
  private trailing: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sql: SqlDatabase,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Rows were added to the work queue (a chunk of replicas made). */
  changed(): void {
    if (this.sql.dialect !== 'postgres' || this.closed) return;
    const wait = this.lastEnded + Math.max(MIN_INTERVAL_MS, 10 * this.lastTookMs) - this.clock();
    if (this.running || wait > 0) {
      this.trailing ??= setTimeout(() => {
        this.trailing = undefined;
        this.changed();
      }, Math.max(wait, 100)).unref();
      return;
    }
    const started = this.clock();
    this.running = this.sql
      .run(`ANALYZE ${TABLES}`)
      .then(
        () => void (this.lastTookMs = this.clock() - started),
        (e: unknown) => this.log.warn('refreshing the planner’s statistics failed; autovacuum will in its own time', errorFields(e)),
      )
      .finally(() => {
        this.lastEnded = this.clock();
        this.running = undefined;
      });
  }

  /** Waits for a refresh under way; none starts after. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.trailing);
    this.trailing = undefined;
    await this.running;
  }
}
