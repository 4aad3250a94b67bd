// The counters that triggers keep — a batch's (migration 4), a host's results (migration 9) —
// and the credit totals of hosts, users and teams, checked against a recount of the rows they
// summarise. `admin verify` runs it on a data dir's SQLite file; the reliability tests after
// crashes, on either backend. Each check is its statements and a pure comparison of their rows,
// so the same statements run synchronously on a SQLite file or through the store contract
// (`...In(sql)`) on SQLite or PostgreSQL. A batch's counts are read as the sums of their slots
// (PostgreSQL spreads them over slots; SQLite has one row, and the sum is that row).
import type Database from 'better-sqlite3';
import type { SqlExecutor } from '../store/sql/sql.js';

const REPLICA_KEYS = ['r_unsent', 'r_in_progress', 'r_success', 'r_client_error', 'r_no_reply', 'r_aborted', 'r_abandoned', 'r_not_needed'];
const WORKUNIT_KEYS = ['active', 'done', 'failed', 'cancelled'];

type Rows = Record<string, unknown>[];
/** Statements by name, read together. */
type Reads = Record<string, string>;

function readSync<R extends Reads>(db: Database.Database, reads: R): Record<keyof R, Rows> {
  return Object.fromEntries(Object.entries(reads).map(([name, sql]) => [name, db.prepare(sql).all()])) as Record<keyof R, Rows>;
}

async function read<R extends Reads>(sql: SqlExecutor, reads: R): Promise<Record<keyof R, Rows>> {
  const out: Record<string, Rows> = {};
  for (const [name, text] of Object.entries(reads)) out[name] = await sql.all<Record<string, unknown>>(text);
  return out as Record<keyof R, Rows>;
}

/** What the schema has, for a SQLite file of any age; PostgreSQL's schema starts past all of it. */
interface Schema {
  /** batch_counts.r_new_host (migration 8). */
  newHost: boolean;
  /** Hosts' result counts kept by triggers (migration 9). */
  hostCounts: boolean;
  /** Credit totals in micro-credits (migration 9). */
  creditMicro: boolean;
  /** Whether a batch has its counts row from its creation (SQLite) or only from its first change (PostgreSQL's slots). */
  rowPerBatch: boolean;
}

function sqliteSchema(db: Database.Database): Schema {
  const column = (table: string, name: string) =>
    (db.prepare(`SELECT COUNT(*) AS n FROM pragma_table_info('${table}') WHERE name = ?`).get(name) as { n: number }).n > 0;
  return {
    newHost: column('batch_counts', 'r_new_host'),
    hostCounts: db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'host_counts_replica_update'").get() !== undefined,
    creditMicro: column('hosts', 'total_credit_micro'),
    rowPerBatch: true,
  };
}

