// What the metrics read from the database at each scrape: a few sums of counters that triggers
// keep (batch_counts, the hosts' result counts) and the ledger's last id, so a scrape costs the
// same for ten work units or a million. On SQLite, through a read-only connection of its own on
// the file (a scrape never waits behind the store's writes); on PostgreSQL, through the store's
// pool. The same statements on both.
import type { SqlDatabase } from '../store/sql/sql.js';
import { SqliteDatabase } from '../store/sql/sqlite-database.js';
import { openReadOnly } from './sqlite-file.js';

export interface DbStats {
  workunits: { active: number; done: number; failed: number; cancelled: number };
  replicasInFlight: number;
  /** Verdicts and client errors over every host's results, as kept now (a withdrawn verdict is taken off). */
  results: { valid: number; invalid: number; clientError: number };
  ledgerEntries: number;
}

/** One statement, so one consistent snapshot on both backends without a transaction. */
const STATS = `SELECT
  (SELECT COALESCE(SUM(active), 0) FROM batch_counts) AS active,
  (SELECT COALESCE(SUM(done), 0) FROM batch_counts) AS done,
  (SELECT COALESCE(SUM(failed), 0) FROM batch_counts) AS failed,
  (SELECT COALESCE(SUM(cancelled), 0) FROM batch_counts) AS cancelled,
  (SELECT COALESCE(SUM(r_in_progress), 0) FROM batch_counts) AS "inFlight",
  (SELECT COALESCE(SUM(n_valid), 0) FROM hosts) AS valid,
  (SELECT COALESCE(SUM(n_invalid), 0) FROM hosts) AS invalid,
  (SELECT COALESCE(SUM(n_error), 0) FROM hosts) AS "clientError",
  (SELECT COALESCE(MAX(id), 0) FROM credit_ledger) AS ledger`;

type StatsRow = DbStats['workunits'] & DbStats['results'] & { inFlight: number; ledger: number };

export class DbStatsReader {
  private constructor(
    private readonly db: SqlDatabase,
    private readonly owned: boolean,
  ) {}

  /** A read-only connection of its own on a coordinator's SQLite file. */
  static onSqliteFile(file: string): DbStatsReader {
    return new DbStatsReader(new SqliteDatabase(openReadOnly(file)), true);
  }

  /** Through a database the coordinator already has open (PostgreSQL's pool). */
  static on(db: SqlDatabase): DbStatsReader {
    return new DbStatsReader(db, false);
  }

  /** One consistent read of every count. */
  async read(): Promise<DbStats> {
    const r = (await this.db.get<StatsRow>(STATS))!;
    return {
      workunits: { active: r.active, done: r.done, failed: r.failed, cancelled: r.cancelled },
      replicasInFlight: r.inFlight,
      results: { valid: r.valid, invalid: r.invalid, clientError: r.clientError },
      ledgerEntries: r.ledger,
    };
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}
