// Read-only views for researchers and admins: batch progress, work-unit detail, errors,
// validation, results export, hosts and leaderboards. Staged batches are never visible.
import type { SqlExecutor } from './sql/sql.js';
import { creditAmount, creditUnits } from '../../protocol/ledger.js';
import type {
  BatchError,
  Host,
  HostPlatform,
  HostValidation,
  LeaderboardEntry,
  ReplicaCounts,
  ReplicaDetail,
  ReplicaError,
  ReplicaLog,
  WorkunitDetail,
  WorkunitSummary,
} from '../../protocol/api.js';
import type { ReplicaOutcome, ReplicaStatus, WorkunitStatus } from '../work/model.js';
import type { CreditHolder } from './identities.js';

export interface BatchRow {
  id: number;
  projectId: number;
  projectName: string;
  ownerId: number | null;
  appId: number;
  appName: string;
  name: string;
  clientKey: string | null;
  cancelled: boolean;
  /** Its project is paused: no task of it is sent. */
  projectPaused: boolean;
  /** The version it is pinned to: its id and number (null: the app's newest). */
  pinnedVersionId: number | null;
  pinnedVersion: number | null;
  archived: boolean;
  workunitCount: number;
  createdAt: number;
}

/** A work unit without its replicas (they come from replicas()). */
export type WorkunitDetailRow = Omit<WorkunitDetail, 'replicas'>;

/** A host's counts in one batch; the rates are worked out from them. */
export type HostStats = Omit<HostValidation, 'invalidRate' | 'errorRate'>;

export interface ResultRow {
  seq: number;
  workunitId: number;
  status: WorkunitStatus;
  errorReason: string | null;
  outputJson: string | null;
  outputHash: string | null;
}

/** A host as stored; whether it is online and trusted is the live coordinator's to say. */
export type HostView = Omit<Host, 'online' | 'tasksDone' | 'trusted'>;

export type LeaderboardRow = Omit<LeaderboardEntry, 'rank'>;

type RawBatchRow = Omit<BatchRow, 'cancelled' | 'projectPaused' | 'archived'> & { cancelled: number; projectPaused: number; archived: number };
const toBatchRow = (row: RawBatchRow): BatchRow => ({ ...row, cancelled: row.cancelled === 1, projectPaused: row.projectPaused === 1, archived: row.archived === 1 });

const BATCH_COLUMNS = `b.id, b.project_id AS projectId, p.name AS projectName, p.owner_id AS ownerId, b.app_id AS appId,
  a.name AS appName, b.name, b.client_key AS clientKey, b.status = 'cancelled' AS cancelled, p.status = 'paused' AS projectPaused,
  b.workunit_count AS workunitCount, b.app_version_id AS pinnedVersionId, pv.version AS pinnedVersion, b.archived_at IS NOT NULL AS archived,
  b.created_at AS createdAt
  FROM batches b JOIN projects p ON p.id = b.project_id JOIN apps a ON a.id = b.app_id LEFT JOIN app_versions pv ON pv.id = b.app_version_id`;

const REPLICA_COLUMNS = `r.id, r.kind, v.version AS appVersion, r.host_id AS hostId, h.name AS hostName, u.name AS userName, r.status, r.outcome,
  r.validate_state AS validateState, r.sent_at AS sentAt, r.deadline, r.received_at AS receivedAt, r.cpu_time_ms AS cpuTimeMs,
  r.elapsed_ms AS elapsedMs, r.credit_micro AS creditMicro, r.output_hash AS outputHash, r.output_json AS outputJson, r.error_json AS errorJson,
  r.log_json AS logJson
  FROM replicas r LEFT JOIN hosts h ON h.id = r.host_id LEFT JOIN users u ON u.id = h.user_id LEFT JOIN app_versions v ON v.id = r.app_version_id`;

type ReplicaRow = Omit<ReplicaDetail, 'output' | 'error' | 'credit' | 'log'> & {
  outputJson: string | null;
  errorJson: string | null;
  logJson: string | null;
  creditMicro: number | null;
};

