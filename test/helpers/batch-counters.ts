// The counters that triggers keep — a batch's (migration 4) and a host's (migration 9) —
// checked against a recount of the rows: used by the in-process world at every close and by the
// reliability tests after crashes. The checks are `admin verify`'s own (coordinator/ops/recount.ts).
import type Database from 'better-sqlite3';
import { batchCounterProblems, batchCounterProblemsIn, hostCounterProblems, hostCounterProblemsIn } from '../../coordinator/ops/recount.js';
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';

export { hostCounterProblems };

/**
 * The batch counters kept by triggers equal a recount of the rows: work units by status,
 * replicas by status or outcome, the latest finish (once nothing is open), and finishes per second
 * of each batch's life; and so do the hosts' counts of results.
 */
export function counterProblems(db: Database.Database): string[] {
  return [...batchCounterProblems(db), ...hostCounterProblems(db)];
}

/** counterProblems through the store contract, on SQLite or PostgreSQL (a batch's counts are the sums of its slots). */
export async function counterProblemsIn(sql: SqlExecutor): Promise<string[]> {
  return [...(await batchCounterProblemsIn(sql)), ...(await hostCounterProblemsIn(sql))];
}
