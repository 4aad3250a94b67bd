// Versioned schema migrations, applied in order inside one transaction each.
// Never edit a released migration: append a new one.
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const AGGREGATE_CREDIT = `
  total_credit REAL NOT NULL DEFAULT 0,
  rac REAL NOT NULL DEFAULT 0,
  rac_time INTEGER NOT NULL DEFAULT 0`;

/**
 * Who runs a singleton job (the ledger sequencer, a sweeper) now, until when, and a fencing
 * number that grows with every new holder: a holder that lost its lease and does not know it yet
 * is refused by what it writes under the number. One process on SQLite always holds them; the
 * table is the same on both backends so the code is.
 */
export const LEASES_TABLE = `
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  fencing BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
`;

/** The one coordinator key a database's ledger and tasks are signed with (identity/key-binding.ts). */
export const IDENTITY_TABLE = `
CREATE TABLE coordinator_identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  public_key TEXT NOT NULL,
  recorded_at BIGINT NOT NULL
);
`;

/**
 * Which instance (as leases name it: cluster/instance-name.ts) last authenticated a connection of
 * a host, and which began a batch and makes its replicas. Instances sharing PostgreSQL each hold
 * a lease while they live (cluster/instance-lease.ts): a host holding tasks or a batch short of
 * replicas whose instance's lease lapsed was left by an instance that died, and another takes it
 * up (cluster/orphans.ts), and a host left with nothing to take up is named by none. NULL: none,
 * or not since this migration. The same on both backends.
 */
