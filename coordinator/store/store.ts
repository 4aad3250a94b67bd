import type { Database } from 'better-sqlite3';
import { AccountStore } from './account-store.js';
import { CatalogStore } from './catalog.js';
import { openDatabase } from './database.js';
import { migratePostgres } from './postgres/migrate.js';
import { IdentityStore } from './identities.js';
import { LedgerStore } from './ledger-store.js';
import { PublicStore } from './public-store.js';
import { ReportStore } from './report-store.js';
import type { SqlDatabase, SqlExecutor, SqlTransaction, TransactionOptions } from './sql/sql.js';
import { PostgresDatabase } from './sql/postgres-database.js';
import { SqliteDatabase } from './sql/sqlite-database.js';
import { UploadStore } from './upload-store.js';
import { WorkStore } from './work-store.js';

/**
 * The typed verbs, grouped by what they touch, on one connection: the database's (each
 * statement on its own) or a transaction's (see Tx).
 */
export class Repositories {
  readonly identities: IdentityStore;
  readonly catalog: CatalogStore;
  readonly work: WorkStore;
  readonly ledger: LedgerStore;
  readonly accounts: AccountStore;
  readonly reports: ReportStore;
  readonly uploads: UploadStore;
  /** What anyone may read: the public project list and stats export. */
  readonly publicData: PublicStore;

  constructor(sql: SqlExecutor) {
    this.identities = new IdentityStore(sql);
    this.catalog = new CatalogStore(sql);
    this.work = new WorkStore(sql);
    this.ledger = new LedgerStore(sql);
    this.accounts = new AccountStore(sql);
    this.reports = new ReportStore(sql);
    this.uploads = new UploadStore(sql);
    this.publicData = new PublicStore(sql);
  }
}

/** The repositories inside one transaction, and what to do once it commits. */
export class Tx extends Repositories {
  constructor(readonly sql: SqlTransaction) {
    super(sql);
  }

  /**
   * Runs cb once the outermost transaction has committed; never if it, or the savepoint cb was
   * registered in, rolls back. For telling the world about what is durable, and nothing else.
   */
  afterCommit(cb: () => void): void {
    this.sql.afterCommit(cb);
  }

  /** Runs fn in a savepoint: if it throws, only its own writes are undone, and the error rethrown. */
  savepoint<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.sql.savepoint((sql) => fn(new Tx(sql)));
  }
}

/** The one way into SQL: the repositories on the database, and transactions. */
export class Store extends Repositories {
  constructor(
    readonly sql: SqlDatabase,
    private readonly sqlite?: Database,
  ) {
    super(sql);
  }

  static open(file: string): Store {
    const db = openDatabase(file);
    return new Store(new SqliteDatabase(db), db);
  }

  /**
   * The store on PostgreSQL, migrated (instances starting together take turns). onIdleError
   * hears of pooled connections the server dropped; the pool replaces them.
   */
  static async openPostgres(url: string, onIdleError?: (error: Error) => void): Promise<Store> {
    const db = new PostgresDatabase({ connectionString: url, onIdleError });
    try {
      await migratePostgres(db);
    } catch (e) {
      await db.close();
      throw e;
    }
    return new Store(db);
  }

  /** The embedded database underneath, for what only SQLite has (backups, page statistics). */
  get db(): Database {
    if (!this.sqlite) throw new Error('this store is not on SQLite');
    return this.sqlite;
  }

  /** Runs fn in one transaction and commits durably before resolving. */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.sql.transaction((sql) => fn(new Tx(sql)), options);
  }

  /** fn in the transaction given, else in one of its own: for verbs that may be part of a larger transaction. */
  within<T>(tx: Tx | undefined, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return tx ? fn(tx) : this.transaction(fn);
  }

  /** Whether the store is open (false once closed). */
  get open(): boolean {
    return this.sqlite ? this.sqlite.open : !this.closed;
  }

  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    await this.sql.close();
  }
}
