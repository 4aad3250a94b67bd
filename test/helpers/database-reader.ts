// A test's own view of a coordinator's database, on whichever backend the data dir's coordinator
// runs: SQLite's file through a read-only connection of its own (WAL: it never waits behind the
// coordinator's writes and never sees a transaction before it commits), or the data dir's
// PostgreSQL database (testDatabaseOf). Each read is one snapshot, so a check of several
// statements sees one state of the database even while the coordinator writes.
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import type { Dialect, SqlDatabase, SqlExecutor } from '../../coordinator/store/sql/sql.js';
import { SqliteDatabase } from '../../coordinator/store/sql/sqlite-database.js';
import { databasePath, openReadOnly } from '../../coordinator/ops/sqlite-file.js';
import { existingTestDatabaseOf } from './postgres.js';

export class DatabaseReader {
  /** Reads one after another: on SQLite a snapshot is the connection's open read transaction. */
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: SqliteDatabase | PostgresDatabase) {}

  /** On the data dir's PostgreSQL database if it has one (the postgres project), else on its SQLite file. */
  static async open(dataDir: string): Promise<DatabaseReader> {
    const database = existingTestDatabaseOf(dataDir);
    if (database) return new DatabaseReader(new PostgresDatabase({ connectionString: (await database).url, max: 1 }));
    return new DatabaseReader(new SqliteDatabase(openReadOnly(databasePath(dataDir))));
  }

  /** On a PostgreSQL database by its URL (a cluster's, which no data dir owns). */
  static postgres(url: string): DatabaseReader {
    return new DatabaseReader(new PostgresDatabase({ connectionString: url, max: 1 }));
  }

  get dialect(): Dialect {
    return this.db.dialect;
  }

  /** fn's statements see one snapshot of the database; nothing is written. */
  read<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const result = this.turn.then(() => this.snapshot(fn));
    this.turn = result.catch(() => undefined);
    return result;
  }

  private async snapshot<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const db = this.db;
    if (db instanceof PostgresDatabase) {
      // REPEATABLE READ: one snapshot for the whole transaction (READ COMMITTED takes one per statement).
      return db.transaction(async (tx) => {
        await tx.run('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        return fn(tx);
      });
    }
    // A deferred transaction on a read-only connection: its snapshot is taken at the first read
    // and held to COMMIT. (The store's own transactions begin IMMEDIATE, to write.)
    db.exec('BEGIN');
    try {
      return await fn(db);
    } finally {
      db.exec('COMMIT');
    }
  }

  async close(): Promise<void> {
    await this.turn;
    await (this.db as SqlDatabase).close();
  }
}
