// The counters that triggers keep — a batch's (migration 4), a host's results (migration 9) —
// and the credit totals of hosts, users and teams, checked against a recount of the rows they
// summarise. `admin verify` runs it on a data dir; the reliability tests after crashes.
import type Database from 'better-sqlite3';

const REPLICA_KEYS = ['r_unsent', 'r_in_progress', 'r_success', 'r_client_error', 'r_no_reply', 'r_aborted', 'r_abandoned', 'r_not_needed'];
const WORKUNIT_KEYS = ['active', 'done', 'failed', 'cancelled'];

/** Every kept counter that differs from its recount, in words; [] when all agree. */
export function counterProblems(db: Database.Database): string[] {
  return [...batchCounterProblems(db), ...hostCounterProblems(db), ...creditTotalProblems(db)];
}

/**
 * The batch counters equal a recount of the rows: work units by status, replicas by status or
 * outcome, replicas in progress on new hosts, the latest finish (once nothing is open), and
 * finishes per second of each batch's life.
 */
export function batchCounterProblems(db: Database.Database): string[] {
  const problems: string[] = [];
  const kept = new Map(
    (db.prepare('SELECT * FROM batch_counts').all() as ({ batch_id: number } & Record<string, number | null>)[]).map((r) => [r.batch_id, r]),
  );
  const recount = db
    .prepare(
      `SELECT b.id AS batch_id,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'active') AS active,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'done') AS done,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'failed') AS failed,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'cancelled') AS cancelled,
         (SELECT MAX(finished_at) FROM workunits w WHERE w.batch_id = b.id) AS last_finished_at
       FROM batches b ORDER BY b.id`,
    )
    .all() as ({ batch_id: number } & Record<string, number | null>)[];
  const replicaKey = (status: string, outcome: string | null) =>
    status === 'unsent' ? 'r_unsent' : status === 'in_progress' ? 'r_in_progress' : outcome ? `r_${outcome}` : undefined;
  const replicas = db
    .prepare('SELECT w.batch_id AS batchId, r.status, r.outcome, COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id GROUP BY 1, 2, 3')
    .all() as { batchId: number; status: string; outcome: string | null; n: number }[];
  // In progress on hosts that were new when they took them (migration 8; absent before).
  const hasNewHost = (db.prepare("SELECT COUNT(*) AS n FROM pragma_table_info('batch_counts') WHERE name = 'r_new_host'").get() as { n: number }).n > 0;
  const newHost = new Map(
    hasNewHost
      ? (
          db
            .prepare(
              `SELECT w.batch_id AS batchId, COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id
               WHERE r.status = 'in_progress' AND r.new_host = 1 GROUP BY 1`,
            )
            .all() as { batchId: number; n: number }[]
        ).map((r) => [r.batchId, r.n])
      : [],
  );
  for (const want of recount) {
    const have = kept.get(want.batch_id);
    if (!have) {
      problems.push(`batch ${want.batch_id} has no counters`);
      continue;
    }
    kept.delete(want.batch_id);
    const wantReplicas: Record<string, number> = {};
    for (const r of replicas.filter((x) => x.batchId === want.batch_id)) {
      const key = replicaKey(r.status, r.outcome);
      if (key) wantReplicas[key] = (wantReplicas[key] ?? 0) + r.n;
    }
    for (const key of REPLICA_KEYS) {
      if (have[key] !== (wantReplicas[key] ?? 0)) problems.push(`batch ${want.batch_id}: ${key} kept ${have[key]}, counted ${wantReplicas[key] ?? 0}`);
    }
    if (hasNewHost && have.r_new_host !== (newHost.get(want.batch_id) ?? 0)) {
      problems.push(`batch ${want.batch_id}: r_new_host kept ${have.r_new_host}, counted ${newHost.get(want.batch_id) ?? 0}`);
    }
    for (const key of WORKUNIT_KEYS) {
      if (have[key] !== want[key]) problems.push(`batch ${want.batch_id}: ${key} kept ${have[key]}, counted ${want[key]}`);
    }
    // Kept as a maximum on the way up: it means the batch's end once nothing in it is open.
    if (want.active === 0 && have.last_finished_at !== want.last_finished_at) {
      problems.push(`batch ${want.batch_id}: last_finished_at kept ${have.last_finished_at}, counted ${want.last_finished_at}`);
    }
  }
  for (const id of kept.keys()) problems.push(`counters for batch ${id}, which does not exist`);

  const finishedKept = db.prepare('SELECT batch_id AS b, second AS s, done, failed FROM batch_finished WHERE done <> 0 OR failed <> 0 ORDER BY 1, 2').all();
  const finishedCounted = db
    .prepare(
      `SELECT w.batch_id AS b, (w.finished_at - bt.created_at) / 1000 AS s, SUM(w.status = 'done') AS done, SUM(w.status = 'failed') AS failed
       FROM workunits w JOIN batches bt ON bt.id = w.batch_id WHERE w.status IN ('done', 'failed') AND w.finished_at IS NOT NULL
       GROUP BY 1, 2 ORDER BY 1, 2`,
    )
    .all();
  if (JSON.stringify(finishedKept) !== JSON.stringify(finishedCounted)) {
    problems.push(`finishes per second differ: kept ${JSON.stringify(finishedKept).slice(0, 300)}, counted ${JSON.stringify(finishedCounted).slice(0, 300)}`);
  }
  return problems;
}