const toReplica = ({ outputJson, errorJson, logJson, creditMicro, ...r }: ReplicaRow): ReplicaDetail => ({
  ...r,
  credit: creditMicro === null ? null : creditAmount(creditMicro),
  output: outputJson === null ? null : (JSON.parse(outputJson) as unknown),
  error: errorJson === null ? null : (JSON.parse(errorJson) as ReplicaError),
  log: logJson === null ? null : (JSON.parse(logJson) as ReplicaLog),
});

/** Credit is stored in whole micro-credits (exact sums) and shown in credits. */
type InMicro<T extends { totalCredit: number }> = Omit<T, 'totalCredit'> & { totalCreditMicro: number };
/** RAC is a decaying average, not a sum of entries: shown to the micro-credit like the rest. */
const shownRac = (rac: number) => creditAmount(creditUnits(rac));

const LEADERBOARD: Record<CreditHolder, string> = {
  users: `SELECT u.id, u.name, t.name AS team, u.total_credit_micro AS totalCreditMicro, u.rac FROM users u LEFT JOIN teams t ON t.id = u.team_id
    ORDER BY u.total_credit_micro DESC, u.id LIMIT ?`,
  teams: `SELECT t.id, t.name, NULL AS team, t.total_credit_micro AS totalCreditMicro, t.rac FROM teams t
    ORDER BY t.total_credit_micro DESC, t.id LIMIT ?`,
  hosts: `SELECT h.id, h.name, t.name AS team, h.total_credit_micro AS totalCreditMicro, h.rac FROM hosts h JOIN users u ON u.id = h.user_id
    LEFT JOIN teams t ON t.id = u.team_id ORDER BY h.total_credit_micro DESC, h.id LIMIT ?`,
};

