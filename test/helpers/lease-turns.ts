// What the leased-job tests' job does each turn: one row, written only under the lease.
import type { Lease, Leases } from '../../coordinator/cluster/leases.js';
import type { SqlDatabase } from '../../coordinator/store/sql/sql.js';

export const TURNS_TABLE = 'CREATE TABLE IF NOT EXISTS lease_turns (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, holder TEXT NOT NULL, fencing BIGINT NOT NULL, at BIGINT NOT NULL)';

/** Records a turn if the lease still holds; whether it did. */
export function recordTurn(db: SqlDatabase, leases: Leases, lease: Lease): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await leases.holds(tx, lease))) return false;
    await tx.run("INSERT INTO lease_turns (holder, fencing, at) VALUES (?, ?, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)", [leases.holder, lease.fencing]);
    return true;
  });
}
