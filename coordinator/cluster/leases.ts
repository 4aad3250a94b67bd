// Leases: which instance runs a singleton job now. A lease is taken when it is free or has
// expired, kept by renewing it before it expires, and moves to another instance when its holder
// dies (stops renewing). Each new holder gets a larger fencing number; work done under a lease
// checks it in its own transaction (`holds`), so a holder that lost its lease without noticing (a
// long pause, a partition) can no longer write. Time is the database's on PostgreSQL, so the
// instances' clocks need not agree.
import type { SqlDatabase, SqlExecutor } from '../store/sql/sql.js';

export interface Lease {
  name: string;
  holder: string;
  fencing: number;
  expiresAt: number;
}

/** Milliseconds since 1970 by the database's clock on PostgreSQL; by this process's on SQLite. */
function now(sql: SqlExecutor, clock: () => number): { expr: string; params: number[] } {
  return sql.dialect === 'postgres' ? { expr: "(extract(epoch FROM clock_timestamp()) * 1000)::bigint", params: [] } : { expr: '?', params: [clock()] };
}

export class Leases {
  constructor(
    private readonly db: SqlDatabase,
    /** This instance: unique among the instances sharing the database. */
    readonly holder: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes the lease if it is free, expired or already this instance's (then renews it). */
  async acquire(name: string, ttlMs: number): Promise<Lease | undefined> {
    const t = now(this.db, this.clock);
    // One statement, so two instances racing for a free lease cannot both win: the row's
    // uniqueness and the conflict's condition decide. A new holder gets the next fencing number.
    const row = await this.db.get<{ fencing: number; expires_at: number; holder: string }>(
      `WITH t AS (SELECT ${t.expr} AS now)
       INSERT INTO leases (name, holder, fencing, acquired_at, expires_at) SELECT ?, ?, 1, t.now, t.now + ? FROM t WHERE true
       ON CONFLICT (name) DO UPDATE SET
         fencing = CASE WHEN leases.holder = excluded.holder THEN leases.fencing ELSE leases.fencing + 1 END,
         acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
         holder = excluded.holder, expires_at = excluded.expires_at
       WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at
       RETURNING fencing, expires_at, holder`,
      [...t.params, name, this.holder, ttlMs],
    );
    return row && { name, holder: row.holder, fencing: row.fencing, expiresAt: row.expires_at };
  }

  /** Extends a lease still held under its fencing number; false when it was lost. */
  async renew(lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    const t = now(this.db, this.clock);
    const row = await this.db.get<{ expires_at: number }>(
      `WITH t AS (SELECT ${t.expr} AS now)
       UPDATE leases SET expires_at = (SELECT now FROM t) + ? WHERE name = ? AND holder = ? AND fencing = ? AND expires_at > (SELECT now FROM t)
       RETURNING expires_at`,
      [...t.params, ttlMs, lease.name, this.holder, lease.fencing],
    );
    return row && { ...lease, expiresAt: row.expires_at };
  }

  /** Gives the lease up at once (a clean shutdown), so another instance need not wait it out. */
  async release(lease: Lease): Promise<void> {
    await this.db.run('UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND fencing = ?', [lease.name, this.holder, lease.fencing]);
  }

  /**
   * Within a transaction: whether the lease is still this holder's under its number, and (on
   * PostgreSQL) keeps it from changing hands until that transaction ends. Work under a lease
   * calls this first and writes nothing when it is false.
   */
  async holds(tx: SqlExecutor, lease: Lease): Promise<boolean> {
    const t = now(tx, this.clock);
    const lock = tx.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const row = await tx.get<{ ok: number }>(
      `SELECT 1 AS ok FROM leases WHERE name = ? AND holder = ? AND fencing = ? AND expires_at > ${t.expr}${lock}`,
      [lease.name, this.holder, lease.fencing, ...t.params],
    );
    return row !== undefined;
  }

  /**
   * Ends every other holder's lease at once. For SQLite at start only: one coordinator works on a
   * SQLite file, so a lease found there is its previous run's, and waiting it out would only hold
   * the jobs up after a crash.
   */
  async endOthers(): Promise<number> {
    return (await this.db.run('UPDATE leases SET expires_at = 0 WHERE holder <> ? AND expires_at > 0', [this.holder])).changes;
  }

  /** Removes a lease this holder still has under its number (one that names a thing that is done). */
  async forget(lease: Lease): Promise<void> {
    await this.db.run('DELETE FROM leases WHERE name = ? AND holder = ? AND fencing = ?', [lease.name, this.holder, lease.fencing]);
  }

  /** Whether the lease has expired, by the database's clock on PostgreSQL; undefined when there is none. */
  async expired(name: string): Promise<boolean | undefined> {
    const t = now(this.db, this.clock);
    const row = await this.db.get<{ expired: number }>(`SELECT expires_at <= ${t.expr} AS expired FROM leases WHERE name = ?`, [...t.params, name]);
    return row && row.expired === 1;
  }

  /** Now, by the clock leases expire by: the database's on PostgreSQL, this process's on SQLite. */
  async now(): Promise<number> {
    const t = now(this.db, this.clock);
    return Number((await this.db.get<{ now: number }>(`SELECT ${t.expr} AS now`, t.params))!.now);
  }

  async current(name: string): Promise<Lease | undefined> {
    const row = await this.db.get<{ holder: string; fencing: number; expires_at: number }>('SELECT holder, fencing, expires_at FROM leases WHERE name = ?', [name]);
    return row && { name, holder: row.holder, fencing: row.fencing, expiresAt: row.expires_at };
  }
}