const SQL: Record<string, string> = {
  batch: `SELECT ${BATCH_COLUMNS} WHERE b.id = ? AND b.staged = 0`,
  batches: `SELECT ${BATCH_COLUMNS} WHERE b.staged = 0 AND (CAST(@project AS BIGINT) IS NULL OR b.project_id = @project) AND (CAST(@app AS BIGINT) IS NULL OR b.app_id = @app)
    AND (CAST(@owner AS BIGINT) IS NULL OR p.owner_id = @owner) AND (b.archived_at IS NOT NULL) = (@archived = 1) ORDER BY b.id DESC LIMIT @limit`,
  archive: 'UPDATE batches SET archived_at = ? WHERE id = ?',
  // Counters kept by triggers (migration 4): a batch's status costs the same at any size. On
  // PostgreSQL a batch's counts are spread over slots, and its counts are their sums.
  workunitCounts: `SELECT COALESCE(SUM(active), 0) AS active, COALESCE(SUM(done), 0) AS done, COALESCE(SUM(failed), 0) AS failed,
    COALESCE(SUM(cancelled), 0) AS cancelled FROM batch_counts WHERE batch_id = ?`,
  projectCounts: `SELECT COALESCE(SUM(c.active), 0) AS active, COALESCE(SUM(c.done), 0) AS done, COALESCE(SUM(c.failed), 0) AS failed,
    COALESCE(SUM(c.cancelled), 0) AS cancelled FROM batch_counts c JOIN batches b ON b.id = c.batch_id WHERE b.project_id = ? AND b.staged = 0`,
  replicaCounts: `SELECT COALESCE(SUM(r_unsent), 0) AS unsent, COALESCE(SUM(r_in_progress), 0) AS inProgress,
    COALESCE(SUM(r_success), 0) AS success, COALESCE(SUM(r_client_error), 0) AS clientError, COALESCE(SUM(r_no_reply), 0) AS noReply,
    COALESCE(SUM(r_aborted), 0) AS aborted, COALESCE(SUM(r_abandoned), 0) AS abandoned, COALESCE(SUM(r_not_needed), 0) AS notNeeded
    FROM batch_counts WHERE batch_id = ?`,
  finishedSeries: `SELECT second / CAST(@seconds AS INTEGER) AS bucket, SUM(done) AS done, SUM(failed) AS failed
    FROM batch_finished WHERE batch_id = @batch GROUP BY bucket`,
  finishedSince: 'SELECT COALESCE(SUM(done + failed), 0) AS n FROM batch_finished WHERE batch_id = ? AND second >= ?',
  lastFinished: 'SELECT MAX(last_finished_at) AS t FROM batch_counts WHERE batch_id = ?',
  workunits: `SELECT id, seq, status, error_reason AS errorReason, finished_at AS finishedAt FROM workunits
    WHERE batch_id = @batch AND (CAST(@status AS TEXT) IS NULL OR status = @status) AND seq > @after ORDER BY seq LIMIT @limit`,
  workunit: `SELECT w.id, w.batch_id AS batchId, w.app_id AS appId, w.seq, w.status, w.input_json AS inputJson,
    w.input_hash AS inputHash, w.min_quorum AS minQuorum, w.target_nresults AS targetNresults, w.max_error_results AS maxErrorResults,
    w.max_total_results AS maxTotalResults, w.max_success_results AS maxSuccessResults, w.delay_bound_ms AS delayBoundMs,
    w.fpops_est AS fpopsEst, w.priority, w.canonical_replica_id AS canonicalReplicaId, w.error_reason AS errorReason,
    w.created_at AS createdAt, w.finished_at AS finishedAt
    FROM workunits w JOIN batches b ON b.id = w.batch_id WHERE w.id = ? AND b.staged = 0`,
  replicasOf: `SELECT ${REPLICA_COLUMNS} WHERE r.workunit_id = ? ORDER BY r.id`,
  errors: `SELECT r.id AS replicaId, r.workunit_id AS workunitId, w.seq, r.host_id AS hostId, h.name AS hostName,
    r.error_json AS errorJson, r.received_at AS at
    FROM workunits w JOIN replicas r ON r.workunit_id = w.id LEFT JOIN hosts h ON h.id = r.host_id
    WHERE w.batch_id = ? AND r.outcome = 'client_error' ORDER BY r.received_at DESC, r.id DESC LIMIT ?`,
  errorCodes: `SELECT json_extract(r.error_json, '$.code') AS code, COUNT(*) AS n
    FROM workunits w JOIN replicas r ON r.workunit_id = w.id WHERE w.batch_id = ? AND r.outcome = 'client_error' GROUP BY code`,
  contested: `SELECT w.id FROM workunits w WHERE w.batch_id = @batch AND w.seq > @after AND (@all = 1 OR w.status = 'failed'
    OR EXISTS (SELECT 1 FROM replicas r WHERE r.workunit_id = w.id AND r.validate_state = 'invalid')
    OR (SELECT COUNT(DISTINCT r.output_hash) FROM replicas r WHERE r.workunit_id = w.id AND r.outcome = 'success') > 1)
    ORDER BY w.seq LIMIT @limit`,
  hostStats: `SELECT r.host_id AS hostId, h.name AS hostName, COUNT(*) AS results,
    COUNT(*) FILTER (WHERE r.validate_state = 'valid') AS valid, COUNT(*) FILTER (WHERE r.validate_state = 'invalid') AS invalid,
    COUNT(*) FILTER (WHERE r.outcome = 'client_error') AS errors
    FROM workunits w JOIN replicas r ON r.workunit_id = w.id LEFT JOIN hosts h ON h.id = r.host_id
    WHERE w.batch_id = ? AND r.outcome IN ('success', 'client_error') GROUP BY r.host_id, h.name ORDER BY r.host_id`,
  // A sentinel finished without a right answer (nobody drew it) gives its known one.
  results: `SELECT w.seq, w.id AS workunitId, w.status, w.error_reason AS errorReason,
    CASE WHEN r.id IS NULL THEN w.expected_output_json ELSE r.output_json END AS outputJson,
    r.output_hash AS outputHash FROM workunits w LEFT JOIN replicas r ON r.id = w.canonical_replica_id
    WHERE w.batch_id = @batch AND w.seq > @after AND w.status <> 'active' AND (@onlyDone = 0 OR w.status = 'done') ORDER BY w.seq LIMIT @limit`,
  hosts: `SELECT h.id, h.name, u.name AS userName, t.name AS teamName, h.platform_json AS platformJson,
    h.last_seen_at AS lastSeenAt, h.n_valid AS nValid, h.n_invalid AS nInvalid, h.n_error AS nError, h.total_credit_micro AS totalCreditMicro,
    h.rac, h.consecutive_valid AS consecutiveValid, h.sentinels_passed AS sentinelsPassed,
    h.sentinels_failed AS sentinelsFailed, h.distrusted_at AS distrustedAt
    FROM hosts h JOIN users u ON u.id = h.user_id LEFT JOIN teams t ON t.id = u.team_id
    WHERE CAST(@ids AS TEXT) IS NULL OR h.id IN (SELECT CAST(value AS BIGINT) FROM json_each(@ids)) ORDER BY h.last_seen_at DESC LIMIT @limit`,
  leaderboardUsers: LEADERBOARD.users,
  leaderboardTeams: LEADERBOARD.teams,
  leaderboardHosts: LEADERBOARD.hosts,
};

