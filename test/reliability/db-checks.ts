// What must hold in a coordinator's database after crashes and churn, as lists of problems
// (empty when all is well), so a failure names every offending row at once. Each check reads
// through the store contract, so it runs on SQLite and on PostgreSQL alike; give it one snapshot
// (DatabaseReader.read, or a transaction) when the coordinator may be writing meanwhile.
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';
import { verifyLedgerChain } from '../../protocol/ledger.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import type { GiveBackRecord, ResultAckRecord } from './host-client.js';

/** The app both tests run: cheap, deterministic, and each output checkable from its input. */
export const APP_MAIN = 'export default async function run(input) { return { x: input.x, y: (input.x * 7919 + 13) % 100003 }; }\n';
export const expectedOutput = (input: { x: number }) => ({ x: input.x, y: (input.x * 7919 + 13) % 100003 });

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Done work units have exactly one canonical replica: theirs, successful, valid, with the right output. */
export async function workunitProblems(sql: SqlExecutor): Promise<string[]> {
  const rows = await sql.all<{
    id: number;
    status: string;
    canonical: number | null;
    input: string;
    finishedAt: number | null;
    replicaWorkunit: number | null;
    outcome: string | null;
    validateState: string | null;
    output: string | null;
  }>(
    `SELECT w.id, w.status, w.canonical_replica_id AS canonical, w.input_json AS input, w.finished_at AS finishedAt,
              r.workunit_id AS replicaWorkunit, r.outcome, r.validate_state AS validateState, r.output_json AS output
       FROM workunits w LEFT JOIN replicas r ON r.id = w.canonical_replica_id`,
  );
  const problems: string[] = [];
  for (const w of rows) {
    if (w.status !== 'done') {
      if (w.canonical !== null) problems.push(`work unit ${w.id} is ${w.status} but has canonical replica ${w.canonical}`);
      continue;
    }
    if (w.canonical === null) problems.push(`work unit ${w.id} is done without a canonical replica`);
    else if (w.replicaWorkunit !== w.id) problems.push(`work unit ${w.id}: canonical replica ${w.canonical} belongs to work unit ${w.replicaWorkunit}`);
    else if (w.outcome !== 'success' || w.validateState !== 'valid')
      problems.push(`work unit ${w.id}: canonical replica ${w.canonical} is ${w.outcome}/${w.validateState}`);
    else if (!sameJson(JSON.parse(w.output ?? 'null'), expectedOutput(JSON.parse(w.input) as { x: number })))
      problems.push(`work unit ${w.id}: canonical output ${w.output} is wrong for input ${w.input}`);
    if (w.finishedAt === null) problems.push(`work unit ${w.id} is done without finished_at`);
  }
  return problems;
}

/**
 * No credit twice, and every sum exact in micro-credits: per replica one grant first, then any
 * corrections (negative: its project's cap was lowered), and at most one revocation, last, that
 * leaves it nothing (its result was found invalid after it was granted); a replica not revoked
 * is valid and records what its entries add up to, a revoked one is not valid and records 0;
 * every valid replica has a grant; ledger rows name the replica's host, work unit, user and
 * team; and every holder's total is its ledger sum.
 */
