// Batches, work units and replicas: the rows the work lifecycle moves.
import type { SqlExecutor } from './sql/sql.js';
import { idArray, type HeldWrite } from './sql/write-behind.js';
import type { Replica, ReplicaKind, ReplicaOutcome, Replication, ValidateState, Workunit, WorkunitStatus } from '../work/model.js';
import type { TaskIds } from '../work/task-ids.js';

export interface NewWorkunit extends Replication {
  batchId: number;
  /** Position in the batch's input, from 0. */
  seq: number;
  appId: number;
  inputJson: string | null;
  inputHash: string;
  rngSeed: string;
  /** Sentinels only: the known answer's canonical JSON and its SHA-256. */
  expectedOutputJson?: string | null;
  expectedOutputHash?: string | null;
}

/** An unsent replica as the scheduler sees it. */
export interface Candidate {
  replicaId: number;
  workunitId: number;
  appId: number;
  projectId: number;
  batchId: number;
  hrClass: string | null;
  /** The version its batch is pinned to, if it is. */
  pinnedVersionId: number | null;
}

/** The work (fpops) a project sent a host, decayed as of `updatedAt`. */
export interface RecentWork {
  projectId: number;
  work: number;
  updatedAt: number;
}

/** A done work unit whose canonical result a host may be checked against. */
export interface CheckCandidate {
  workunitId: number;
  appId: number;
  batchId: number;
  hrClass: string | null;
  priority: number;
  pinnedVersionId: number | null;
}

/** One replica of a host, with its work unit. */
export interface HostReplica {
  replicaId: number;
  workunitId: number;
}

/** What decides what a host is told of one of its results (work/host-verdicts.ts). */
export interface HostResultFacts {
  taskId: number;
  outcome: ReplicaOutcome | null;
  /** It lost its quorum vote while its host's results counted (migration 18). */
  lostQuorum: boolean;
  /** The ledger holds a grant for it, and a revocation. */
  granted: boolean;
  revoked: boolean;
}

/** A credited replica, with its work unit and host. */
export interface CreditedReplica extends HostReplica {
  hostId: number;
}

/** A successful result with the CPU time it reported, when its task was sent and its result received, and whether it stands as valid now. */
export interface MeasuredResult {
  replicaId: number;
  cpuTimeMs: number;
  sentAt: number | null;
  receivedAt: number | null;
  /** Valid, not forfeited, of a host not distrusted: one a grant may rest on. */
  valid: boolean;
}

/** Whom a replica's credit goes to: its host, the host's user and the user's team. */
export interface CreditHolders {
  hostId: number;
  hostKey: string;
  userId: number;
  teamId: number | null;
}

/** A measured result, with what a grant to it needs besides. */
export interface CreditFact extends MeasuredResult {
  /** The id its host knows the task by (null for a replica sent before task ids were drawn). */
  taskId: number | null;
  /** Undefined when its host is gone. */
  holder: CreditHolders | undefined;
  /** The ledger holds a grant for it already. */
  granted: boolean;
}

type CreditFactRow = Omit<CreditFact, 'valid' | 'granted' | 'holder'> & { valid: number; granted: number; hostId: number | null; hostKey: string | null; userId: number | null; teamId: number | null };

function toCreditFact({ valid, granted, hostId, hostKey, userId, teamId, ...r }: CreditFactRow): CreditFact {
  return {
    ...r,
    valid: valid === 1,
    granted: granted === 1,
    holder: hostId !== null && hostKey !== null && userId !== null ? { hostId, hostKey, userId, teamId } : undefined,
  };
}

/** A work unit as the replica maker walks them. */
export interface WorkunitToReplicate {
  id: number;
  status: WorkunitStatus;
  priority: number;
  target_nresults: number;
  /** 1 for a sentinel. */
  sentinel: number;
}

/** Everything needed to build and sign a task for an assigned replica. */
export interface TaskSource {
  replicaId: number;
  workunitId: number;
  inputJson: string | null;
  inputHash: string;
  rngSeed: string;
  fpopsEst: number;
  delayBoundMs: number;
  projectName: string;
  appName: string;
}

/** What differs between the tasks of one assignment (WorkStore.assign). */
export interface AssignedTask {
  replicaId: number;
  taskId: number;
  appVersionId: number;
  deadline: number;
  /** Its own signature (protocol 2); null when its reply's list was signed instead (protocol 3). */
  taskSignature: string | null;
}

/** A replica with what a result report must be checked against. */
export interface ReplicaForResult {
  id: number;
  workunitId: number;
  appId: number;
  /** The version it was sent with (null until sent). */
  appVersionId: number | null;
  kind: ReplicaKind;
  hostId: number | null;
  status: 'unsent' | 'in_progress' | 'over';
  outcome: ReplicaOutcome | null;
  resultHash: string | null;
  /** The output the stored result names, if any. */
  outputHash: string | null;
  workunitStatus: WorkunitStatus;
}

/** A host's task, as result intake reads it. */
export interface TaskReplica {
  ids: TaskIds;
  replica: ReplicaForResult;
  /** The version it was sent with has produced a result before. */
  versionSucceeded: boolean;
}

export interface ResultRecord {
  replicaId: number;
  outcome: 'success' | 'client_error';
  receivedAt: number;
  resultHash: string;
  /** Its own signature (protocol 2); null when its report's list signed it (protocol 3: resultListId). */
  signature: string | null;
  /** The result list (result_lists) whose signature covers it, protocol 3; absent when signed on its own. */
  resultListId?: number;
  outputJson: string | null;
  outputHash: string | null;
  errorJson: string | null;
  /** The app's log as the result carried it: {lines, omitted}; null when it logged nothing. */
  logJson: string | null;
  cpuTimeMs: number;
  elapsedMs: number;
}

interface WorkunitRow {
  id: number;
  batch_id: number;
  app_id: number;
  input_hash: string;
  min_quorum: number;
  target_nresults: number;
  max_error_results: number;
  max_total_results: number;
  max_success_results: number;
  delay_bound_ms: number;
  fpops_est: number;
  priority: number;
  rng_seed: string;
  hr_class: string | null;
  expected_output_hash: string | null;
  full_min_quorum: number | null;
  retry_from: number;
  status: WorkunitStatus;
  canonical_replica_id: number | null;
  error_reason: string | null;
  created_at: number;
  finished_at: number | null;
}