export class ReportStore {
  constructor(private readonly sql: SqlExecutor) {}

  async batch(id: number): Promise<BatchRow | undefined> {
    const row = (await this.sql.get(SQL.batch!, [id])) as RawBatchRow | undefined;
    return row && toBatchRow(row);
  }

  /** Newest first; archived ones only when asked for (and then only they). */
  async batches(filter: { projectId?: number; appId?: number; ownerId?: number; archived?: boolean }, limit: number): Promise<BatchRow[]> {
    const params = { project: filter.projectId ?? null, app: filter.appId ?? null, owner: filter.ownerId ?? null, archived: filter.archived ? 1 : 0, limit };
    return ((await this.sql.all(SQL.batches!, params)) as RawBatchRow[]).map(toBatchRow);
  }

  /** Archives a batch (null: brings it back into lists). */
  async setArchived(batchId: number, at: number | null): Promise<void> {
    await this.sql.run(SQL.archive!, [at, batchId]);
  }

  async workunitCounts(batchId: number): Promise<Record<WorkunitStatus, number>> {
    return ((await this.sql.get(SQL.workunitCounts!, [batchId])) as Record<WorkunitStatus, number> | undefined) ?? { active: 0, done: 0, failed: 0, cancelled: 0 };
  }

  async projectWorkunitCounts(projectId: number): Promise<Record<WorkunitStatus, number>> {
    return (await this.sql.get(SQL.projectCounts!, [projectId])) as Record<WorkunitStatus, number>;
  }

  async replicaCounts(batchId: number): Promise<ReplicaCounts> {
    return (
      ((await this.sql.get(SQL.replicaCounts!, [batchId])) as ReplicaCounts | undefined) ?? {
        unsent: 0, inProgress: 0, success: 0, clientError: 0, noReply: 0, aborted: 0, abandoned: 0, notNeeded: 0,
      }
    );
  }

  /**
   * Work units finished (and still done or failed) per bucket of `bucketSeconds` seconds of the
   * batch's life; a bucket with none is left out.
   */
  async finishedSeries(batchId: number, bucketSeconds: number): Promise<{ bucket: number; done: number; failed: number }[]> {
    return (await this.sql.all(SQL.finishedSeries!, { batch: batchId, seconds: bucketSeconds })) as { bucket: number; done: number; failed: number }[];
  }

  /** Work units finished (and still done or failed) from second `fromSecond` of the batch's life. */
  async finishedSince(batchId: number, fromSecond: number): Promise<number> {
    return ((await this.sql.get(SQL.finishedSince!, [batchId, fromSecond])) as { n: number }).n;
  }

