// What the metrics read from the database at each scrape: a few sums of counters that triggers
// keep (batch_counts, the hosts' result counts) and the ledger's last id, so a scrape costs the
// same for ten work units or a million. A read-only connection of its own on the SQLite file,
// apart from the store: the metrics need none of its methods.
import type Database from 'better-sqlite3';
import { openReadOnly } from './sqlite-file.js';

export interface DbStats {
  workunits: { active: number; done: number; failed: number; cancelled: number };
  replicasInFlight: number;
  /** Verdicts and client errors over every host's results, as kept now (a withdrawn verdict is taken off). */
  results: { valid: number; invalid: number; clientError: number };
  ledgerEntries: number;
}

export class DbStatsReader {
  private readonly db: Database.Database;
  private readonly counts: Database.Statement;
  private readonly verdicts: Database.Statement;
  private readonly ledger: Database.Statement;

  constructor(file: string) {
    this.db = openReadOnly(file);
    this.counts = this.db.prepare(`SELECT COALESCE(SUM(active), 0) AS active, COALESCE(SUM(done), 0) AS done, COALESCE(SUM(failed), 0) AS failed,
      COALESCE(SUM(cancelled), 0) AS cancelled, COALESCE(SUM(r_in_progress), 0) AS inFlight FROM batch_counts`);
    this.verdicts = this.db.prepare(`SELECT COALESCE(SUM(n_valid), 0) AS valid, COALESCE(SUM(n_invalid), 0) AS invalid, COALESCE(SUM(n_error), 0) AS clientError FROM hosts`);
    this.ledger = this.db.prepare('SELECT COALESCE(MAX(id), 0) AS n FROM credit_ledger');
  }

  read(): DbStats {
    return this.db.transaction(() => {
      const c = this.counts.get() as { active: number; done: number; failed: number; cancelled: number; inFlight: number };
      const v = this.verdicts.get() as DbStats['results'];
      const l = this.ledger.get() as { n: number };
      return {
        workunits: { active: c.active, done: c.done, failed: c.failed, cancelled: c.cancelled },
        replicasInFlight: c.inFlight,
        results: v,
        ledgerEntries: l.n,
      };
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