const toWorkunit = (r: WorkunitRow): Workunit => ({
  id: r.id,
  batchId: r.batch_id,
  appId: r.app_id,
  inputHash: r.input_hash,
  minQuorum: r.min_quorum,
  targetNresults: r.target_nresults,
  maxErrorResults: r.max_error_results,
  maxTotalResults: r.max_total_results,
  maxSuccessResults: r.max_success_results,
  delayBoundMs: r.delay_bound_ms,
  fpopsEst: r.fpops_est,
  priority: r.priority,
  rngSeed: r.rng_seed,
  hrClass: r.hr_class,
  expectedOutputHash: r.expected_output_hash,
  submittedQuorum: r.full_min_quorum ?? r.min_quorum,
  retryFrom: r.retry_from,
  status: r.status,
  canonicalReplicaId: r.canonical_replica_id,
  errorReason: r.error_reason,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

/**
 * A replica a host had that keeps it from another of the same work unit: anything but one it gave
 * back, one that ended (no reply, aborted) before it reported any progress on it, an error of a
 * version since found broken (the version failed, not the host), or an attempt from before the
 * work unit was retried.
 */
const countsAgainstHost = (r: string) =>
  `NOT (${r}.status = 'over' AND (${r}.outcome = 'abandoned' OR (${r}.outcome IN ('no_reply', 'aborted') AND ${r}.progress IS NULL)
    OR (${r}.outcome = 'client_error' AND ${r}.app_version_id IN (SELECT id FROM app_versions WHERE broken_at IS NOT NULL))
    OR ${r}.id <= (SELECT retry_from FROM workunits WHERE id = ${r}.workunit_id)))`;

/** Hosts holding no task that name an instance whose lease lapsed by @now. */
const idleHostsOfLapsedInstances = `SELECT h.id FROM hosts h
  WHERE h.instance IN (SELECT substr(l.name, CAST(@from AS INTEGER)) FROM leases l WHERE l.name LIKE @pattern AND l.expires_at <= @now)
  AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.host_id = h.id AND r.status = 'in_progress')`;

/** What judging reads of replicas (Replica), and from where. */
const JUDGED_REPLICAS = `r.id, r.workunit_id, r.kind, r.status, r.outcome, r.validate_state, r.forfeited, r.host_id, h.user_id,
    h.distrusted_at IS NOT NULL AS host_distrusted, v.broken_at IS NOT NULL AS version_broken, r.deadline, r.hold_until,
    r.received_at, r.output_hash
    FROM replicas r LEFT JOIN hosts h ON h.id = r.host_id LEFT JOIN app_versions v ON v.id = r.app_version_id`;

interface ReplicaRow {
  id: number; workunit_id: number; kind: ReplicaKind; status: Replica['status']; outcome: ReplicaOutcome | null;
  validate_state: ValidateState | null; forfeited: number; host_id: number | null; user_id: number | null;
  host_distrusted: number | null; version_broken: number | null; deadline: number | null; hold_until: number | null; received_at: number | null;
  output_hash: string | null;
}

const toReplica = (r: ReplicaRow): Replica => ({
  id: r.id,
  workunitId: r.workunit_id,
  kind: r.kind,
  status: r.status,
  outcome: r.outcome,
  validateState: r.validate_state,
  forfeited: r.forfeited === 1,
  hostId: r.host_id,
  userId: r.user_id,
  hostDistrusted: r.host_distrusted === 1,
  versionBroken: r.version_broken === 1,
  deadline: r.deadline,
  holdUntil: r.hold_until,
  receivedAt: r.received_at,
  outputHash: r.output_hash,
});

/** Validate states set, held (PostgreSQL): the last one set for a replica, written a statement per state. */
const VALIDATE_STATES: HeldWrite<number, ValidateState> = {
  name: 'validate states',
  async write(sql, held) {
    const byState = new Map<ValidateState, number[]>();
    for (const [id, state] of held) {
      const ids = byState.get(state);
      if (ids) ids.push(id);
      else byState.set(state, [id]);
    }
    for (const [state, ids] of byState) await sql.run(SQL.setValidateStatesPostgres!, { state, ids: idArray(ids) });
  },
};

/** Replicas' credits set, held (PostgreSQL): the last one set for each, in one statement. */
const CREDITS: HeldWrite<number, number> = {
  name: 'credits',
  async write(sql, held) {
    await sql.run(SQL.setCredits!, { credits: JSON.stringify([...held].map(([id, micro]) => ({ id, micro }))) });
  },
};

interface WorkunitEnd {
  status: Exclude<WorkunitStatus, 'active'>;
  canonicalId: number | null;
  reason: string | null;
  at: number;
}

/** Work units finished, held (PostgreSQL): each ends once, as finishWorkunit alone would end it, in one statement. */
const WORKUNIT_ENDS: HeldWrite<number, WorkunitEnd> = {
  name: 'work units finished',
  // The first end wins, as the second statement (status no longer active) would change nothing.
  merge: (held) => held,
  async write(sql, held) {
    const rows = [...held].map(([id, e]) => ({ id, status: e.status, canonical: e.canonicalId, reason: e.reason, at: e.at }));
    await sql.run(SQL.finishWorkunitsPostgres!, { rows: JSON.stringify(rows), ids: idArray(held.keys()) });
  },
};

/** Rows of one multi-row insert on PostgreSQL: a few hundred kilobytes of JSON. */
const REPLICA_ROWS_PER_STATEMENT = 5000;
const INSERT_BYTES_PER_STATEMENT = 4 * 1024 * 1024;

/** Consecutive runs of items whose sizes add up to at most INSERT_BYTES_PER_STATEMENT (each at least one item). */
function* bySize<T>(items: readonly T[], size: (item: T) => number): Generator<T[]> {
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const b = size(item);
    if (run.length > 0 && bytes + b > INSERT_BYTES_PER_STATEMENT) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += b;
  }
  if (run.length > 0) yield run;
}

/**
 * Done work units from a point on (a bounded read wherever the point falls), keeping those a
 * host could be checked on: decided by hosts none of which is distrusted, of an active batch
 * and project, never checked before (a work unit goes to no more hosts than a reissued one
 * would), and none of it this host's. Exported for the test of its plan.
 *
 * The work unit's replicas are read once, by work unit, for all three questions: a count is never
 * made a join, so PostgreSQL cannot plan it as anti-joins that, from statistics taken while the
 * batch was open, read a whole partial index (every valid replica) for each work unit.
 */
export const CHECK_CANDIDATES_SQL = `SELECT w.id AS workunitId, w.app_id AS appId, w.batch_id AS batchId, w.hr_class AS hrClass, w.priority,
    b.app_version_id AS pinnedVersionId
    FROM (SELECT id, batch_id, app_id, hr_class, priority, canonical_replica_id FROM workunits INDEXED BY workunits_done
      WHERE status = 'done' AND expected_output_hash IS NULL AND id >= @from ORDER BY id LIMIT @scan) w
    JOIN batches b ON b.id = w.batch_id JOIN apps a ON a.id = w.app_id JOIN projects p ON p.id = a.project_id
    WHERE w.canonical_replica_id IS NOT NULL AND b.status <> 'cancelled' AND p.status <> 'paused'
      AND (SELECT COUNT(*) FROM replicas r WHERE r.workunit_id = w.id AND (r.kind = 'check' OR r.host_id = @host
        OR (r.validate_state = 'valid' AND EXISTS (SELECT 1 FROM hosts h WHERE h.id = r.host_id AND h.distrusted_at IS NOT NULL)))) = 0
    LIMIT @limit`;

const SQL: Record<string, string> = {
  insertBatch: 'INSERT INTO batches (project_id, app_id, name, client_key, created_at, staged, instance) VALUES (?, ?, ?, ?, ?, 1, ?) RETURNING id',
  batchByKey: 'SELECT id, staged, workunit_count FROM batches WHERE project_id = ? AND client_key = ?',
  unstage: 'UPDATE batches SET staged = 0, workunit_count = ? WHERE id = ? AND staged = 1',
  stagedBatches: 'SELECT id, created_at AS createdAt FROM batches WHERE staged = 1 ORDER BY id',
  deleteStagedWorkunits: `DELETE FROM workunits WHERE id IN (SELECT w.id FROM workunits w JOIN batches b ON b.id = w.batch_id
    WHERE w.batch_id = ? AND b.staged = 1 LIMIT ?)`,
  deleteStagedBatch: 'DELETE FROM batches WHERE id = ? AND staged = 1',
  // "+batch_id" keeps the planner on the primary key range: through workunits_batch_seq it
  // sorted the whole batch for every chunk (45 ms a chunk at a million work units).
  workunitsAfter: `SELECT id, status, priority, target_nresults, expected_output_hash IS NOT NULL AS sentinel
    FROM workunits WHERE +batch_id = ? AND id > ? ORDER BY id LIMIT ?`,
  setReplicasThrough: 'UPDATE batches SET replicas_through = ? WHERE id = ?',
  replicasThrough: 'SELECT replicas_through FROM batches WHERE id = ? AND staged = 0',
  // PostgreSQL only: instances making one batch's replicas at once take turns.
  // NO KEY UPDATE: the counting triggers' foreign-key checks (KEY SHARE) on the batch go on meanwhile.
  replicasThroughForUpdate: 'SELECT replicas_through FROM batches WHERE id = ? AND staged = 0 FOR NO KEY UPDATE',
  batchesWithoutReplicas: `SELECT b.id FROM batches b WHERE b.staged = 0
    AND EXISTS (SELECT 1 FROM workunits w WHERE w.batch_id = b.id AND w.id > b.replicas_through) ORDER BY b.id`,
  cancelBatch: "UPDATE batches SET status = 'cancelled' WHERE id = ?",
  activeWorkunitsOfBatch: "SELECT id FROM workunits WHERE batch_id = ? AND status = 'active' ORDER BY id LIMIT ?",
  // Failed work units of a batch, those with an error of one of @codes in their last attempt
  // when codes are given (a JSON array; null: all).
  failedWorkunits: `SELECT w.id FROM workunits w WHERE w.batch_id = @batch AND w.status = 'failed'
      AND (CAST(@codes AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM replicas r WHERE r.workunit_id = w.id AND r.id > w.retry_from
        AND r.outcome = 'client_error' AND json_extract(r.error_json, '$.code') IN (SELECT value FROM json_each(@codes))))
    ORDER BY w.id LIMIT @limit`,
  retry: `UPDATE workunits SET status = 'active', canonical_replica_id = NULL, error_reason = NULL, finished_at = NULL,
    retry_from = (SELECT COALESCE(MAX(id), 0) FROM replicas WHERE workunit_id = @id) WHERE id = @id AND status = 'failed'`,
  pin: 'UPDATE batches SET app_version_id = ? WHERE id = ?',
  cancelledWithActive: `SELECT b.id FROM batches b WHERE b.status = 'cancelled'
    AND EXISTS (SELECT 1 FROM workunits w WHERE w.batch_id = b.id AND w.status = 'active')`,
  insertWorkunit: `INSERT INTO workunits (batch_id, seq, app_id, input_json, input_hash, min_quorum, target_nresults,
    max_error_results, max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at,
    expected_output_json, expected_output_hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  workunit: 'SELECT * FROM workunits WHERE id = ?',
  // PostgreSQL only: SQLite's one writer already keeps judges of one work unit apart.
  workunitForUpdate: 'SELECT * FROM workunits WHERE id = ? FOR NO KEY UPDATE',
  finishWorkunit: `UPDATE workunits SET status = ?, canonical_replica_id = ?, error_reason = ?, finished_at = ?
    WHERE id = ? AND status = 'active'`,
  // The class of the first host sent a replica of each, for homogeneous redundancy.
  setHrClass: 'UPDATE workunits SET hr_class = ? WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) AND hr_class IS NULL',
  reduceQuorum: `UPDATE workunits SET full_min_quorum = min_quorum, full_target_nresults = target_nresults,
    min_quorum = 1, target_nresults = 1 WHERE id = ?`,
  insertReplica: "INSERT INTO replicas (workunit_id, priority, status, created_at, kind) VALUES (?, ?, 'unsent', ?, ?) RETURNING id",
  // PostgreSQL only: many rows in one statement, in the order given (ids follow it).
  insertReplicasPostgres: `INSERT INTO replicas (workunit_id, priority, status, created_at, kind)
    SELECT j.w, j.p, 'unsent', @now, j.k FROM json_to_recordset(CAST(@rows AS json)) AS j(i BIGINT, w BIGINT, p BIGINT, k TEXT) ORDER BY j.i`,
  insertWorkunitsPostgres: `INSERT INTO workunits (batch_id, seq, app_id, input_json, input_hash, min_quorum, target_nresults,
    max_error_results, max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at,
    expected_output_json, expected_output_hash)
    SELECT j.batch_id, j.seq, j.app_id, j.input_json, j.input_hash, j.min_quorum, j.target_nresults, j.max_error_results,
      j.max_total_results, j.max_success_results, j.delay_bound_ms, j.fpops_est, j.priority, j.rng_seed, @now,
      j.expected_output_json, j.expected_output_hash
    FROM json_to_recordset(CAST(@rows AS json)) AS j(batch_id BIGINT, seq BIGINT, app_id BIGINT, input_json TEXT, input_hash TEXT,
      min_quorum BIGINT, target_nresults BIGINT, max_error_results BIGINT, max_total_results BIGINT, max_success_results BIGINT,
      delay_bound_ms BIGINT, fpops_est DOUBLE PRECISION, priority BIGINT, rng_seed TEXT, expected_output_json TEXT, expected_output_hash TEXT)
    ORDER BY j.seq`,
  replicasOf: `SELECT ${JUDGED_REPLICAS} WHERE r.workunit_id = ? ORDER BY r.id`,
  replicasOfMany: `SELECT ${JUDGED_REPLICAS} WHERE r.workunit_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) ORDER BY r.id`,
  workunitsOf: 'SELECT * FROM workunits WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) ORDER BY id',
  // PostgreSQL only, as workunitForUpdate; in id order, as every taker of several does.
  workunitsOfForUpdate: 'SELECT * FROM workunits WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) ORDER BY id FOR NO KEY UPDATE',
  // Sentinels' replicas wait in a queue of their own, drawn at the check rate.
  // A project is 'active' or 'paused', a batch 'active' or 'cancelled' (CHECK): these queries
  // say which they leave out. PostgreSQL, before it has sampled a table (one of a few rows, such
  // as projects, may go unsampled for ever), takes any `= 'value'` to keep one row in 200 and
  // `<> 'value'` nearly all: with `p.status = 'active'` it drove the scan from the few projects
  // it expected and read every work unit and its replicas (10-30 ms a request, most of its time
  // per task) instead of the first unsent replicas in replicas_unsent's order.
  candidates: `SELECT r.id AS replicaId, r.workunit_id AS workunitId, w.app_id AS appId, a.project_id AS projectId,
    w.batch_id AS batchId, w.hr_class AS hrClass, b.app_version_id AS pinnedVersionId
    FROM replicas r JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id
    JOIN projects p ON p.id = a.project_id JOIN batches b ON b.id = w.batch_id
    WHERE r.status = 'unsent' AND r.kind <> 'sentinel' AND p.status <> 'paused'
    ORDER BY r.priority DESC, r.id LIMIT ? OFFSET ?`,
  // One project's part of the same queue (a volunteer's resource shares pick the project).
  projectCandidates: `SELECT r.id AS replicaId, r.workunit_id AS workunitId, w.app_id AS appId, a.project_id AS projectId,
    w.batch_id AS batchId, w.hr_class AS hrClass, b.app_version_id AS pinnedVersionId
    FROM replicas r INDEXED BY replicas_unsent JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id
    JOIN projects p ON p.id = a.project_id JOIN batches b ON b.id = w.batch_id
    WHERE r.status = 'unsent' AND r.kind <> 'sentinel' AND p.status <> 'paused' AND a.project_id = ?
    ORDER BY r.priority DESC, r.id LIMIT ? OFFSET ?`,
  // From the batches' kept counts, so it costs one row per open batch (sentinels' unsent replicas included).
  projectsWithUnsent: `SELECT DISTINCT b.project_id AS id FROM batches b JOIN projects p ON p.id = b.project_id
    WHERE b.status = 'active' AND p.status = 'active' AND (SELECT SUM(c.r_unsent) FROM batch_counts c WHERE c.batch_id = b.id) > 0`,
  recentWork: 'SELECT project_id AS projectId, work, updated_at AS updatedAt FROM host_project_work WHERE host_id = ?',
  setRecentWork: `INSERT INTO host_project_work (host_id, project_id, work, updated_at) VALUES (@host, @project, @work, @now)
    ON CONFLICT (host_id, project_id) DO UPDATE SET work = excluded.work, updated_at = excluded.updated_at`,
  // The batch's work units first (workunits_batch), then their unsent replicas.
  batchCandidates: `SELECT r.id AS replicaId, r.workunit_id AS workunitId, w.app_id AS appId, a.project_id AS projectId,
    w.batch_id AS batchId, w.hr_class AS hrClass, b.app_version_id AS pinnedVersionId
    FROM workunits w JOIN replicas r ON r.workunit_id = w.id JOIN apps a ON a.id = w.app_id JOIN batches b ON b.id = w.batch_id
    WHERE w.batch_id = ? AND w.status = 'active' AND r.status = 'unsent' AND r.kind <> 'sentinel' LIMIT ?`,
  sentinelCandidates: `SELECT r.id AS replicaId, r.workunit_id AS workunitId, w.app_id AS appId, a.project_id AS projectId,
    w.batch_id AS batchId, w.hr_class AS hrClass, b.app_version_id AS pinnedVersionId
    FROM replicas r INDEXED BY replicas_unsent_sentinel JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id
    JOIN projects p ON p.id = a.project_id JOIN batches b ON b.id = w.batch_id
    WHERE r.status = 'unsent' AND r.kind = 'sentinel' AND p.status <> 'paused'
    ORDER BY r.priority DESC, r.id LIMIT ? OFFSET ?`,
  // Two seeks on the index: MIN and MAX in one query scan it whole.
  doneRange: `SELECT
    (SELECT id FROM workunits INDEXED BY workunits_done WHERE status = 'done' AND expected_output_hash IS NULL ORDER BY id LIMIT 1) AS low,
    (SELECT id FROM workunits INDEXED BY workunits_done WHERE status = 'done' AND expected_output_hash IS NULL ORDER BY id DESC LIMIT 1) AS high`,
  checkCandidates: CHECK_CANDIDATES_SQL,
  // A replica counts against its host (and user) unless the host gave it back or lost it
  // before it ever started: with two hosts, nobody else could take that work unit.
  hostHasReplica: `SELECT 1 FROM replicas r WHERE r.workunit_id = ? AND r.host_id = ? AND ${countsAgainstHost('r')} LIMIT 1`,
  userHasReplica: `SELECT 1 FROM replicas r JOIN hosts h ON h.id = r.host_id
    WHERE r.workunit_id = ? AND h.user_id = ? AND ${countsAgainstHost('r')} LIMIT 1`,
  // The same two questions for a page of candidates at once; @user null: hosts only.
  heldAmong: `SELECT DISTINCT r.workunit_id AS id FROM replicas r LEFT JOIN hosts h ON h.id = r.host_id
    WHERE r.workunit_id IN (SELECT CAST(value AS BIGINT) FROM json_each(@ids)) AND r.host_id IS NOT NULL
    AND (r.host_id = @host OR h.user_id = CAST(@user AS BIGINT)) AND ${countsAgainstHost('r')}`,
  sentCount: "SELECT COUNT(*) AS n FROM replicas WHERE workunit_id = ? AND status <> 'unsent'",
  // PostgreSQL only: a replica another instance is taking now is skipped, not waited for (so
  // rows locked at once in any order wait for nothing and deadlock with nothing).
  claimUnsent: `SELECT id FROM replicas WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) AND status = 'unsent'
    FOR NO KEY UPDATE SKIP LOCKED`,
  // A round's tasks to one host in one statement: what differs by task comes as a JSON array of
  // rows (@tasks), what they share as parameters. The ids named again as a list, so that
  // PostgreSQL looks them up by index (postgres-statement.ts, sqliteFunctions).
  assign: `UPDATE replicas SET status = 'in_progress', host_id = @hostId, app_version_id = t.app_version_id, sent_at = @sentAt,
    deadline = t.deadline, hold_until = @holdUntil, new_host = @newHost, task_signature = t.task_signature, task_id = t.task_id
    FROM (SELECT CAST(json_extract(value, '$.replicaId') AS BIGINT) AS replica_id, CAST(json_extract(value, '$.taskId') AS BIGINT) AS task_id,
      CAST(json_extract(value, '$.appVersionId') AS BIGINT) AS app_version_id, CAST(json_extract(value, '$.deadline') AS BIGINT) AS deadline,
      CAST(json_extract(value, '$.taskSignature') AS TEXT) AS task_signature FROM json_each(@tasks)) AS t
    WHERE replicas.id = t.replica_id AND replicas.status = 'unsent'
    AND replicas.id IN (SELECT CAST(json_extract(value, '$.replicaId') AS BIGINT) FROM json_each(@tasks))`,
  newHostLoad: `SELECT (SELECT COALESCE(SUM(c.r_new_host), 0) FROM batch_counts c WHERE c.batch_id = b.id) AS held,
    b.workunit_count AS workunits FROM batches b WHERE b.id = ?`,
  newHostLoads: `SELECT b.id AS batchId, (SELECT COALESCE(SUM(c.r_new_host), 0) FROM batch_counts c WHERE c.batch_id = b.id) AS held,
    b.workunit_count AS workunits FROM batches b WHERE b.status = 'active'`,
  taskSource: `SELECT r.id AS replicaId, w.id AS workunitId, w.input_json AS inputJson, w.input_hash AS inputHash,
    w.rng_seed AS rngSeed, w.fpops_est AS fpopsEst, w.delay_bound_ms AS delayBoundMs, p.name AS projectName, a.name AS appName
    FROM replicas r JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id JOIN projects p ON p.id = a.project_id
    WHERE r.id = ?`,
  taskSources: `SELECT r.id AS replicaId, w.id AS workunitId, w.input_json AS inputJson, w.input_hash AS inputHash,
    w.rng_seed AS rngSeed, w.fpops_est AS fpopsEst, w.delay_bound_ms AS delayBoundMs, p.name AS projectName, a.name AS appName
    FROM replicas r JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id JOIN projects p ON p.id = a.project_id
    WHERE r.id IN (SELECT CAST(value AS BIGINT) FROM json_each(?))`,
  forResult: `SELECT r.id, r.workunit_id AS workunitId, w.app_id AS appId, r.app_version_id AS appVersionId, r.kind,
    r.host_id AS hostId, r.status, r.outcome,
    r.result_hash AS resultHash, r.output_hash AS outputHash, w.status AS workunitStatus
    FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE r.id = ?`,
  forResults: `SELECT r.id, r.task_id AS taskId, r.workunit_id AS workunitId, w.app_id AS appId, r.app_version_id AS appVersionId,
    r.kind, r.host_id AS hostId, r.status, r.outcome, r.result_hash AS resultHash, r.output_hash AS outputHash,
    w.status AS workunitStatus, COALESCE(v.succeeded, 0) AS versionSucceeded
    FROM replicas r JOIN workunits w ON w.id = r.workunit_id LEFT JOIN app_versions v ON v.id = r.app_version_id
    WHERE r.task_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) AND +r.host_id = ?`,
  recordResult: `UPDATE replicas SET status = 'over', outcome = ?, validate_state = ?, received_at = ?,
    result_hash = ?, result_signature = ?, result_list_id = ?, output_json = ?, output_hash = ?, error_json = ?, log_json = ?, cpu_time_ms = ?,
    elapsed_ms = ?, progress = 1 WHERE id = ? AND result_hash IS NULL`,
  // A protocol-3 report's signature and what it signs, once per report (the replicas it recorded name it).
  recordResultList: `INSERT INTO result_lists (host_id, received_at, signature, result_hashes) VALUES (?, ?, ?, ?) RETURNING id`,
  // PostgreSQL's words only (SQLite records one result a statement: no round trips to save).
  // Each result's fields read once by json_to_recordset; its ids as an array, for the index.
  recordResultsPostgres: `UPDATE replicas SET status = 'over', outcome = j.outcome, validate_state = j.validate, received_at = j.received_at,
    result_hash = j.result_hash, result_signature = j.signature, result_list_id = j.result_list_id, output_json = j.output_json, output_hash = j.output_hash,
    error_json = j.error_json, log_json = j.log_json, cpu_time_ms = j.cpu_time_ms, elapsed_ms = j.elapsed_ms, progress = 1
    FROM json_to_recordset(CAST(@records AS json)) AS j(replica_id BIGINT, outcome TEXT, validate TEXT, received_at BIGINT,
      result_hash TEXT, signature TEXT, result_list_id BIGINT, output_json TEXT, output_hash TEXT, error_json TEXT, log_json TEXT,
      cpu_time_ms DOUBLE PRECISION, elapsed_ms DOUBLE PRECISION)
    WHERE replicas.id = j.replica_id AND replicas.id = ANY(CAST(@ids AS BIGINT[])) AND replicas.result_hash IS NULL
    RETURNING replicas.id AS id`,
  end: "UPDATE replicas SET status = 'over', outcome = ? WHERE id = ? AND status = ?",
  hostOf: 'SELECT host_id, task_id FROM replicas WHERE id = ?',
  setValidateState: 'UPDATE replicas SET validate_state = ? WHERE id = ?',
  setValidateStates: 'UPDATE replicas SET validate_state = ? WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?))',
  // PostgreSQL only (held writes).
  setValidateStatesPostgres: 'UPDATE replicas SET validate_state = @state WHERE id = ANY(CAST(@ids AS BIGINT[]))',
  finishWorkunitsPostgres: `UPDATE workunits SET status = j.status, canonical_replica_id = j.canonical, error_reason = j.reason, finished_at = j.at
    FROM json_to_recordset(CAST(@rows AS json)) AS j(id BIGINT, status TEXT, canonical BIGINT, reason TEXT, at BIGINT)
    WHERE workunits.id = j.id AND workunits.id = ANY(CAST(@ids AS BIGINT[])) AND workunits.status = 'active'`,
  forfeit: "UPDATE replicas SET validate_state = 'invalid', forfeited = 1 WHERE id = ?",
  setCredit: 'UPDATE replicas SET credit_micro = ? WHERE id = ?',
  // The list twice: joined for the values, and as an id list (looked up by index on PostgreSQL).
  setCredits: `UPDATE replicas SET credit_micro = CAST(json_extract(j.value, '$.micro') AS BIGINT)
    FROM json_each(@credits) AS j WHERE replicas.id = CAST(json_extract(j.value, '$.id') AS BIGINT)
    AND replicas.id IN (SELECT CAST(json_extract(value, '$.id') AS BIGINT) FROM json_each(@credits))`,
  creditFactsOf: `SELECT r.workunit_id AS workunitId, r.id AS replicaId, COALESCE(r.cpu_time_ms, 0) AS cpuTimeMs, r.sent_at AS sentAt, r.received_at AS receivedAt,
    COALESCE(r.validate_state = 'valid', FALSE) AND r.forfeited = 0 AND h.distrusted_at IS NULL AS valid,
    r.task_id AS taskId, r.host_id AS hostId, h.public_key AS hostKey, h.user_id AS userId, u.team_id AS teamId,
    EXISTS (SELECT 1 FROM credit_ledger l WHERE l.replica_id = r.id AND l.kind = 'grant') AS granted
    FROM replicas r LEFT JOIN hosts h ON h.id = r.host_id LEFT JOIN users u ON u.id = h.user_id
    WHERE r.workunit_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) AND r.outcome = 'success' ORDER BY r.id`,
  nextBatchOfProject: 'SELECT id FROM batches WHERE project_id = ? AND id >= ? ORDER BY id LIMIT 1',
  // "+batch_id" keeps the planner on the primary key range, as for workunitsAfter.
  workunitSpan: `SELECT MAX(id) AS last, COUNT(*) AS n FROM
    (SELECT id FROM workunits WHERE +batch_id = ? AND id > ? ORDER BY id LIMIT ?) AS span`,
  creditedAbove: `SELECT r.id AS replicaId, r.workunit_id AS workunitId, r.host_id AS hostId
    FROM workunits w JOIN replicas r ON r.workunit_id = w.id
    WHERE +w.batch_id = ? AND w.id > ? AND w.id <= ? AND r.credit_micro > ? ORDER BY r.id`,
  lowerWorkunitPriority: `UPDATE workunits SET priority = @max
    WHERE +batch_id = @batch AND id > @after AND id <= @last AND status = 'active' AND priority > @max`,
  lowerReplicaPriority: `UPDATE replicas SET priority = @max WHERE status = 'unsent' AND priority > @max
    AND workunit_id IN (SELECT id FROM workunits WHERE +batch_id = @batch AND id > @after AND id <= @last)`,
  output: 'SELECT output_json, output_hash FROM replicas WHERE id = ?',
  expired: `SELECT id FROM (SELECT workunit_id AS id FROM replicas WHERE status = 'in_progress' AND deadline < @now
      ORDER BY deadline LIMIT @limit) AS late
    UNION SELECT id FROM (SELECT workunit_id AS id FROM replicas WHERE status = 'in_progress' AND hold_until < @now
      ORDER BY hold_until LIMIT @limit) AS silent`,
  progress: `UPDATE replicas SET progress = @fraction, hold_until = @holdUntil
    WHERE task_id = @taskId AND host_id = @hostId AND status = 'in_progress'`,
  hostsWithTasks: "SELECT DISTINCT host_id AS id FROM replicas WHERE status = 'in_progress'",
  // What instances that died left (cluster/orphans.ts): @prefix and an instance's name make its
  // lease's name (cluster/instance-lease.ts); a lease that expired by @now was its holder's last.
  // Hosts are found from the leases (hosts_instance), and those left with no task are named by
  // no instance any more, so that few hosts name a dead one.
  hostsOfLapsedInstances: `SELECT h.id AS hostId, h.instance, l.expires_at AS lapsedAt FROM leases l
    JOIN hosts h ON h.instance = substr(l.name, CAST(@from AS INTEGER))
    WHERE l.name LIKE @pattern AND l.expires_at <= @now
    AND EXISTS (SELECT 1 FROM replicas r WHERE r.host_id = h.id AND r.status = 'in_progress') ORDER BY h.id`,
  forgetIdleHostsOfLapsedInstances: `UPDATE hosts SET instance = NULL WHERE id IN (${idleHostsOfLapsedInstances})`,
  // PostgreSQL only: a host row another transaction holds (credit granted to it) is left for the next turn, not waited for.
  forgetIdleHostsOfLapsedInstancesSkipLocked: `UPDATE hosts SET instance = NULL WHERE id IN (${idleHostsOfLapsedInstances} FOR NO KEY UPDATE OF h SKIP LOCKED)`,
  hostOnLapsedInstance: `SELECT 1 AS x FROM hosts h JOIN leases l ON l.name = CAST(@prefix AS TEXT) || h.instance
    WHERE h.id = @id AND h.instance = @instance AND l.expires_at <= @lapsedBy`,
  // A batch no instance names, or whose instance has no lease, is no live instance's either.
  batchesOfLapsedInstances: `SELECT b.id, b.instance FROM batches b LEFT JOIN leases l ON l.name = CAST(@prefix AS TEXT) || b.instance
    WHERE b.staged = 0 AND (l.expires_at IS NULL OR l.expires_at <= @now)
    AND EXISTS (SELECT 1 FROM workunits w WHERE w.batch_id = b.id AND w.id > b.replicas_through) ORDER BY b.id`,
  inProgressOfHost: "SELECT id FROM replicas WHERE host_id = ? AND status = 'in_progress' ORDER BY id",
  openRegularWork: `SELECT 1 FROM workunits WHERE batch_id = ? AND status = 'active'
    AND expected_output_hash IS NULL LIMIT 1`,
  // The planner prefers workunits_batch, which scans every open work unit of the batch.
  openSentinels: `SELECT id FROM workunits INDEXED BY workunits_open_sentinels WHERE batch_id = ?
    AND status = 'active' AND expected_output_hash IS NOT NULL ORDER BY id`,
  expectedOutput: 'SELECT expected_output_json AS json FROM workunits WHERE id = ?',
  pendingOfHost: `SELECT r.id AS replicaId, r.workunit_id AS workunitId FROM replicas r
    WHERE r.host_id = ? AND r.validate_state = 'pending'`,
  inProgressWithWorkunitOfHost: `SELECT r.id AS replicaId, r.workunit_id AS workunitId FROM replicas r
    WHERE r.host_id = ? AND r.status = 'in_progress'`,
  validRegularOfHost: `SELECT r.id AS replicaId, r.workunit_id AS workunitId FROM replicas r
    JOIN workunits w ON w.id = r.workunit_id
    WHERE r.host_id = ? AND r.validate_state = 'valid' AND w.expected_output_hash IS NULL
    ORDER BY r.workunit_id LIMIT ?`,
  reopen: `UPDATE workunits SET status = 'active', canonical_replica_id = NULL, error_reason = NULL, finished_at = NULL,
    min_quorum = COALESCE(full_min_quorum, min_quorum), target_nresults = COALESCE(full_target_nresults, target_nresults),
    full_min_quorum = NULL, full_target_nresults = NULL
    WHERE id = ? AND status = 'done'`,
  setCanonical: "UPDATE workunits SET canonical_replica_id = ? WHERE id = ? AND status = 'done'",
  batchActive: "SELECT status = 'active' AS active FROM batches WHERE id = ?",
  sentTask: `SELECT r.sent_at AS sentAt, r.deadline, r.task_signature AS signature, v.bundle_hash AS appVersionHash
    FROM replicas r JOIN app_versions v ON v.id = r.app_version_id WHERE r.id = ? AND r.status = 'in_progress'`,
  // Task ids (task-ids.ts): a host names its tasks by them, never by replica id.
  takenTaskIds: 'SELECT task_id AS id FROM replicas WHERE task_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?))',
  replicaOfTask: 'SELECT id AS replicaId, task_id AS taskId, workunit_id AS workunitId FROM replicas WHERE task_id = ? AND host_id = ?',
  taskOfReplica: 'SELECT id AS replicaId, task_id AS taskId, workunit_id AS workunitId FROM replicas WHERE id = ?',
  inProgressTasksOfHost: `SELECT id AS replicaId, task_id AS taskId, workunit_id AS workunitId FROM replicas
    WHERE host_id = ? AND status = 'in_progress' ORDER BY id`,
  // Once: a result told invalid stays told (migration 18).
  markLostQuorum: 'UPDATE replicas SET lost_quorum = 1 WHERE id = ? AND lost_quorum = 0 AND task_id IS NOT NULL RETURNING task_id AS taskId',
  // What a host may be told of its results (work/host-verdicts.ts): one statement for up to 64
  // task ids, each found by its unique index and only among the host's own; whether the ledger
  // holds a grant or a revocation for it, by the ledger's index on replica_id.
  resultsOfHost: `SELECT r.task_id AS taskId, r.outcome, r.lost_quorum AS lostQuorum,
    EXISTS (SELECT 1 FROM credit_ledger l WHERE l.replica_id = r.id AND l.kind = 'grant') AS granted,
    EXISTS (SELECT 1 FROM credit_ledger l WHERE l.replica_id = r.id AND l.kind = 'revocation') AS revoked
    FROM replicas r WHERE r.task_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) AND +r.host_id = ?`,
};

export class WorkStore {
  constructor(private readonly sql: SqlExecutor) {}

  /** `instance`: the instance submitting it, which makes its replicas (migration 19). */
  async insertBatch(b: { projectId: number; appId: number; name: string; clientKey: string | null; now: number; instance: string | null }): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertBatch!, [b.projectId, b.appId, b.name, b.clientKey, b.now, b.instance]))!.id;
  }

  async batchByClientKey(projectId: number, clientKey: string): Promise<{ id: number; staged: boolean; workunits: number } | undefined> {
    const row = (await this.sql.get(SQL.batchByKey!, [projectId, clientKey])) as { id: number; staged: number; workunit_count: number } | undefined;
    return row && { id: row.id, staged: row.staged === 1, workunits: row.workunit_count };
  }

  /** Makes a staged batch visible; false if it was not staged. */
  async unstageBatch(batchId: number, workunits: number): Promise<boolean> {
    return (await this.sql.run(SQL.unstage!, [workunits, batchId])).changes === 1;
  }

  /** Batches still being submitted, and when each was begun. */
  async stagedBatches(): Promise<{ id: number; createdAt: number }[]> {
    return await this.sql.all<{ id: number; createdAt: number }>(SQL.stagedBatches!);
  }

  /** Deletes up to `limit` work units of a staged batch, then the batch once it is empty. Returns how many went. */
  async deleteStagedBatchPart(batchId: number, limit: number): Promise<number> {
    const n = (await this.sql.run(SQL.deleteStagedWorkunits!, [batchId, limit])).changes;
    if (n < limit) await this.sql.run(SQL.deleteStagedBatch!, [batchId]);
    return n;
  }

  /** Work units of a batch after an id, in id order: what the replica maker walks. */
  async workunitsAfter(batchId: number, afterId: number, limit: number): Promise<WorkunitToReplicate[]> {
    return (await this.sql.all(SQL.workunitsAfter!, [batchId, afterId, limit])) as WorkunitToReplicate[];
  }

  /**
   * The last work unit of the batch that has its replicas, locked until the transaction ends:
   * another instance making the same batch's replicas waits, then starts where this one stopped.
   */
  async lockReplicasThrough(batchId: number): Promise<number | undefined> {
    const statement = this.sql.dialect === 'postgres' ? SQL.replicasThroughForUpdate! : SQL.replicasThrough!;
    return ((await this.sql.get(statement, [batchId])) as { replicas_through: number } | undefined)?.replicas_through;
  }

  async setReplicasThrough(batchId: number, workunitId: number): Promise<void> {
    await this.sql.run(SQL.setReplicasThrough!, [workunitId, batchId]);
  }

  async batchesWithoutReplicas(): Promise<number[]> {
    return ((await this.sql.all(SQL.batchesWithoutReplicas!)) as { id: number }[]).map((r) => r.id);
  }

  async markBatchCancelled(batchId: number): Promise<void> {
    await this.sql.run(SQL.cancelBatch!, [batchId]);
  }

  /** Failed work units of a batch, in id order; with `codes`, those whose last attempt had an error of one of them. */
  async failedWorkunitsOfBatch(batchId: number, codes: string[] | undefined, limit: number): Promise<number[]> {
    return ((await this.sql.all(SQL.failedWorkunits!, { batch: batchId, codes: codes ? JSON.stringify(codes) : null, limit })) as { id: number }[]).map((r) => r.id);
  }

  /** A failed work unit open again, its replicas so far set aside (retry_from); false if it was not failed. */
  async retryWorkunit(id: number): Promise<boolean> {
    return (await this.sql.run(SQL.retry!, { id })).changes === 1;
  }

  /** Pins a batch to an app version (null: the app's newest, as by default). */
  async pinBatch(batchId: number, versionId: number | null): Promise<void> {
    await this.sql.run(SQL.pin!, [versionId, batchId]);
  }

  async activeWorkunitsOfBatch(batchId: number, limit: number): Promise<number[]> {
    return ((await this.sql.all(SQL.activeWorkunitsOfBatch!, [batchId, limit])) as { id: number }[]).map((r) => r.id);
  }

  /** Batches whose cancellation a crash interrupted. */
  async cancelledBatchesWithActiveWorkunits(): Promise<number[]> {
    return ((await this.sql.all(SQL.cancelledWithActive!)) as { id: number }[]).map((r) => r.id);
  }

  async insertWorkunit(w: NewWorkunit, now: number): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertWorkunit!, [w.batchId, w.seq, w.appId, w.inputJson, w.inputHash, w.minQuorum, w.targetNresults, w.maxErrorResults, w.maxTotalResults, w.maxSuccessResults, w.delayBoundMs, w.fpopsEst, w.priority, w.rngSeed, now, w.expectedOutputJson ?? null, w.expectedOutputHash ?? null]))!.id;
  }

  async workunit(id: number): Promise<Workunit | undefined> {
    const row = (await this.sql.get(SQL.workunit!, [id])) as WorkunitRow | undefined;
    return row && toWorkunit(row);
  }

  /**
   * The work unit, locked until the transaction ends: whoever judges it next (another instance)
   * waits, then sees what this transaction committed. Take it before reading its replicas.
   */
  async lockWorkunit(id: number): Promise<Workunit | undefined> {
    const row = (await this.sql.get(this.sql.dialect === 'postgres' ? SQL.workunitForUpdate! : SQL.workunit!, [id])) as WorkunitRow | undefined;
    return row && toWorkunit(row);
  }

  /** Moves an active work unit to a final state; one that is not active stays as it is. */
  async finishWorkunit(id: number, status: Exclude<WorkunitStatus, 'active'>, canonicalId: number | null, reason: string | null, now: number): Promise<void> {
    if (this.sql.hold) this.sql.hold(WORKUNIT_ENDS, id, { status, canonicalId, reason, at: now });
    else await this.sql.run(SQL.finishWorkunit!, [status, canonicalId, reason, now, id]);
  }

  /** Homogeneous redundancy: these work units' class, where none was set yet. */
  async setHrClass(workunitIds: readonly number[], hrClass: string): Promise<void> {
    if (workunitIds.length === 0) return;
    await this.sql.run(SQL.setHrClass!, [hrClass, JSON.stringify(workunitIds)]);
  }

  /** Adaptive replication: quorum 1, keeping the submitted one for a reopen. */
  async reduceQuorumToOne(workunitId: number): Promise<void> {
    await this.sql.run(SQL.reduceQuorum!, [workunitId]);
  }

  /**
   * As insertWorkunit for each, in the order given. On PostgreSQL a statement per few megabytes of
   * them rather than one each: ingest was a round trip per work unit.
   */
  async insertWorkunits(ws: readonly NewWorkunit[], now: number): Promise<void> {
    if (this.sql.dialect === 'sqlite') {
      for (const w of ws) await this.insertWorkunit(w, now);
      return;
    }
    for (const part of bySize(ws, (w) => 512 + (w.inputJson?.length ?? 0) + (w.expectedOutputJson?.length ?? 0))) {
      const rows = part.map((w) => ({
        batch_id: w.batchId, seq: w.seq, app_id: w.appId, input_json: w.inputJson, input_hash: w.inputHash, min_quorum: w.minQuorum,
        target_nresults: w.targetNresults, max_error_results: w.maxErrorResults, max_total_results: w.maxTotalResults,
        max_success_results: w.maxSuccessResults, delay_bound_ms: w.delayBoundMs, fpops_est: w.fpopsEst, priority: w.priority,
        rng_seed: w.rngSeed, expected_output_json: w.expectedOutputJson ?? null, expected_output_hash: w.expectedOutputHash ?? null,
      }));
      await this.sql.run(SQL.insertWorkunitsPostgres!, { rows: JSON.stringify(rows), now });
    }
  }

  async insertReplicas(workunitId: number, priority: number, count: number, now: number, kind: ReplicaKind): Promise<void> {
    await this.insertReplicaSets([{ workunitId, priority, count, kind }], now);
  }

  /** `count` new unsent replicas of each work unit, in the order given; on PostgreSQL in one statement per thousands. */
  async insertReplicaSets(sets: readonly { workunitId: number; priority: number; count: number; kind: ReplicaKind }[], now: number): Promise<void> {
    const rows = sets.flatMap((s) => Array.from({ length: s.count }, () => s));
    if (this.sql.dialect === 'sqlite' || rows.length === 1) {
      for (const r of rows) await this.insertReplica(r.workunitId, r.priority, now, r.kind);
      return;
    }
    for (let i = 0; i < rows.length; i += REPLICA_ROWS_PER_STATEMENT) {
      const part = rows.slice(i, i + REPLICA_ROWS_PER_STATEMENT).map((r, j) => ({ i: j, w: r.workunitId, p: r.priority, k: r.kind }));
      await this.sql.run(SQL.insertReplicasPostgres!, { rows: JSON.stringify(part), now });
    }
  }

  async insertReplica(workunitId: number, priority: number, now: number, kind: ReplicaKind): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertReplica!, [workunitId, priority, now, kind]))!.id;
  }

  /** Whether a batch still has open work units other than sentinels. */
  async hasOpenRegularWork(batchId: number): Promise<boolean> {
    return (await this.sql.get(SQL.openRegularWork!, [batchId])) !== undefined;
  }

  async openSentinelsOfBatch(batchId: number): Promise<number[]> {
    return ((await this.sql.all(SQL.openSentinels!, [batchId])) as { id: number }[]).map((r) => r.id);
  }

  /** A sentinel's known answer, as canonical JSON. */
  async expectedOutputJson(workunitId: number): Promise<string | null> {
    return ((await this.sql.get(SQL.expectedOutput!, [workunitId])) as { json: string | null } | undefined)?.json ?? null;
  }

  /** Some unsent replicas of one batch's open work units (not sentinels), whatever their project's state. */
  async batchCandidates(batchId: number, limit: number): Promise<Candidate[]> {
    return (await this.sql.all(SQL.batchCandidates!, [batchId, limit])) as Candidate[];
  }

  /** Unsent replicas of sentinels of active projects, highest priority first. */
  async sentinelCandidates(limit: number, offset: number): Promise<Candidate[]> {
    return (await this.sql.all(SQL.sentinelCandidates!, [limit, offset])) as Candidate[];
  }

  /** The lowest and highest ids of done regular work units, if there are any. */
  async doneRange(): Promise<{ low: number; high: number } | undefined> {
    const r = (await this.sql.get(SQL.doneRange!)) as { low: number | null; high: number | null };
    return r.low === null || r.high === null ? undefined : { low: r.low, high: r.high };
  }

  /** Done work units, the first `scan` from `fromId` on, that `hostId` could be checked on. */
  async checkCandidates(hostId: number, fromId: number, scan: number, limit: number): Promise<CheckCandidate[]> {
    return (await this.sql.all(SQL.checkCandidates!, { host: hostId, from: fromId, scan, limit })) as CheckCandidate[];
  }

  /** The host's successful results still waiting for a verdict. */
  async pendingOfHost(hostId: number): Promise<HostReplica[]> {
    return (await this.sql.all(SQL.pendingOfHost!, [hostId])) as HostReplica[];
  }

  async inProgressWithWorkunitOfHost(hostId: number): Promise<HostReplica[]> {
    return (await this.sql.all(SQL.inProgressWithWorkunitOfHost!, [hostId])) as HostReplica[];
  }

  /** The host's results judged valid by a quorum (not sentinels), in work-unit order. */
  async validRegularOfHost(hostId: number, limit: number): Promise<HostReplica[]> {
    return (await this.sql.all(SQL.validRegularOfHost!, [hostId, limit])) as HostReplica[];
  }

  /**
   * A done work unit back to active, without a canonical result; false if it was not done. A
   * work unit adaptive replication had given one trusted host alone goes back to the quorum it
   * was submitted with: the host it trusted is the one that was caught.
   */
  async reopenWorkunit(id: number): Promise<boolean> {
    return (await this.sql.run(SQL.reopen!, [id])).changes === 1;
  }

  async setCanonical(workunitId: number, replicaId: number): Promise<void> {
    await this.sql.run(SQL.setCanonical!, [replicaId, workunitId]);
  }

  async batchIsActive(batchId: number): Promise<boolean> {
    return ((await this.sql.get(SQL.batchActive!, [batchId])) as { active: number } | undefined)?.active === 1;
  }

  async replicasOf(workunitId: number): Promise<Replica[]> {
    return ((await this.sql.all(SQL.replicasOf!, [workunitId])) as ReplicaRow[]).map(toReplica);
  }

  /**
   * Several work units, locked as lockWorkunit locks one (in id order), and then their replicas:
   * two statements for what judging a report's work units reads first. The replicas are read once
   * every lock is held, so they include what whoever held one last committed.
   */
  async lockWorkunitsWithReplicas(ids: readonly number[]): Promise<Map<number, { wu: Workunit; replicas: Replica[] }>> {
    const found = new Map<number, { wu: Workunit; replicas: Replica[] }>();
    if (ids.length === 0) return found;
    const list = JSON.stringify([...new Set(ids)].sort((a, b) => a - b));
    const rows = (await this.sql.all(this.sql.dialect === 'postgres' ? SQL.workunitsOfForUpdate! : SQL.workunitsOf!, [list])) as WorkunitRow[];
    for (const row of rows) found.set(row.id, { wu: toWorkunit(row), replicas: [] });
    for (const r of (await this.sql.all(SQL.replicasOfMany!, [list])) as ReplicaRow[]) found.get(r.workunit_id)?.replicas.push(toReplica(r));
    return found;
  }

  /** Unsent replicas of active projects, highest priority first. */
  async candidates(limit: number, offset: number): Promise<Candidate[]> {
    return (await this.sql.all(SQL.candidates!, [limit, offset])) as Candidate[];
  }

  /** Unsent replicas of one active project (not sentinels), highest priority first. */
  async projectCandidates(projectId: number, limit: number, offset: number): Promise<Candidate[]> {
    return (await this.sql.all(SQL.projectCandidates!, [projectId, limit, offset])) as Candidate[];
  }

  /** Active projects with an active batch that has unsent replicas. */
  async projectsWithUnsentWork(): Promise<number[]> {
    return ((await this.sql.all(SQL.projectsWithUnsent!)) as { id: number }[]).map((r) => r.id);
  }

  /** Each project's recent work on a host, as last written (decay it to now: project-preferences.ts). */
  async recentWorkOfHost(hostId: number): Promise<RecentWork[]> {
    return (await this.sql.all(SQL.recentWork!, [hostId])) as RecentWork[];
  }

  async setRecentWork(hostId: number, projectId: number, work: number, now: number): Promise<void> {
    await this.sql.run(SQL.setRecentWork!, { host: hostId, project: projectId, work, now });
  }

  async hostHasReplica(workunitId: number, hostId: number): Promise<boolean> {
    return (await this.sql.get(SQL.hostHasReplica!, [workunitId, hostId])) !== undefined;
  }

  /**
   * Those of the work units the host has a replica of that keeps it from another (as
   * hostHasReplica), or with `userId`, any host of that user has (as userHasReplica).
   */
  async heldAmong(workunitIds: readonly number[], hostId: number, userId: number | null): Promise<Set<number>> {
    if (workunitIds.length === 0) return new Set();
    const rows = (await this.sql.all(SQL.heldAmong!, { ids: JSON.stringify([...new Set(workunitIds)]), host: hostId, user: userId })) as { id: number }[];
    return new Set(rows.map((r) => r.id));
  }

  async userHasReplica(workunitId: number, userId: number): Promise<boolean> {
    return (await this.sql.get(SQL.userHasReplica!, [workunitId, userId])) !== undefined;
  }

  async sentCount(workunitId: number): Promise<number> {
    return ((await this.sql.get(SQL.sentCount!, [workunitId])) as { n: number }).n;
  }

  /**
   * Sends unsent replicas to a host, one task each, in one statement; returns how many it sent
   * (one that was not unsent is not written). `newHost`: the host was new then.
   */
  async assign(a: { hostId: number; sentAt: number; holdUntil: number; newHost: boolean; tasks: readonly AssignedTask[] }): Promise<number> {
    if (a.tasks.length === 0) return 0;
    const tasks = JSON.stringify(a.tasks.map((t) => ({ replicaId: t.replicaId, taskId: t.taskId, appVersionId: t.appVersionId, deadline: t.deadline, taskSignature: t.taskSignature })));
    return (await this.sql.run(SQL.assign!, { hostId: a.hostId, sentAt: a.sentAt, holdUntil: a.holdUntil, newHost: a.newHost ? 1 : 0, tasks })).changes;
  }

  /** Tasks of a batch that hosts new when they took them hold now, and the batch's size. */
  async newHostLoad(batchId: number): Promise<{ held: number; workunits: number }> {
    return ((await this.sql.get(SQL.newHostLoad!, [batchId])) as { held: number; workunits: number } | undefined) ?? { held: 0, workunits: 0 };
  }

  /** The same, for every active batch at once. */
  async newHostLoads(): Promise<{ batchId: number; held: number; workunits: number }[]> {
    return ((await this.sql.all(SQL.newHostLoads!)) as { batchId: number; held: number | string; workunits: number | string }[]).map((r) => ({ batchId: Number(r.batchId), held: Number(r.held), workunits: Number(r.workunits) }));
  }

  async taskSource(replicaId: number): Promise<TaskSource> {
    return (await this.sql.get(SQL.taskSource!, [replicaId])) as TaskSource;
  }

  /** The same for several replicas, in one statement, by replica id. */
  async taskSources(replicaIds: readonly number[]): Promise<Map<number, TaskSource>> {
    if (replicaIds.length === 0) return new Map();
    const rows = (await this.sql.all(SQL.taskSources!, [JSON.stringify(replicaIds)])) as TaskSource[];
    return new Map(rows.map((r) => [r.replicaId, r]));
  }

  async replicaForResult(replicaId: number): Promise<ReplicaForResult | undefined> {
    return (await this.sql.get(SQL.forResult!, [replicaId])) as ReplicaForResult | undefined;
  }

  /**
   * The replicas the host's task ids name, by task id (those that are not this host's tasks are
   * missing), with what taking a result for each needs: one statement for a whole report.
   */
  async replicasForResults(hostId: number, taskIds: readonly number[]): Promise<Map<number, TaskReplica>> {
    if (taskIds.length === 0) return new Map();
    type Row = ReplicaForResult & { taskId: number; versionSucceeded: number };
    const rows = (await this.sql.all(SQL.forResults!, [JSON.stringify([...new Set(taskIds)]), hostId])) as Row[];
    return new Map(rows.map(({ taskId, versionSucceeded, ...replica }) => [taskId, { ids: { replicaId: replica.id, taskId, workunitId: replica.workunitId }, replica, versionSucceeded: versionSucceeded === 1 }]));
  }

  /**
   * Those of the replicas that are still unsent and (PostgreSQL) this transaction's to send until
   * it ends, in one statement: one another instance is sending now counts as taken. Call before
   * writing anything for them. A replica this transaction claimed before is claimed again.
   */
  async claimUnsent(replicaIds: readonly number[]): Promise<Set<number>> {
    // On SQLite the candidates were read in this transaction, which nothing else can write in
    // (and assign checks that each was still unsent).
    if (this.sql.dialect === 'sqlite' || replicaIds.length === 0) return new Set(replicaIds);
    return new Set(((await this.sql.all(SQL.claimUnsent!, [JSON.stringify(replicaIds)])) as { id: number }[]).map((r) => r.id));
  }

  /**
   * Records the replica's result; false if it already has one (another instance recorded one
   * meanwhile: the row's update waited for it, and a result is written once).
   */
  async recordResult(r: ResultRecord): Promise<boolean> {
    return (await this.sql.run(SQL.recordResult!, [r.outcome, r.outcome === 'success' ? 'pending' : null, r.receivedAt, r.resultHash, r.signature, r.resultListId ?? null, r.outputJson, r.outputHash, r.errorJson, r.logJson, r.cpuTimeMs, r.elapsedMs, r.replicaId])).changes === 1;
  }

  /**
   * As recordResult for several replicas (each named once): the ids of those recorded. On
   * PostgreSQL one statement (a round trip a result is what a report's transaction waits for).
   */
  async recordResults(records: readonly ResultRecord[]): Promise<Set<number>> {
    const recorded = new Set<number>();
    if (this.sql.dialect === 'sqlite' || records.length === 1) {
      for (const r of records) if (await this.recordResult(r)) recorded.add(r.replicaId);
      return recorded;
    }
    if (records.length === 0) return recorded;
    const rows = records.map((r) => ({
      replica_id: r.replicaId, outcome: r.outcome, validate: r.outcome === 'success' ? 'pending' : null, received_at: r.receivedAt,
      result_hash: r.resultHash, signature: r.signature, result_list_id: r.resultListId ?? null, output_json: r.outputJson, output_hash: r.outputHash, error_json: r.errorJson,
      log_json: r.logJson, cpu_time_ms: r.cpuTimeMs, elapsed_ms: r.elapsedMs,
    }));
    const params = { records: JSON.stringify(rows), ids: idArray(records.map((r) => r.replicaId)) };
    for (const { id } of (await this.sql.all(SQL.recordResultsPostgres!, params)) as { id: number }[]) recorded.add(id);
    return recorded;
  }

  /**
   * A protocol-3 report's result list, kept so that its results' signature can be checked again
   * (the host's key, the hashes in the report's order, the signature): its id, for the results it
   * covers to name. One statement a report, whatever its number of results.
   */
  async recordResultList(l: { hostId: number; receivedAt: number; signature: string; resultHashes: readonly string[] }): Promise<number> {
    return Number((await this.sql.get<{ id: number | string }>(SQL.recordResultList!, [l.hostId, l.receivedAt, l.signature, JSON.stringify(l.resultHashes)]))!.id);
  }

  /** Ends a replica that is in `from` state with an outcome; returns its host, and the id the host knows it by, if it changed. */
  async endReplica(replicaId: number, from: 'unsent' | 'in_progress', outcome: ReplicaOutcome): Promise<{ changed: boolean; hostId: number | null; taskId: number | null }> {
    const changed = (await this.sql.run(SQL.end!, [outcome, replicaId, from])).changes === 1;
    const row = (await this.sql.get(SQL.hostOf!, [replicaId])) as { host_id: number | null; task_id: number | null } | undefined;
    return { changed, hostId: row?.host_id ?? null, taskId: row?.task_id ?? null };
  }

  async setValidateState(replicaId: number, state: ValidateState): Promise<void> {
    await this.sql.run(SQL.setValidateState!, [state, replicaId]);
  }

  /** As setValidateState for several replicas, in one statement (a round trip on PostgreSQL). */
  async setValidateStates(replicaIds: readonly number[], state: ValidateState): Promise<void> {
    if (replicaIds.length === 0) return;
    if (this.sql.hold) {
      for (const id of replicaIds) this.sql.hold(VALIDATE_STATES, id, state);
      return;
    }
    if (replicaIds.length === 1) return this.setValidateState(replicaIds[0]!, state);
    await this.sql.run(SQL.setValidateStates!, [state, JSON.stringify(replicaIds)]);
  }

  /** A caught host's result: invalid for good (see Replica.forfeited). */
  async forfeit(replicaId: number): Promise<void> {
    await this.sql.run(SQL.forfeit!, [replicaId]);
  }

  /** The replica's net credit, in micro-credits. */
  async setCredit(replicaId: number, micro: number): Promise<void> {
    await this.sql.run(SQL.setCredit!, [micro, replicaId]);
  }

  /** As setCredit for several replicas, in one statement. */
  async setCredits(credits: readonly { replicaId: number; micro: number }[]): Promise<void> {
    if (credits.length === 0) return;
    if (this.sql.hold) {
      for (const c of credits) this.sql.hold(CREDITS, c.replicaId, c.micro);
      return;
    }
    if (credits.length === 1) return this.setCredit(credits[0]!.replicaId, credits[0]!.micro);
    await this.sql.run(SQL.setCredits!, { credits: JSON.stringify(credits.map((c) => ({ id: c.replicaId, micro: c.micro }))) });
  }

  /**
   * A work unit's successful results with their CPU times (what its credit is bounded by), whom
   * each would be credited to, and whether it already was: all a grant reads, in one statement.
   */
  async creditFacts(workunitId: number): Promise<CreditFact[]> {
    return (await this.creditFactsOf([workunitId])).get(workunitId) ?? [];
  }

  /** creditFacts of each of these work units (those with a successful result), in one statement. */
  async creditFactsOf(workunitIds: readonly number[]): Promise<Map<number, CreditFact[]>> {
    const facts = new Map<number, CreditFact[]>();
    if (workunitIds.length === 0) return facts;
    for (const { workunitId, ...row } of (await this.sql.all(SQL.creditFactsOf!, [JSON.stringify(workunitIds)])) as (CreditFactRow & { workunitId: number })[]) {
      let of = facts.get(workunitId);
      if (!of) facts.set(workunitId, (of = []));
      of.push(toCreditFact(row));
    }
    return facts;
  }

  /** The first batch of a project with an id from `fromId` on. */
  async nextBatchOfProject(projectId: number, fromId: number): Promise<number | undefined> {
    return ((await this.sql.get(SQL.nextBatchOfProject!, [projectId, fromId])) as { id: number } | undefined)?.id;
  }

  /** The next (up to) `limit` work units of a batch after `afterId`, in id order: the last one's id, and how many. */
  async workunitSpan(batchId: number, afterId: number, limit: number): Promise<{ last: number | null; n: number }> {
    return (await this.sql.get(SQL.workunitSpan!, [batchId, afterId, limit])) as { last: number | null; n: number };
  }

  /** Replicas of the batch's work units with ids in (afterId, lastId] that hold more than `capMicro`. */
  async creditedAbove(batchId: number, afterId: number, lastId: number, capMicro: number): Promise<CreditedReplica[]> {
    return (await this.sql.all(SQL.creditedAbove!, [batchId, afterId, lastId, capMicro])) as CreditedReplica[];
  }

  /**
   * Brings the open work units of a batch with ids in (afterId, lastId], and their unsent
   * replicas, down to priority `max`; returns how many rows changed.
   */
  async lowerPriority(batchId: number, afterId: number, lastId: number, max: number): Promise<number> {
    const args = { batch: batchId, after: afterId, last: lastId, max };
    return (await this.sql.run(SQL.lowerWorkunitPriority!, args)).changes + (await this.sql.run(SQL.lowerReplicaPriority!, args)).changes;
  }

  async output(replicaId: number): Promise<{ outputJson: string | null; outputHash: string | null }> {
    const r = (await this.sql.get(SQL.output!, [replicaId])) as { output_json: string | null; output_hash: string | null };
    return { outputJson: r.output_json, outputHash: r.output_hash };
  }

  /** Work units with a replica past its deadline or its hold time. */
  async workunitsWithExpiredReplicas(now: number, limit: number): Promise<number[]> {
    return [...new Set(((await this.sql.all(SQL.expired!, { now, limit })) as { id: number }[]).map((r) => r.id))];
  }

  /** Progress on a task (by its task id) in progress on this host; it may then hold it until `holdUntil`. */
  async setProgress(taskId: number, hostId: number, fraction: number, holdUntil: number): Promise<boolean> {
    return (await this.sql.run(SQL.progress!, { taskId, hostId, fraction, holdUntil })).changes === 1;
  }

  /** What was signed when an in-progress replica was sent, to send the same task again. */
  /** `signature`: null for a task sent under protocol 3 (its list was signed). */
  async sentTask(replicaId: number): Promise<{ sentAt: number; deadline: number; signature: string | null; appVersionHash: string } | undefined> {
    return (await this.sql.get(SQL.sentTask!, [replicaId])) as { sentAt: number; deadline: number; signature: string | null; appVersionHash: string } | undefined;
  }

  async hostsWithTasksInProgress(): Promise<number[]> {
    return ((await this.sql.all(SQL.hostsWithTasks!)) as { id: number }[]).map((r) => r.id);
  }

  /** Hosts holding tasks whose instance's lease (`prefix` + its name) lapsed by `now`, and when it did. */
  async hostsOfLapsedInstances(prefix: string, now: number): Promise<{ hostId: number; instance: string; lapsedAt: number }[]> {
    return await this.sql.all<{ hostId: number; instance: string; lapsedAt: number }>(SQL.hostsOfLapsedInstances!, { ...lapsedLeases(prefix), now });
  }

  /** Hosts holding no task whose instance's lease lapsed by `now` are no longer named after it; how many. */
  async forgetIdleHostsOfLapsedInstances(prefix: string, now: number): Promise<number> {
    const statement = this.sql.dialect === 'postgres' ? SQL.forgetIdleHostsOfLapsedInstancesSkipLocked! : SQL.forgetIdleHostsOfLapsedInstances!;
    return (await this.sql.run(statement, { ...lapsedLeases(prefix), now })).changes;
  }

  /** Whether the host is still on that instance, and its lease lapsed by `lapsedBy`. */
  async hostOnLapsedInstance(prefix: string, hostId: number, instance: string, lapsedBy: number): Promise<boolean> {
    return (await this.sql.get(SQL.hostOnLapsedInstance!, { prefix, id: hostId, instance, lapsedBy })) !== undefined;
  }

  /** Committed batches short of replicas whose instance's lease lapsed by `now` (or that name none, or one without a lease). */
  async batchesOfLapsedInstances(prefix: string, now: number): Promise<{ id: number; instance: string | null }[]> {
    return await this.sql.all<{ id: number; instance: string | null }>(SQL.batchesOfLapsedInstances!, { prefix, now });
  }

  async inProgressOfHost(hostId: number): Promise<number[]> {
    return ((await this.sql.all(SQL.inProgressOfHost!, [hostId])) as { id: number }[]).map((r) => r.id);
  }

  /** Those of the task ids no replica has yet (one that some replica has must be drawn again). */
  async freeTaskIds(taskIds: readonly number[]): Promise<number[]> {
    if (taskIds.length === 0) return [];
    const taken = new Set(((await this.sql.all(SQL.takenTaskIds!, [JSON.stringify(taskIds)])) as { id: number }[]).map((r) => r.id));
    return taskIds.filter((id) => !taken.has(id));
  }

  /** The replica a host's task id names, if that task is this host's: how a host's word is taken. */
  async replicaOfTask(hostId: number, taskId: number): Promise<TaskIds | undefined> {
    return (await this.sql.get(SQL.replicaOfTask!, [taskId, hostId])) as TaskIds | undefined;
  }

  /** A sent replica's task ids (undefined for one never sent: it has no task id). */
  async taskOfReplica(replicaId: number): Promise<TaskIds | undefined> {
    const r = (await this.sql.get(SQL.taskOfReplica!, [replicaId])) as (Omit<TaskIds, 'taskId'> & { taskId: number | null }) | undefined;
    return r && r.taskId !== null ? { ...r, taskId: r.taskId } : undefined;
  }

  /**
   * Marks a result as having lost its quorum vote, once; returns the id its host knows its task
   * by when this marked it (so the host is told once), undefined when it was marked already.
   */
  async markLostQuorum(replicaId: number): Promise<number | undefined> {
    return (await this.sql.get<{ taskId: number }>(SQL.markLostQuorum!, [replicaId]))?.taskId;
  }

  /** What the ledger and the replica rows say of the host's results named by these task ids; ids that are not the host's are left out. */
  async resultsOfHost(hostId: number, taskIds: number[]): Promise<HostResultFacts[]> {
    const rows = (await this.sql.all(SQL.resultsOfHost!, [JSON.stringify(taskIds), hostId])) as {
      taskId: number;
      outcome: ReplicaOutcome | null;
      lostQuorum: number;
      granted: number;
      revoked: number;
    }[];
    return rows.map((r) => ({ taskId: Number(r.taskId), outcome: r.outcome, lostQuorum: r.lostQuorum === 1, granted: r.granted === 1, revoked: r.revoked === 1 }));
  }

  /** The host's tasks in progress, in replica order. */
  async inProgressTasksOfHost(hostId: number): Promise<TaskIds[]> {
    return (await this.sql.all(SQL.inProgressTasksOfHost!, [hostId])) as TaskIds[];
  }
}

/** Instances' leases, by their name's prefix: the pattern that finds them, and where the instance's name starts. */
function lapsedLeases(prefix: string): { pattern: string; from: number } {
  if (/[%_\\]/.test(prefix)) throw new Error(`a lease prefix for LIKE must not hold % _ or \\: ${prefix}`);
  return { pattern: `${prefix}%`, from: prefix.length + 1 };
}