  async lastFinished(batchId: number): Promise<number | null> {
    return ((await this.sql.get(SQL.lastFinished!, [batchId])) as { t: number | null } | undefined)?.t ?? null;
  }

  async workunits(batchId: number, status: WorkunitStatus | undefined, afterSeq: number, limit: number): Promise<WorkunitSummary[]> {
    return (await this.sql.all(SQL.workunits!, { batch: batchId, status: status ?? null, after: afterSeq, limit })) as WorkunitSummary[];
  }

  async workunit(id: number): Promise<WorkunitDetailRow | undefined> {
    const row = (await this.sql.get(SQL.workunit!, [id])) as (Omit<WorkunitDetailRow, 'input'> & { inputJson: string | null }) | undefined;
    if (!row) return undefined;
    const { inputJson, ...rest } = row;
    return { ...rest, input: inputJson === null ? null : (JSON.parse(inputJson) as unknown) };
  }

  async replicas(workunitId: number): Promise<ReplicaDetail[]> {
    return ((await this.sql.all(SQL.replicasOf!, [workunitId])) as ReplicaRow[]).map(toReplica);
  }

  async errors(batchId: number, limit: number): Promise<BatchError[]> {
    return ((await this.sql.all(SQL.errors!, [batchId, limit])) as (Omit<BatchError, 'code' | 'message'> & { errorJson: string | null })[]).map(({ errorJson, ...e }) => {
      const err = errorJson === null ? { code: 'unknown', message: '' } : (JSON.parse(errorJson) as ReplicaError);
      return { ...e, code: err.code, message: err.message };
    });
  }

  async errorCodes(batchId: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of (await this.sql.all(SQL.errorCodes!, [batchId])) as { code: string | null; n: number }[]) out[r.code ?? 'unknown'] = r.n;
    return out;
  }

  /** Work units with disagreement, invalid results or failure (or all), by seq. */
  async validationWorkunits(batchId: number, all: boolean, afterSeq: number, limit: number): Promise<number[]> {
    return ((await this.sql.all(SQL.contested!, { batch: batchId, after: afterSeq, all: all ? 1 : 0, limit })) as { id: number }[]).map((r) => r.id);
  }

  async hostStats(batchId: number): Promise<HostStats[]> {
    return (await this.sql.all(SQL.hostStats!, [batchId])) as HostStats[];
  }

  /** Finished work units after a seq, with their canonical output: a page of the results export. */
  async results(batchId: number, afterSeq: number, onlyDone: boolean, limit: number): Promise<ResultRow[]> {
    return (await this.sql.all(SQL.results!, { batch: batchId, after: afterSeq, onlyDone: onlyDone ? 1 : 0, limit })) as ResultRow[];
  }

  /** Hosts most recently seen first; only those given when `ids` is set. */
  async hosts(ids: number[] | undefined, limit: number): Promise<HostView[]> {
    const rows = (await this.sql.all(SQL.hosts!, { ids: ids === undefined ? null : JSON.stringify(ids), limit })) as (InMicro<Omit<HostView, 'platform'>> & { platformJson: string })[];
    return rows.map(({ platformJson, totalCreditMicro, rac, ...h }) => ({
      ...h,
      totalCredit: creditAmount(totalCreditMicro),
      rac: shownRac(rac),
      platform: JSON.parse(platformJson) as HostPlatform,
    }));
  }

  async leaderboard(kind: CreditHolder, limit: number): Promise<LeaderboardRow[]> {
    const sql = kind === 'users' ? SQL.leaderboardUsers : kind === 'teams' ? SQL.leaderboardTeams : SQL.leaderboardHosts;
    return ((await this.sql.all(sql!, [limit])) as InMicro<LeaderboardRow>[]).map(({ totalCreditMicro, rac, ...e }) => ({
      ...e,
      totalCredit: creditAmount(totalCreditMicro),
      rac: shownRac(rac),
    }));
  }
}