export async function creditProblems(sql: SqlExecutor): Promise<string[]> {
  const problems: string[] = [];
  const rows = await sql.all<{ id: number; kind: string; replica: number; v: string | null; rh: number; lh: number; rw: number; lw: number; credit: number | null; amount: number; lu: number; hu: number; lt: number | null; ut: number | null }>(
    `SELECT l.id, l.kind, l.replica_id AS replica, r.validate_state AS v, r.host_id AS rh, l.host_id AS lh, r.workunit_id AS rw,
              l.workunit_id AS lw, r.credit_micro AS credit, l.micro AS amount, l.user_id AS lu, h.user_id AS hu, l.team_id AS lt, u.team_id AS ut
       FROM credit_ledger l JOIN replicas r ON r.id = l.replica_id JOIN hosts h ON h.id = l.host_id JOIN users u ON u.id = h.user_id
       ORDER BY l.id`,
  );
  const byReplica = new Map<number, typeof rows>();
  for (const r of rows) {
    byReplica.set(r.replica, [...(byReplica.get(r.replica) ?? []), r]);
    if (r.rh !== r.lh || r.rw !== r.lw) problems.push(`ledger row ${r.id} names host ${r.lh}/work unit ${r.lw}, the replica has ${r.rh}/${r.rw}`);
    if (r.lu !== r.hu || r.lt !== r.ut) problems.push(`ledger row ${r.id} names user ${r.lu}/team ${r.lt}, the host has ${r.hu}/${r.ut}`);
  }
  for (const [replica, entries] of byReplica) {
    const [grant, ...after] = entries;
    const last = after.at(-1);
    const revoked = last?.kind === 'revocation';
    const corrections = revoked ? after.slice(0, -1) : after;
    const net = entries.reduce((sum, e) => sum + e.amount, 0);
    const shape = grant!.kind === 'grant' && grant!.amount >= 0 && corrections.every((e) => e.kind === 'correction' && e.amount < 0) && net >= 0;
    if (!shape || (revoked && net !== 0)) {
      problems.push(`replica ${replica} has ledger rows ${entries.map((e) => `${e.id}: ${e.kind} ${e.amount}`).join(', ')}`);
    } else if (!revoked) {
      if (grant!.v !== 'valid') problems.push(`ledger row ${grant!.id} credits replica ${replica}, which is ${grant!.v}`);
      if (grant!.credit !== net) problems.push(`replica ${replica} holds ${net} by the ledger, records ${grant!.credit}`);
    } else {
      if (grant!.v === 'valid') problems.push(`replica ${replica} is valid, but its credit was revoked (ledger row ${last.id})`);
      if (grant!.credit !== 0) problems.push(`replica ${replica} had its credit revoked, yet records ${grant!.credit}`);
    }
  }
  const missing = await sql.all<{ id: number }>(
    "SELECT r.id FROM replicas r LEFT JOIN credit_ledger l ON l.replica_id = r.id AND l.kind = 'grant' WHERE r.validate_state = 'valid' AND l.id IS NULL",
  );
  for (const r of missing) problems.push(`valid replica ${r.id} has no ledger row`);
  const count = (await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM credit_ledger'))!;
  const orphans = (await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM credit_ledger l LEFT JOIN replicas r ON r.id = l.replica_id WHERE r.id IS NULL'))!;
  if (orphans.n > 0) problems.push(`${orphans.n} of ${count.n} ledger rows credit no replica`);
  for (const [table, column] of [['hosts', 'host_id'], ['users', 'user_id'], ['teams', 'team_id']] as const) {
    const rows = await sql.all<{ id: number; total: number; sum: number }>(
      `SELECT t.id, t.total_credit_micro AS total, COALESCE(l.s, 0) AS sum FROM ${table} t
       LEFT JOIN (SELECT ${column} AS id, SUM(micro) AS s FROM credit_ledger GROUP BY ${column}) l ON l.id = t.id`,
    );
    for (const r of rows) if (r.total !== r.sum) problems.push(`${table} ${r.id}: total_credit_micro ${r.total}, ledger sum ${r.sum}`);
  }
  return problems;
}

/** Every result the coordinator acknowledged (accepted, or a duplicate of one it had) is stored as reported. */
export async function ackProblems(sql: SqlExecutor, acks: ResultAckRecord[]): Promise<string[]> {
  // Every task at once: thousands of acks, one round trip.
  const rows = await sql.all<{ taskId: number; hash: string | null; hostId: number | null }>('SELECT task_id AS taskId, result_hash AS hash, host_id AS hostId FROM replicas WHERE task_id IS NOT NULL');
  const byId = new Map(rows.map((r) => [r.taskId, r]));
  const problems: string[] = [];
  for (const a of acks) {
    if (a.status === 'rejected') continue;
    const row = byId.get(a.taskId);
    if (!row) problems.push(`task ${a.taskId} (${a.status}) is not in the database`);
    else if (row.hash !== a.resultHash) problems.push(`task ${a.taskId} was acknowledged ${a.status} with hash ${a.resultHash.slice(0, 12)}…, the database has ${row.hash}`);
    else if (row.hostId !== a.hostId) problems.push(`task ${a.taskId} belongs to host ${row.hostId}, not ${a.hostId}`);
  }
  return problems;
}

/** Every task the coordinator said it took back stays taken back. */
export async function givenBackProblems(sql: SqlExecutor, records: GiveBackRecord[]): Promise<string[]> {
  const rows = await sql.all<{ taskId: number; status: string; outcome: string | null; hash: string | null }>('SELECT task_id AS taskId, status, outcome, result_hash AS hash FROM replicas WHERE task_id IS NOT NULL');
  const byId = new Map(rows.map(({ taskId, ...r }) => [taskId, r]));
  const problems: string[] = [];
  for (const g of records) {
    if (g.status !== 'given_back') continue;
    const row = byId.get(g.taskId);
    if (!row || row.status !== 'over' || row.outcome !== 'abandoned' || row.hash !== null)
      problems.push(`task ${g.taskId} was given back, the database has ${JSON.stringify(row)}`);
  }
  return problems;
}

/** Done work units with their canonical replica and finish time: once done, these never change. */
export async function doneSnapshot(sql: SqlExecutor): Promise<Map<number, string>> {
  const rows = await sql.all<{ id: number; c: number | null; f: number | null }>("SELECT id, canonical_replica_id AS c, finished_at AS f FROM workunits WHERE status = 'done'");
  return new Map(rows.map((r) => [r.id, `canonical ${r.c} at ${r.f}`]));
}

export function snapshotProblems(before: Map<number, string>, after: Map<number, string>): string[] {
  const problems: string[] = [];
  for (const [id, was] of before) {
    const now = after.get(id);
    if (now !== was) problems.push(`work unit ${id} was done (${was}), later ${now ?? 'not done'}: finished twice`);
  }
  return problems;
}

/** Credit receipts pushed to hosts are in the ledger, unchanged. */
export async function receiptProblems(sql: SqlExecutor, receipts: CreditReceipt[]): Promise<string[]> {
  const rows = await sql.all<{ id: number; taskId: number; entryHash: string }>('SELECT id, COALESCE(task_id, replica_id) AS taskId, entry_hash AS entryHash FROM credit_ledger');
  const byId = new Map(rows.map(({ id, ...r }) => [id, r]));
  const problems: string[] = [];
  for (const r of receipts) {
    const row = byId.get(r.entryId);
    if (!row || row.taskId !== r.taskId || row.entryHash !== r.entryHash) problems.push(`receipt ${r.entryId} for task ${r.taskId} is not in the ledger as sent: ${JSON.stringify(row)}`);
  }
  return problems;
}

/**
 * SQLite's own check of its file (pages, indexes, constraints), which the coordinator's process
 * writes itself and may be killed in the middle of writing. Nothing to ask on PostgreSQL: there
 * the coordinator is a client, the server writes its files, and a client killed mid-transaction
 * leaves nothing of it (the server rolls it back); its own crash recovery is not under test here.
 */
export async function integrityProblems(sql: SqlExecutor): Promise<string[]> {
  if (sql.dialect !== 'sqlite') return [];
  const lines = (await sql.all<{ integrity_check: string }>('PRAGMA integrity_check(100)')).map((r) => r.integrity_check);
  return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
}

/** The whole public ledger, page by page, and whether its chain verifies with the coordinator key. */
export async function fetchAndVerifyLedger(url: string, coordinatorKey: string): Promise<{ entries: CreditReceipt[]; problem: string | undefined }> {
  const entries: CreditReceipt[] = [];
  for (;;) {
    const after = entries.length > 0 ? entries[entries.length - 1]!.entryId : 0;
    const res = await fetch(`${url}/api/v1/ledger?after=${after}&limit=1000`);
    if (!res.ok) throw new Error(`GET /api/v1/ledger: HTTP ${res.status}`);
    const page = (await res.json()) as { coordinatorKey: string; entries: CreditReceipt[] };
    if (page.coordinatorKey !== coordinatorKey) return { entries, problem: `the ledger names coordinator key ${page.coordinatorKey}` };
    if (page.entries.length === 0) break;
    entries.push(...page.entries);
  }
  const bad = verifyLedgerChain(nodeEd25519(), coordinatorKey, entries);
  return { entries, problem: bad ? `ledger entry ${bad.entryId}: ${bad.problem}` : undefined };
}