/**
 * Each host's counts of valid, invalid and client-error results equal a recount of its replicas
 * (kept by triggers since migration 9; nothing to check in an older schema).
 */
export function hostCounterProblems(db: Database.Database): string[] {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'host_counts_replica_update'").get()) return [];
  const rows = db
    .prepare(
      `SELECT h.id, h.n_valid AS nValid, h.n_invalid AS nInvalid, h.n_error AS nError,
         (SELECT COUNT(*) FROM replicas r WHERE r.host_id = h.id AND r.validate_state = 'valid') AS valid,
         (SELECT COUNT(*) FROM replicas r WHERE r.host_id = h.id AND r.validate_state = 'invalid') AS invalid,
         (SELECT COUNT(*) FROM replicas r WHERE r.host_id = h.id AND r.outcome = 'client_error') AS errors
       FROM hosts h ORDER BY h.id`,
    )
    .all() as { id: number; nValid: number; nInvalid: number; nError: number; valid: number; invalid: number; errors: number }[];
  return rows
    .filter((h) => h.nValid !== h.valid || h.nInvalid !== h.invalid || h.nError !== h.errors)
    .map((h) => `host ${h.id}: kept ${h.nValid} valid, ${h.nInvalid} invalid, ${h.nError} errors; counted ${h.valid}, ${h.invalid}, ${h.errors}`);
}

/** Every host's, user's and team's credit total is its ledger sum, in micro-credits (since migration 9). */
export function creditTotalProblems(db: Database.Database): string[] {
  const hasMicro = (db.prepare("SELECT COUNT(*) AS n FROM pragma_table_info('hosts') WHERE name = 'total_credit_micro'").get() as { n: number }).n > 0;
  if (!hasMicro) return [];
  const problems: string[] = [];
  for (const [table, column] of [['hosts', 'host_id'], ['users', 'user_id'], ['teams', 'team_id']] as const) {
    const rows = db
      .prepare(
        `SELECT t.id, t.total_credit_micro AS total, COALESCE(l.s, 0) AS sum FROM ${table} t
         LEFT JOIN (SELECT ${column} AS id, SUM(micro) AS s FROM credit_ledger GROUP BY ${column}) l ON l.id = t.id`,
      )
      .all() as { id: number; total: number; sum: number }[];
    for (const r of rows) if (r.total !== r.sum) problems.push(`${table} ${r.id}: total_credit_micro ${r.total}, ledger sum ${r.sum}`);
  }
  return problems;
}