async function schemaOf(sql: SqlExecutor): Promise<Schema> {
  if (sql.dialect === 'postgres') return { newHost: true, hostCounts: true, creditMicro: true, rowPerBatch: false };
  const column = async (table: string, name: string) =>
    (await sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM pragma_table_info('${table}') WHERE name = ?`, [name]))!.n > 0;
  return {
    newHost: await column('batch_counts', 'r_new_host'),
    hostCounts: (await sql.get("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'host_counts_replica_update'")) !== undefined,
    creditMicro: await column('hosts', 'total_credit_micro'),
    rowPerBatch: true,
  };
}

/** Every kept counter that differs from its recount, in words; [] when all agree. */
export function counterProblems(db: Database.Database): string[] {
  return [...batchCounterProblems(db), ...hostCounterProblems(db), ...creditTotalProblems(db)];
}

/** counterProblems through the store contract, on either backend. */
export async function counterProblemsIn(sql: SqlExecutor): Promise<string[]> {
  return [...(await batchCounterProblemsIn(sql)), ...(await hostCounterProblemsIn(sql)), ...(await creditTotalProblemsIn(sql))];
}

function batchReads(schema: Schema): Reads {
  return {
    kept: `SELECT batch_id, ${[...WORKUNIT_KEYS, ...REPLICA_KEYS].map((k) => `SUM(${k}) AS ${k}`).join(', ')},
             ${schema.newHost ? 'SUM(r_new_host)' : '0'} AS r_new_host, MAX(last_finished_at) AS last_finished_at
           FROM batch_counts GROUP BY batch_id`,
    recount: `SELECT b.id AS batch_id,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'active') AS active,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'done') AS done,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'failed') AS failed,
         (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = b.id AND w.status = 'cancelled') AS cancelled,
         (SELECT MAX(finished_at) FROM workunits w WHERE w.batch_id = b.id) AS last_finished_at
       FROM batches b ORDER BY b.id`,
    replicas: 'SELECT w.batch_id AS batchId, r.status, r.outcome, COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id GROUP BY 1, 2, 3',
    // In progress on hosts that were new when they took them (migration 8; absent before).
    newHost: schema.newHost
      ? `SELECT w.batch_id AS batchId, COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id
         WHERE r.status = 'in_progress' AND r.new_host = 1 GROUP BY 1`
      : 'SELECT 0 AS batchId, 0 AS n WHERE 1 = 0',
    finishedKept: `SELECT batch_id AS b, second AS s, SUM(done) AS done, SUM(failed) AS failed FROM batch_finished
       GROUP BY batch_id, second HAVING SUM(done) <> 0 OR SUM(failed) <> 0 ORDER BY 1, 2`,
    finishedCounted: `SELECT w.batch_id AS b, (w.finished_at - bt.created_at) / 1000 AS s,
         COUNT(*) FILTER (WHERE w.status = 'done') AS done, COUNT(*) FILTER (WHERE w.status = 'failed') AS failed
       FROM workunits w JOIN batches bt ON bt.id = w.batch_id WHERE w.status IN ('done', 'failed') AND w.finished_at IS NOT NULL
       GROUP BY 1, 2 ORDER BY 1, 2`,
  };
}

/**
 * The batch counters equal a recount of the rows: work units by status, replicas by status or
 * outcome, replicas in progress on new hosts, the latest finish (once nothing is open), and
 * finishes per second of each batch's life.
 */
export function batchCounterProblems(db: Database.Database): string[] {
  const schema = sqliteSchema(db);
  return compareBatchCounts(readSync(db, batchReads(schema)), schema);
}

export async function batchCounterProblemsIn(sql: SqlExecutor): Promise<string[]> {
  const schema = await schemaOf(sql);
  return compareBatchCounts(await read(sql, batchReads(schema)), schema);
}

type Counts = { batch_id: number } & Record<string, number | null>;

function compareBatchCounts(rows: Record<string, Rows>, schema: Schema): string[] {
  const problems: string[] = [];
  const kept = new Map((rows.kept as Counts[]).map((r) => [r.batch_id, r]));
  const replicas = rows.replicas as { batchId: number; status: string; outcome: string | null; n: number }[];
  const newHost = new Map((rows.newHost as { batchId: number; n: number }[]).map((r) => [r.batchId, r.n]));
  const replicaKey = (status: string, outcome: string | null) =>
    status === 'unsent' ? 'r_unsent' : status === 'in_progress' ? 'r_in_progress' : outcome ? `r_${outcome}` : undefined;
  for (const want of rows.recount as Counts[]) {
    let have = kept.get(want.batch_id);
    if (!have) {
      // PostgreSQL makes a batch's slot rows at its first change: none yet means all zero.
      if (schema.rowPerBatch) {
        problems.push(`batch ${want.batch_id} has no counters`);
        continue;
      }
      have = { batch_id: want.batch_id, last_finished_at: null, r_new_host: 0, ...Object.fromEntries([...WORKUNIT_KEYS, ...REPLICA_KEYS].map((k) => [k, 0])) };
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
    if (schema.newHost && have.r_new_host !== (newHost.get(want.batch_id) ?? 0)) {
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

  if (JSON.stringify(rows.finishedKept) !== JSON.stringify(rows.finishedCounted)) {
    problems.push(`finishes per second differ: kept ${JSON.stringify(rows.finishedKept).slice(0, 300)}, counted ${JSON.stringify(rows.finishedCounted).slice(0, 300)}`);
  }
  return problems;
}

const HOST_COUNTS = `SELECT h.id, h.n_valid AS nValid, h.n_invalid AS nInvalid, h.n_error AS nError,
    (SELECT COUNT(*) FROM replicas r WHERE r.host_id = h.id AND r.validate_state = 'valid') AS valid,
    (SELECT COUNT(*) FROM replicas r WHERE r.host_id = h.id AND r.validate_state = 'invalid') AS invalid,
    (SELECT COUNT(*) FROM replicas r WHERE r.host_id = h.id AND r.outcome = 'client_error') AS errors
  FROM hosts h ORDER BY h.id`;

/**
 * Each host's counts of valid, invalid and client-error results equal a recount of its replicas
 * (kept by triggers since migration 9; nothing to check in an older schema).
 */
export function hostCounterProblems(db: Database.Database): string[] {
  return sqliteSchema(db).hostCounts ? compareHostCounts(db.prepare(HOST_COUNTS).all() as HostCounts[]) : [];
}

export async function hostCounterProblemsIn(sql: SqlExecutor): Promise<string[]> {
  return (await schemaOf(sql)).hostCounts ? compareHostCounts(await sql.all<HostCounts>(HOST_COUNTS)) : [];
}

type HostCounts = { id: number; nValid: number; nInvalid: number; nError: number; valid: number; invalid: number; errors: number };

function compareHostCounts(rows: HostCounts[]): string[] {
  return rows
    .filter((h) => h.nValid !== h.valid || h.nInvalid !== h.invalid || h.nError !== h.errors)
    .map((h) => `host ${h.id}: kept ${h.nValid} valid, ${h.nInvalid} invalid, ${h.nError} errors; counted ${h.valid}, ${h.invalid}, ${h.errors}`);
}

const CREDIT_TOTALS: Reads = Object.fromEntries(
  ([['hosts', 'host_id'], ['users', 'user_id'], ['teams', 'team_id']] as const).map(([table, column]) => [
    table,
    `SELECT t.id, t.total_credit_micro AS total, COALESCE(l.s, 0) AS sum FROM ${table} t
     LEFT JOIN (SELECT ${column} AS id, SUM(micro) AS s FROM credit_ledger GROUP BY ${column}) l ON l.id = t.id ORDER BY t.id`,
  ]),
);

/** Every host's, user's and team's credit total is its ledger sum, in micro-credits (since migration 9). */
export function creditTotalProblems(db: Database.Database): string[] {
  return sqliteSchema(db).creditMicro ? compareCreditTotals(readSync(db, CREDIT_TOTALS)) : [];
}

export async function creditTotalProblemsIn(sql: SqlExecutor): Promise<string[]> {
  return (await schemaOf(sql)).creditMicro ? compareCreditTotals(await read(sql, CREDIT_TOTALS)) : [];
}

function compareCreditTotals(rows: Record<string, Rows>): string[] {
  const problems: string[] = [];
  for (const [table, totals] of Object.entries(rows)) {
    for (const r of totals as { id: number; total: number; sum: number }[]) {
      if (r.total !== r.sum) problems.push(`${table} ${r.id}: total_credit_micro ${r.total}, ledger sum ${r.sum}`);
    }
  }
  return problems;
}