export const INSTANCE_COLUMNS = `
ALTER TABLE hosts ADD COLUMN instance TEXT;
CREATE INDEX hosts_instance ON hosts(instance) WHERE instance IS NOT NULL;
ALTER TABLE batches ADD COLUMN instance TEXT;
`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'core schema',
    sql: `
CREATE TABLE teams (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,${AGGREGATE_CREDIT}
);
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  account_key_hash TEXT UNIQUE,
  team_id INTEGER REFERENCES teams(id),
  created_at INTEGER NOT NULL,${AGGREGATE_CREDIT}
);
CREATE TABLE hosts (
  id INTEGER PRIMARY KEY,
  public_key TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT,
  platform_kind TEXT NOT NULL,
  platform_class TEXT NOT NULL,
  platform_json TEXT NOT NULL,
  capabilities_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  consecutive_valid INTEGER NOT NULL DEFAULT 0,
  n_valid INTEGER NOT NULL DEFAULT 0,
  n_invalid INTEGER NOT NULL DEFAULT 0,
  n_error INTEGER NOT NULL DEFAULT 0,${AGGREGATE_CREDIT}
);
CREATE INDEX hosts_user ON hosts(user_id);

CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  created_at INTEGER NOT NULL
);
CREATE TABLE apps (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  name TEXT NOT NULL,
  validation_json TEXT NOT NULL,
  homogeneous_redundancy INTEGER NOT NULL DEFAULT 0,
  adaptive_replication INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  UNIQUE (project_id, name)
);
CREATE TABLE app_versions (
  id INTEGER PRIMARY KEY,
  app_id INTEGER NOT NULL REFERENCES apps(id),
  version INTEGER NOT NULL,
  platform TEXT NOT NULL CHECK (platform IN ('any', 'node', 'browser')),
  requirements_json TEXT NOT NULL,
  bundle_hash TEXT NOT NULL,
  manifest_json TEXT NOT NULL,
  signature TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (app_id, version)
);
CREATE INDEX app_versions_bundle ON app_versions(bundle_hash);
CREATE TABLE files (
  sha256 TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE batches (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  app_id INTEGER NOT NULL REFERENCES apps(id),
  name TEXT NOT NULL,
  client_key TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
  created_at INTEGER NOT NULL,
  UNIQUE (project_id, client_key)
);
CREATE TABLE workunits (
  id INTEGER PRIMARY KEY,
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  app_id INTEGER NOT NULL REFERENCES apps(id),
  input_json TEXT,
  input_hash TEXT NOT NULL,
  min_quorum INTEGER NOT NULL,
  target_nresults INTEGER NOT NULL,
  max_error_results INTEGER NOT NULL,
  max_total_results INTEGER NOT NULL,
  max_success_results INTEGER NOT NULL,
  delay_bound_ms INTEGER NOT NULL,
  fpops_est REAL NOT NULL,
  priority INTEGER NOT NULL,
  rng_seed TEXT NOT NULL,
  hr_class TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'failed', 'cancelled')),
  canonical_replica_id INTEGER,
  error_reason TEXT,
  created_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX workunits_batch ON workunits(batch_id, status);

CREATE TABLE replicas (
  id INTEGER PRIMARY KEY,
  workunit_id INTEGER NOT NULL REFERENCES workunits(id),
  priority INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('unsent', 'in_progress', 'over')),
  outcome TEXT CHECK (outcome IN ('success', 'client_error', 'no_reply', 'aborted', 'abandoned', 'not_needed')),
  validate_state TEXT CHECK (validate_state IN ('pending', 'valid', 'invalid')),
  host_id INTEGER REFERENCES hosts(id),
  app_version_id INTEGER REFERENCES app_versions(id),
  created_at INTEGER NOT NULL,
  sent_at INTEGER,
  deadline INTEGER,
  received_at INTEGER,
  progress REAL,
  task_signature TEXT,
  result_hash TEXT,
  result_signature TEXT,
  output_json TEXT,
  output_hash TEXT,
  error_json TEXT,
  cpu_time_ms REAL,
  elapsed_ms REAL,
  credit REAL
);
CREATE INDEX replicas_unsent ON replicas(priority DESC, id) WHERE status = 'unsent';
CREATE INDEX replicas_deadline ON replicas(deadline) WHERE status = 'in_progress';
CREATE INDEX replicas_workunit ON replicas(workunit_id);
CREATE INDEX replicas_host ON replicas(host_id, status);

CREATE TABLE credit_ledger (
  id INTEGER PRIMARY KEY,
  replica_id INTEGER NOT NULL UNIQUE REFERENCES replicas(id),
  workunit_id INTEGER NOT NULL,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  host_key TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  team_id INTEGER,
  amount REAL NOT NULL,
  granted_at INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  entry_hash TEXT NOT NULL UNIQUE,
  signature TEXT NOT NULL
);
CREATE INDEX credit_ledger_host ON credit_ledger(host_id, id);
CREATE TRIGGER credit_ledger_append_only_update BEFORE UPDATE ON credit_ledger
  BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
CREATE TRIGGER credit_ledger_append_only_delete BEFORE DELETE ON credit_ledger
  BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
`,
  },
  {
    version: 2,
    name: 'researcher accounts, project owners, staged batches',
    sql: `
CREATE TABLE researchers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('researcher', 'admin')),
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_researcher ON sessions(researcher_id);
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX api_tokens_researcher ON api_tokens(researcher_id);

ALTER TABLE projects ADD COLUMN owner_id INTEGER REFERENCES researchers(id);

-- A batch is staged while its work units stream in (chunk by chunk, so a huge batch never
-- blocks the coordinator); it becomes visible in one step when the last chunk is in. Replicas
-- are created afterwards, in chunks too, for work units with id > replicas_through.
ALTER TABLE batches ADD COLUMN staged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN replicas_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN workunit_count INTEGER NOT NULL DEFAULT 0;
UPDATE batches SET replicas_through = COALESCE((SELECT MAX(id) FROM workunits w WHERE w.batch_id = batches.id), 0),
  workunit_count = (SELECT COUNT(*) FROM workunits w WHERE w.batch_id = batches.id);

ALTER TABLE workunits ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
-- One pass (a window), not a count per row: a million-unit batch migrates in about a second.
UPDATE workunits SET seq = n.rn
  FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY batch_id ORDER BY id) - 1 AS rn FROM workunits) AS n
  WHERE n.id = workunits.id;
CREATE INDEX workunits_batch_seq ON workunits(batch_id, seq);
CREATE INDEX workunits_batch_finished ON workunits(batch_id, finished_at) WHERE finished_at IS NOT NULL;
`,
  },
  {
    version: 3,
    name: 'sentinels, distrusted hosts, credit revocations',
    sql: `
-- A sentinel is a work unit whose answer the researcher knows: results are checked against it.
ALTER TABLE workunits ADD COLUMN expected_output_json TEXT;
ALTER TABLE workunits ADD COLUMN expected_output_hash TEXT;
CREATE INDEX workunits_open_sentinels ON workunits(batch_id) WHERE expected_output_hash IS NOT NULL AND status = 'active';

-- A host that returned a wrong answer to a sentinel is distrusted: it gets only sentinels until
-- it has answered enough of them right, and its earlier valid results are checked again
-- (recheck_pending) by a resumable background job.
ALTER TABLE hosts ADD COLUMN sentinels_passed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN sentinels_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN distrusted_at INTEGER;
ALTER TABLE hosts ADD COLUMN recheck_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX hosts_recheck ON hosts(id) WHERE recheck_pending = 1;
CREATE INDEX replicas_host_valid ON replicas(host_id, workunit_id) WHERE validate_state = 'valid';
CREATE INDEX replicas_host_pending ON replicas(host_id) WHERE validate_state = 'pending';
-- A result its host lost when it was caught (pending, or valid in a verdict now withdrawn):
-- invalid, and never counted again, even if the host earns its trust back later.
ALTER TABLE replicas ADD COLUMN forfeited INTEGER NOT NULL DEFAULT 0;

-- The ledger takes revocations: an entry with a negative amount for a replica found invalid
-- after its credit was granted. One grant and at most one revocation per replica, so the
-- replica_id column loses its UNIQUE constraint to two partial unique indexes (SQLite rebuilds
-- the table to drop a constraint; the append-only triggers go with the old table).
DROP TRIGGER credit_ledger_append_only_update;
DROP TRIGGER credit_ledger_append_only_delete;
ALTER TABLE credit_ledger RENAME TO credit_ledger_v1;
CREATE TABLE credit_ledger (
  id INTEGER PRIMARY KEY,
  replica_id INTEGER NOT NULL REFERENCES replicas(id),
  workunit_id INTEGER NOT NULL,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  host_key TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  team_id INTEGER,
  amount REAL NOT NULL,
  granted_at INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  entry_hash TEXT NOT NULL UNIQUE,
  signature TEXT NOT NULL
);
INSERT INTO credit_ledger SELECT id, replica_id, workunit_id, host_id, host_key, user_id, team_id, amount, granted_at,
  prev_hash, entry_hash, signature FROM credit_ledger_v1;
DROP TABLE credit_ledger_v1;
CREATE UNIQUE INDEX credit_ledger_grant ON credit_ledger(replica_id) WHERE amount >= 0;
CREATE UNIQUE INDEX credit_ledger_revocation ON credit_ledger(replica_id) WHERE amount < 0;
CREATE INDEX credit_ledger_host ON credit_ledger(host_id, id);
CREATE TRIGGER credit_ledger_append_only_update BEFORE UPDATE ON credit_ledger
  BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
CREATE TRIGGER credit_ledger_append_only_delete BEFORE DELETE ON credit_ledger
  BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
`,
  },
  {
    version: 4,
    name: 'batch counters kept by triggers',
    sql: `
-- A batch's status read its counts from every one of its rows (0.7 s at a million work units).
-- Triggers keep them instead, so no code path that changes a status can forget to: counts of
-- work units by status and of replicas by status or outcome, and work units finished per
-- second of the batch's life (for its throughput and series).
CREATE TABLE batch_counts (
  batch_id INTEGER PRIMARY KEY REFERENCES batches(id) ON DELETE CASCADE,
  active INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  cancelled INTEGER NOT NULL DEFAULT 0,
  r_unsent INTEGER NOT NULL DEFAULT 0,
  r_in_progress INTEGER NOT NULL DEFAULT 0,
  r_success INTEGER NOT NULL DEFAULT 0,
  r_client_error INTEGER NOT NULL DEFAULT 0,
  r_no_reply INTEGER NOT NULL DEFAULT 0,
  r_aborted INTEGER NOT NULL DEFAULT 0,
  r_abandoned INTEGER NOT NULL DEFAULT 0,
  r_not_needed INTEGER NOT NULL DEFAULT 0,
  -- Latest finished_at of its work units, kept as a maximum on the way up: time only moves on,
  -- so once nothing in the batch is open (when it is read) it is the batch's end.
  last_finished_at INTEGER
);
CREATE TABLE batch_finished (
  batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
  second INTEGER NOT NULL, -- (finished_at - batches.created_at) / 1000
  done INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (batch_id, second)
) WITHOUT ROWID;

INSERT INTO batch_counts (batch_id, active, done, failed, cancelled, last_finished_at)
  SELECT b.id, COUNT(w.id) FILTER (WHERE w.status = 'active'), COUNT(w.id) FILTER (WHERE w.status = 'done'),
    COUNT(w.id) FILTER (WHERE w.status = 'failed'), COUNT(w.id) FILTER (WHERE w.status = 'cancelled'), MAX(w.finished_at)
  FROM batches b LEFT JOIN workunits w ON w.batch_id = b.id GROUP BY b.id;
WITH rc AS (
  SELECT w.batch_id AS id,
    SUM(r.status = 'unsent') AS unsent, SUM(r.status = 'in_progress') AS in_progress,
    SUM(r.status = 'over' AND r.outcome IS 'success') AS success, SUM(r.status = 'over' AND r.outcome IS 'client_error') AS client_error,
    SUM(r.status = 'over' AND r.outcome IS 'no_reply') AS no_reply, SUM(r.status = 'over' AND r.outcome IS 'aborted') AS aborted,
    SUM(r.status = 'over' AND r.outcome IS 'abandoned') AS abandoned, SUM(r.status = 'over' AND r.outcome IS 'not_needed') AS not_needed
  FROM replicas r JOIN workunits w ON w.id = r.workunit_id GROUP BY w.batch_id)
UPDATE batch_counts SET r_unsent = rc.unsent, r_in_progress = rc.in_progress, r_success = rc.success,
  r_client_error = rc.client_error, r_no_reply = rc.no_reply, r_aborted = rc.aborted, r_abandoned = rc.abandoned,
  r_not_needed = rc.not_needed
  FROM rc WHERE rc.id = batch_counts.batch_id;
INSERT INTO batch_finished (batch_id, second, done, failed)
  SELECT w.batch_id, (w.finished_at - b.created_at) / 1000, SUM(w.status = 'done'), SUM(w.status = 'failed')
  FROM workunits w JOIN batches b ON b.id = w.batch_id
  WHERE w.status IN ('done', 'failed') AND w.finished_at IS NOT NULL GROUP BY 1, 2;

CREATE TRIGGER batch_counts_new_batch AFTER INSERT ON batches
  BEGIN INSERT INTO batch_counts (batch_id) VALUES (new.id); END;

CREATE TRIGGER batch_counts_workunit_insert AFTER INSERT ON workunits BEGIN
  UPDATE batch_counts SET active = active + (new.status = 'active'), done = done + (new.status = 'done'),
    failed = failed + (new.status = 'failed'), cancelled = cancelled + (new.status = 'cancelled')
  WHERE batch_id = new.batch_id;
END;
-- Work units are inserted open; one inserted finished is counted in its second all the same.
CREATE TRIGGER batch_counts_workunit_insert_finished AFTER INSERT ON workunits WHEN new.finished_at IS NOT NULL BEGIN
  UPDATE batch_counts SET last_finished_at = MAX(COALESCE(last_finished_at, new.finished_at), new.finished_at)
  WHERE batch_id = new.batch_id;
  INSERT INTO batch_finished (batch_id, second, done, failed)
    SELECT new.batch_id, (new.finished_at - b.created_at) / 1000, new.status = 'done', new.status = 'failed'
    FROM batches b WHERE b.id = new.batch_id AND new.status IN ('done', 'failed')
  ON CONFLICT (batch_id, second) DO UPDATE SET done = done + excluded.done, failed = failed + excluded.failed;
END;
CREATE TRIGGER batch_counts_workunit_delete AFTER DELETE ON workunits BEGIN
  UPDATE batch_counts SET active = active - (old.status = 'active'), done = done - (old.status = 'done'),
    failed = failed - (old.status = 'failed'), cancelled = cancelled - (old.status = 'cancelled')
  WHERE batch_id = old.batch_id;
  UPDATE batch_finished SET done = done - (old.status = 'done'), failed = failed - (old.status = 'failed')
  WHERE old.status IN ('done', 'failed') AND old.finished_at IS NOT NULL AND batch_id = old.batch_id
    AND second = (old.finished_at - (SELECT created_at FROM batches WHERE id = old.batch_id)) / 1000;
END;
CREATE TRIGGER batch_counts_workunit_update AFTER UPDATE OF status, finished_at ON workunits
  WHEN old.status IS NOT new.status OR old.finished_at IS NOT new.finished_at BEGIN
  UPDATE batch_counts SET
    active = active + (new.status = 'active') - (old.status = 'active'),
    done = done + (new.status = 'done') - (old.status = 'done'),
    failed = failed + (new.status = 'failed') - (old.status = 'failed'),
    cancelled = cancelled + (new.status = 'cancelled') - (old.status = 'cancelled'),
    last_finished_at = CASE WHEN new.finished_at IS NULL THEN last_finished_at
      ELSE MAX(COALESCE(last_finished_at, new.finished_at), new.finished_at) END
  WHERE batch_id = new.batch_id;
  UPDATE batch_finished SET done = done - (old.status = 'done'), failed = failed - (old.status = 'failed')
  WHERE old.status IN ('done', 'failed') AND old.finished_at IS NOT NULL AND batch_id = old.batch_id
    AND second = (old.finished_at - (SELECT created_at FROM batches WHERE id = old.batch_id)) / 1000;
  INSERT INTO batch_finished (batch_id, second, done, failed)
    SELECT new.batch_id, (new.finished_at - b.created_at) / 1000, new.status = 'done', new.status = 'failed'
    FROM batches b WHERE b.id = new.batch_id AND new.status IN ('done', 'failed') AND new.finished_at IS NOT NULL
  ON CONFLICT (batch_id, second) DO UPDATE SET done = done + excluded.done, failed = failed + excluded.failed;
END;

CREATE TRIGGER batch_counts_replica_insert AFTER INSERT ON replicas BEGIN
  UPDATE batch_counts SET
    r_unsent = r_unsent + (new.status = 'unsent'), r_in_progress = r_in_progress + (new.status = 'in_progress'),
    r_success = r_success + (new.status = 'over' AND new.outcome IS 'success'),
    r_client_error = r_client_error + (new.status = 'over' AND new.outcome IS 'client_error'),
    r_no_reply = r_no_reply + (new.status = 'over' AND new.outcome IS 'no_reply'),
    r_aborted = r_aborted + (new.status = 'over' AND new.outcome IS 'aborted'),
    r_abandoned = r_abandoned + (new.status = 'over' AND new.outcome IS 'abandoned'),
    r_not_needed = r_not_needed + (new.status = 'over' AND new.outcome IS 'not_needed')
  WHERE batch_id = (SELECT batch_id FROM workunits WHERE id = new.workunit_id);
END;
CREATE TRIGGER batch_counts_replica_delete AFTER DELETE ON replicas BEGIN
  UPDATE batch_counts SET
    r_unsent = r_unsent - (old.status = 'unsent'), r_in_progress = r_in_progress - (old.status = 'in_progress'),
    r_success = r_success - (old.status = 'over' AND old.outcome IS 'success'),
    r_client_error = r_client_error - (old.status = 'over' AND old.outcome IS 'client_error'),
    r_no_reply = r_no_reply - (old.status = 'over' AND old.outcome IS 'no_reply'),
    r_aborted = r_aborted - (old.status = 'over' AND old.outcome IS 'aborted'),
    r_abandoned = r_abandoned - (old.status = 'over' AND old.outcome IS 'abandoned'),
    r_not_needed = r_not_needed - (old.status = 'over' AND old.outcome IS 'not_needed')
  WHERE batch_id = (SELECT batch_id FROM workunits WHERE id = old.workunit_id);
END;
CREATE TRIGGER batch_counts_replica_update AFTER UPDATE OF status, outcome ON replicas
  WHEN old.status IS NOT new.status OR old.outcome IS NOT new.outcome BEGIN
  UPDATE batch_counts SET
    r_unsent = r_unsent + (new.status = 'unsent') - (old.status = 'unsent'),
    r_in_progress = r_in_progress + (new.status = 'in_progress') - (old.status = 'in_progress'),
    r_success = r_success + (new.status = 'over' AND new.outcome IS 'success') - (old.status = 'over' AND old.outcome IS 'success'),
    r_client_error = r_client_error + (new.status = 'over' AND new.outcome IS 'client_error') - (old.status = 'over' AND old.outcome IS 'client_error'),
    r_no_reply = r_no_reply + (new.status = 'over' AND new.outcome IS 'no_reply') - (old.status = 'over' AND old.outcome IS 'no_reply'),
    r_aborted = r_aborted + (new.status = 'over' AND new.outcome IS 'aborted') - (old.status = 'over' AND old.outcome IS 'aborted'),
    r_abandoned = r_abandoned + (new.status = 'over' AND new.outcome IS 'abandoned') - (old.status = 'over' AND old.outcome IS 'abandoned'),
    r_not_needed = r_not_needed + (new.status = 'over' AND new.outcome IS 'not_needed') - (old.status = 'over' AND old.outcome IS 'not_needed')
  WHERE batch_id = (SELECT batch_id FROM workunits WHERE id = new.workunit_id);
END;
`,
  },
  {
    version: 5,
    name: 'full quorum kept while adaptive replication lowers it',
    // A work unit a trusted host got alone (quorum 1) remembers the quorum it was submitted
    // with, so that if that host is caught cheating the work unit is reopened at it, not at 1.
    // Work units lowered before this migration cannot be told from ones submitted at quorum 1.
    sql: `
ALTER TABLE workunits ADD COLUMN full_min_quorum INTEGER;
ALTER TABLE workunits ADD COLUMN full_target_nresults INTEGER;
`,
  },
  {
    version: 6,
    name: 'checks no host can tell from regular work',
    sql: `
-- What a replica is for. 'sentinel': a replica of a work unit whose answer the researcher knows;
-- such replicas wait in their own queue and are drawn at the check rate, never in batch order.
-- 'check': a replica made after its work unit was done, to check a host against the canonical
-- result (or to settle a dispute such a check opened). Both look like any task to a host.
ALTER TABLE replicas ADD COLUMN kind TEXT NOT NULL DEFAULT 'regular' CHECK (kind IN ('regular', 'sentinel', 'check'));
UPDATE replicas SET kind = 'sentinel'
  WHERE workunit_id IN (SELECT id FROM workunits WHERE expected_output_hash IS NOT NULL);
CREATE INDEX replicas_unsent_sentinel ON replicas(priority DESC, id) WHERE status = 'unsent' AND kind = 'sentinel';
CREATE INDEX replicas_check ON replicas(workunit_id) WHERE kind = 'check';
-- Done regular work units, to draw one at random to check a host on.
CREATE INDEX workunits_done ON workunits(id) WHERE status = 'done' AND expected_output_hash IS NULL;

-- A caught host's earlier results are re-checked after a random delay, so that when its credit
-- is revoked says nothing about which of its reports gave it away.
ALTER TABLE hosts ADD COLUMN recheck_at INTEGER;
`,
  },
  {
    version: 7,
    name: 'files checked to be canonical JSON before they count as outputs',
    // 1: the bytes are exactly the canonical JSON of a value (an upload is checked before it is
    // stored), so they may count as an output and be copied into a results export. 0: checked,
    // they are not. NULL: never checked (app files, large inputs, and every file stored before
    // this migration): checked the first time a result or an export needs it, and the answer kept.
    sql: `
ALTER TABLE files ADD COLUMN canonical_json INTEGER CHECK (canonical_json IN (0, 1));
`,
  },
  {
    version: 8,
    name: 'quotas per host and app, new hosts held to a share of each batch, tasks held without progress',
    sql: `
-- BOINC's quotas. A host's allowance of tasks in flight doubles with each valid result and
-- halves with each invalid one or task left without a reply; its tasks a day, kept per app (as
-- BOINC keeps them per app version, so that one broken app does not starve a host of the
-- others), double with each valid result and halve with each error. The levels are exponents.
-- An app's level starts at its host's. Hosts that already had results keep what they earned.
ALTER TABLE hosts ADD COLUMN quota_level INTEGER NOT NULL DEFAULT 0;
UPDATE hosts SET quota_level = MIN(n_valid, 20);
CREATE TABLE host_app_quotas (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  app_id INTEGER NOT NULL REFERENCES apps(id),
  level INTEGER NOT NULL,
  day INTEGER NOT NULL DEFAULT 0,
  used INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (host_id, app_id)
) WITHOUT ROWID;

-- Taken by a host that was new then (too few valid results): new hosts together may hold only a
-- share of a batch, counted here per batch by the triggers below.
ALTER TABLE replicas ADD COLUMN new_host INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_counts ADD COLUMN r_new_host INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER batch_counts_new_host_update AFTER UPDATE OF status, new_host ON replicas
  WHEN (old.status = 'in_progress' AND old.new_host = 1) IS NOT (new.status = 'in_progress' AND new.new_host = 1) BEGIN
  UPDATE batch_counts SET r_new_host = r_new_host + (new.status = 'in_progress' AND new.new_host = 1)
    - (old.status = 'in_progress' AND old.new_host = 1)
  WHERE batch_id = (SELECT batch_id FROM workunits WHERE id = new.workunit_id);
END;
CREATE TRIGGER batch_counts_new_host_delete AFTER DELETE ON replicas WHEN old.status = 'in_progress' AND old.new_host = 1 BEGIN
  UPDATE batch_counts SET r_new_host = r_new_host - 1 WHERE batch_id = (SELECT batch_id FROM workunits WHERE id = old.workunit_id);
END;

-- A task is taken back (as if its deadline had passed) when its host shows no progress on it
-- for the hold timeout: set when it is sent, moved on by every progress report.
ALTER TABLE replicas ADD COLUMN hold_until INTEGER;
CREATE INDEX replicas_hold ON replicas(hold_until) WHERE status = 'in_progress';
`,
  },
  {
    version: 9,
    name: 'host counters kept by triggers, credit in whole micro-credits, credit caps and corrections',
    sql: `
-- A host's counts of valid, invalid and client-error results were kept by hand, and drifted
-- whenever a verdict was taken back (a caught host's results withdrawn, a dispute overturned).
-- Triggers keep them equal to a recount of the host's replicas instead, as migration 4 does for
-- batches: a forfeited result is an invalid row, so it counts as invalid.
UPDATE hosts SET n_valid = 0, n_invalid = 0, n_error = 0;
WITH c AS (
  SELECT host_id AS id, SUM(validate_state IS 'valid') AS v, SUM(validate_state IS 'invalid') AS i, SUM(outcome IS 'client_error') AS e
  FROM replicas WHERE host_id IS NOT NULL GROUP BY host_id)
UPDATE hosts SET n_valid = c.v, n_invalid = c.i, n_error = c.e FROM c WHERE c.id = hosts.id;

CREATE TRIGGER host_counts_replica_insert AFTER INSERT ON replicas WHEN new.host_id IS NOT NULL BEGIN
  UPDATE hosts SET n_valid = n_valid + (new.validate_state IS 'valid'), n_invalid = n_invalid + (new.validate_state IS 'invalid'),
    n_error = n_error + (new.outcome IS 'client_error')
  WHERE id = new.host_id;
END;
CREATE TRIGGER host_counts_replica_delete AFTER DELETE ON replicas WHEN old.host_id IS NOT NULL BEGIN
  UPDATE hosts SET n_valid = n_valid - (old.validate_state IS 'valid'), n_invalid = n_invalid - (old.validate_state IS 'invalid'),
    n_error = n_error - (old.outcome IS 'client_error')
  WHERE id = old.host_id;
END;
CREATE TRIGGER host_counts_replica_update AFTER UPDATE OF validate_state, outcome, host_id ON replicas
  WHEN old.validate_state IS NOT new.validate_state OR old.outcome IS NOT new.outcome OR old.host_id IS NOT new.host_id BEGIN
  UPDATE hosts SET n_valid = n_valid - (old.validate_state IS 'valid'), n_invalid = n_invalid - (old.validate_state IS 'invalid'),
    n_error = n_error - (old.outcome IS 'client_error')
  WHERE id = old.host_id;
  UPDATE hosts SET n_valid = n_valid + (new.validate_state IS 'valid'), n_invalid = n_invalid + (new.validate_state IS 'invalid'),
    n_error = n_error + (new.outcome IS 'client_error')
  WHERE id = new.host_id;
END;

-- Credit is counted in whole micro-credits: floating-point sums left 6.9e-18 where a grant and its
-- revocation should leave nothing. Each ledger entry keeps the amount it was signed with (a
-- receipt must still verify) and gets its exact units beside it: round(amount × 10⁶), halves away
-- from zero, so that a revocation cancels its grant. Totals and replicas' credit are then the
-- sums of those units (the floating totals they replace had drifted from the ledger).
--
-- An entry also says what it is. An admin who lowers a project's credit cap takes back what was
-- granted above it with 'correction' entries (negative), as many as caps are lowered; a replica
-- still has at most one 'grant' and one 'revocation' (which takes back whatever is left), now
-- one unique index per kind rather than per sign.
DROP TRIGGER credit_ledger_append_only_update;
ALTER TABLE credit_ledger ADD COLUMN micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credit_ledger ADD COLUMN kind TEXT NOT NULL DEFAULT 'grant' CHECK (kind IN ('grant', 'revocation', 'correction'));
UPDATE credit_ledger SET micro = CAST(ROUND(amount * 1000000) AS INTEGER),
  kind = CASE WHEN amount < 0 THEN 'revocation' ELSE 'grant' END;
CREATE TRIGGER credit_ledger_append_only_update BEFORE UPDATE ON credit_ledger
  BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
DROP INDEX credit_ledger_grant;
DROP INDEX credit_ledger_revocation;
CREATE UNIQUE INDEX credit_ledger_grant ON credit_ledger(replica_id) WHERE kind = 'grant';
CREATE UNIQUE INDEX credit_ledger_revocation ON credit_ledger(replica_id) WHERE kind = 'revocation';
-- What a replica holds is the sum of all its entries: without this, that sum scanned the ledger.
CREATE INDEX credit_ledger_replica ON credit_ledger(replica_id);

ALTER TABLE hosts ADD COLUMN total_credit_micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN total_credit_micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE teams ADD COLUMN total_credit_micro INTEGER NOT NULL DEFAULT 0;
-- TOTAL, not SUM: credit minted through a huge fpopsEst could overflow SUM's 64-bit integers and
-- stop the migration; such totals are for an admin to correct (docs/api.md), not exact anyway.
UPDATE hosts SET total_credit_micro = l.s
  FROM (SELECT host_id, CAST(TOTAL(micro) AS INTEGER) AS s FROM credit_ledger GROUP BY host_id) l WHERE l.host_id = hosts.id;
UPDATE users SET total_credit_micro = l.s
  FROM (SELECT user_id, CAST(TOTAL(micro) AS INTEGER) AS s FROM credit_ledger GROUP BY user_id) l WHERE l.user_id = users.id;
UPDATE teams SET total_credit_micro = l.s
  FROM (SELECT team_id, CAST(TOTAL(micro) AS INTEGER) AS s FROM credit_ledger GROUP BY team_id) l WHERE l.team_id = teams.id;
ALTER TABLE hosts DROP COLUMN total_credit;
ALTER TABLE users DROP COLUMN total_credit;
ALTER TABLE teams DROP COLUMN total_credit;

-- NULL while a replica has no ledger entry; its net credit once it has.
ALTER TABLE replicas ADD COLUMN credit_micro INTEGER;
UPDATE replicas SET credit_micro = l.s FROM (SELECT replica_id, SUM(micro) AS s FROM credit_ledger GROUP BY replica_id) l
  WHERE l.replica_id = replicas.id;
ALTER TABLE replicas DROP COLUMN credit;

-- A project's most credit per result, set by an admin (NULL: the coordinator's
-- --max-credit-per-result). Lowering it takes back what was granted above it: a resumable job
-- walks the project's batches (credit_correction_batch) and their work units
-- (credit_correction_through) a chunk per transaction, while credit_correction_micro holds the cap
-- it brings credit down to.
ALTER TABLE projects ADD COLUMN max_credit_micro INTEGER CHECK (max_credit_micro >= 0);
ALTER TABLE projects ADD COLUMN credit_correction_micro INTEGER CHECK (credit_correction_micro >= 0);
ALTER TABLE projects ADD COLUMN credit_correction_batch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN credit_correction_through INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 10,
    name: 'app versions that fail to load everywhere are marked broken',
    sql: `
-- A version that has produced a result once is not broken whatever happens later; until then,
-- load failures from enough proven hosts mark it broken, and no task is sent with it again.
ALTER TABLE app_versions ADD COLUMN succeeded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE app_versions ADD COLUMN broken_at INTEGER;
ALTER TABLE app_versions ADD COLUMN broken_reason TEXT;
UPDATE app_versions SET succeeded = 1 WHERE EXISTS (SELECT 1 FROM replicas r WHERE r.app_version_id = app_versions.id AND r.outcome = 'success');
CREATE INDEX replicas_version_errors ON replicas(app_version_id) WHERE outcome = 'client_error';
`,
  },
  {
    version: 11,
    name: 'repair: failed work units retried, app versions retired, batches pinned to a version or archived',
    sql: `
-- Replicas with an id up to retry_from belong to attempts before the work unit was last retried:
-- they count for nothing in its judging and budgets, and keep no host from it.
ALTER TABLE workunits ADD COLUMN retry_from INTEGER NOT NULL DEFAULT 0;
-- A retired version gets no new task; the newest one not retired does.
ALTER TABLE app_versions ADD COLUMN retired_at INTEGER;
-- A batch pinned to a version gets tasks with that version only.
ALTER TABLE batches ADD COLUMN app_version_id INTEGER REFERENCES app_versions(id);
-- A finished batch archived is left out of lists unless they ask for it.
ALTER TABLE batches ADD COLUMN archived_at INTEGER;
`,
  },
  {
    version: 12,
    name: 'coordinator resources: project priority bounds, uploads tied to their task, outputs private and collected',
    sql: `
-- The highest work-unit priority a project's batches may ask for, set by an admin (NULL: the
-- coordinator's --max-priority): priority orders the scheduler's queue, so without a bound one
-- researcher's work could starve everyone else's. Lowering it brings the project's open work
-- units and unsent replicas down to it: a resumable job walks the project's batches
-- (priority_lowering_batch) and their work units (priority_lowering_through) a chunk per
-- transaction, while priority_lowering holds the bound it brings them down to.
ALTER TABLE projects ADD COLUMN max_priority INTEGER;
ALTER TABLE projects ADD COLUMN priority_lowering INTEGER;
ALTER TABLE projects ADD COLUMN priority_lowering_batch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN priority_lowering_through INTEGER NOT NULL DEFAULT 0;

-- A host uploads an output only for a task of its own that may still report, once per task: the
-- upload names the task. A result's file output must be its own task's upload.
CREATE TABLE output_uploads (
  replica_id INTEGER PRIMARY KEY REFERENCES replicas(id),
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL
);
CREATE INDEX output_uploads_sha256 ON output_uploads(sha256, uploaded_at);

-- Who may download a file. 1: anyone (GET /files/:hash): app files and large inputs, which
-- volunteers need. 0: an uploaded output, which only researchers get, through the API. Files
-- stored before this migration are public if a work unit or an app version names them.
ALTER TABLE files ADD COLUMN public INTEGER NOT NULL DEFAULT 1 CHECK (public IN (0, 1));
UPDATE files SET public = 0 WHERE sha256 NOT IN (
  SELECT input_hash FROM workunits WHERE input_json IS NULL
  UNION SELECT f.value ->> '$.sha256' FROM app_versions v, json_each(v.manifest_json, '$.files') f);
-- Private files are what the collector walks; a file output is found by its hash.
CREATE INDEX files_private ON files(public) WHERE public = 0;
CREATE INDEX replicas_file_output ON replicas(output_hash) WHERE output_json IS NULL AND output_hash IS NOT NULL;
`,
  },
  {
    version: 13,
    name: 'what the app logged in the run that produced a result',
    sql: `
-- {"lines": [{"level", "text"}], "omitted": n}: the last lines the app logged, as its host signed
-- them with the result (so the stored result can still be verified); NULL: it logged nothing.
ALTER TABLE replicas ADD COLUMN log_json TEXT;
`,
  },
  {
    version: 14,
    name: 'recent work per host and project, for volunteers resource shares',
    sql: `
-- The estimated work (fpops) each project sent each host, decayed with a half-life
-- (coordinator/work/project-preferences.ts) as of updated_at: what the scheduler compares with a
-- volunteer's resource shares. A row is written when a project sends the host new tasks.
CREATE TABLE host_project_work (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  project_id INTEGER NOT NULL REFERENCES projects(id),
  work REAL NOT NULL CHECK (work >= 0),
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (host_id, project_id)
) WITHOUT ROWID;
`,
  },
  {
    version: 15,
    name: 'leases for jobs one instance runs at a time',
    sql: LEASES_TABLE,
  },
  {
    version: 16,
    name: 'the coordinator key the database belongs to',
    sql: IDENTITY_TABLE,
  },
  {
    version: 17,
    name: 'task ids that say nothing: random, drawn when a replica is assigned',
    sql: `
-- The id a host knows its task by, drawn at random when the replica is assigned (scheduler.ts):
-- unlike the replica's own id, it tells nothing of when or why the replica was made, so a check
-- or a sentinel cannot be told from regular work by its id (docs/security.md). Tasks sent before
-- this migration keep the id they were sent with, their replica's own: task_id = id marks them
-- (they named their work unit's real id too; see coordinator/work/task-ids.ts).
ALTER TABLE replicas ADD COLUMN task_id INTEGER;
UPDATE replicas SET task_id = id WHERE host_id IS NOT NULL;
CREATE UNIQUE INDEX replicas_task ON replicas(task_id) WHERE task_id IS NOT NULL;
-- The task id a ledger entry was signed with; NULL for entries written before, whose task id
-- was their replica's id.
ALTER TABLE credit_ledger ADD COLUMN task_id INTEGER;
`,
  },
  {
    version: 18,
    name: 'results a host is told lost their quorum vote',
    sql: `
-- 1 once a result lost its quorum vote while its host's results counted: its host is told it is
-- invalid (results.verdicts, docs/protocol.md), and stays told, whatever is judged again later
-- (a verdict that went back to pending would tell the host a partner had been caught). Results
-- found wrong by a check or a sentinel are never marked: their hosts are caught, and are not told.
-- Before this migration only the rules of the regular quorum left a result invalid and not
-- forfeited on a regular replica.
ALTER TABLE replicas ADD COLUMN lost_quorum INTEGER NOT NULL DEFAULT 0;
UPDATE replicas SET lost_quorum = 1 WHERE kind = 'regular' AND validate_state = 'invalid' AND forfeited = 0;
`,
  },
  {
    version: 19,
    name: 'the instance a host is connected to and a batch is submitted on',
    sql: INSTANCE_COLUMNS,
  },
  {
    version: 20,
    name: 'counting triggers that write each change once, and only when a count changes',
    sql: `
-- PostgreSQL's counting triggers now add a change to a batch's or a host's counts as one delta,
-- and none when it is zero (postgres/schema.ts, COUNTS_ONCE). SQLite's already did: nothing to
-- change here; the number is kept so both backends number their migrations alike.
SELECT 1;
`,
  },
  {
    version: 21,
    name: 'protocol 3: a report\'s one signature, kept with the results it covers',
    sql: `
-- Protocol 3's reports are signed once, over the list of their results' hashes (docs/protocol.md):
-- the list is kept, one row a report, and each result it covers names it, so that anyone may
-- check again that the host signed a stored result (its result_hash is in result_hashes, and the
-- signature verifies with the host's key over {hostKey, resultHashes}). Results signed on their
-- own (protocol 2) name none and keep result_signature. Tasks sent under protocol 3 have no
-- task_signature (their reply's list was signed, and nothing needs it again: a lost one is sent
-- in a new signed list, or signed again for a protocol-2 client, to the same bytes).
CREATE TABLE result_lists (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  received_at INTEGER NOT NULL,
  signature TEXT NOT NULL,
  -- jsonHash of each result's signed fields, a JSON array in the report's order.
  result_hashes TEXT NOT NULL
);
ALTER TABLE replicas ADD COLUMN result_list_id INTEGER REFERENCES result_lists(id);
`,
  },
  {
    version: 22,
    name: "a replica's counts moved once a statement, not once a row",
    sql: `
-- PostgreSQL's counting triggers on replicas now run once a statement, summing its changed rows
-- by batch and by host (postgres/schema.ts, COUNTS_BY_STATEMENT). SQLite's per-row triggers cost
-- no round trip and no row versions kept until the commit: nothing to change here; the number is
-- kept so both backends number their migrations alike.
SELECT 1;
`,
  },
];

export function migrate(db: Database, migrations: Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  const newest = Math.max(0, ...applied);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (newest > known) {
    throw new Error(`the database has schema version ${newest}, newer than this coordinator knows (${known}); upgrade the coordinator`);
  }
  const done: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
    done.push(m.version);
  }
  return done;
}
