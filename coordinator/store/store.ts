import type { Database } from 'better-sqlite3';
import { AccountStore } from './account-store.js';
import { CatalogStore } from './catalog.js';
import { openDatabase } from './database.js';
import { IdentityStore } from './identities.js';
import { LedgerStore } from './ledger-store.js';
import { PublicStore } from './public-store.js';
import { ReportStore } from './report-store.js';
import { SqliteDatabase } from './sql/sqlite-database.js';
import { runAfterCommit } from './sql/transaction-scope.js';
import { UploadStore } from './upload-store.js';
import { WorkStore } from './work-store.js';

/** The one way into SQL: typed verbs grouped by what they touch, and transactions. */
export class Store {
  readonly identities: IdentityStore;
  readonly catalog: CatalogStore;
  readonly work: WorkStore;
  readonly ledger: LedgerStore;
  readonly accounts: AccountStore;
  readonly reports: ReportStore;
  readonly uploads: UploadStore;
  /** What anyone may read: the public project list and stats export. */
  readonly publicData: PublicStore;
  /**
   * The same connection through the asynchronous store contract (coordinator/store/sql/), which
   * the groups moved to it use (accounts so far) and which PostgreSQL implements too.
   */
  readonly sql: SqliteDatabase;

  constructor(readonly db: Database) {
    this.sql = new SqliteDatabase(db);
    this.identities = new IdentityStore(db);
    this.catalog = new CatalogStore(db);
    this.work = new WorkStore(db);
    this.ledger = new LedgerStore(db);
    this.accounts = new AccountStore(this.sql);
    this.reports = new ReportStore(db);
    this.uploads = new UploadStore(db);
    this.publicData = new PublicStore(db);
  }

  static open(file: string): Store {
    return new Store(openDatabase(file));
  }

  // One frame of after-commit callbacks per open (possibly nested) transaction.
  private readonly frames: (() => void)[][] = [];

  /**
   * Runs fn in one transaction and commits durably before returning. A nested call is a
   * savepoint of the outer one: if it throws, only its own writes are undone.
   */
  transaction<T>(fn: () => T): T {
    // While the groups move to the asynchronous contract, a synchronous transaction must never
    // start inside an asynchronous one that holds the connection between its statements: it
    // would become a savepoint of the other's, and be undone with it.
    if (this.sql.busy && this.frames.length === 0) throw new Error('a synchronous transaction started while an asynchronous one held the database');
    const frame: (() => void)[] = [];
    this.frames.push(frame);
    let result: T;
    try {
      result = this.db.transaction(fn)();
    } finally {
      this.frames.pop();
    }
    const outer = this.frames.at(-1);
    if (outer) outer.push(...frame);
    else runAfterCommit(frame);
    return result;
  }

  /**
   * Runs cb once the transaction open now has committed (at once outside one); never if
   * it, or the savepoint cb was registered in, rolls back. For telling the world about
   * what is durable, and nothing that is not.
   */
  afterCommit(cb: () => void): void {
    const frame = this.frames.at(-1);
    if (frame) frame.push(cb);
    else cb();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
