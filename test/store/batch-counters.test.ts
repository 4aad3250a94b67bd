// Migration 4 on a real SQLite file: the batch counters are backfilled from the rows of an
// existing database, and every kind of change the coordinator makes to work units and
// replicas (insert, status and outcome changes, reopening, deleting a staged batch) keeps them
// equal to a recount. The status a researcher sees is read from them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { batchStatus } from '../../coordinator/research/batch-status.js';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';
import { SqliteDatabase } from '../../coordinator/store/sql/sqlite-database.js';
import { ReportStore } from '../../coordinator/store/report-store.js';
import { counterProblems } from '../helpers/batch-counters.js';

const T = 1_700_000_000_000;
let dir: string;
let db: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vg-counters-'));
  db = new Database(join(dir, 'coordinator.sqlite'));
  db.pragma('foreign_keys = ON');
  expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 3))).toEqual([1, 2, 3]);
  db.prepare('INSERT INTO users (id, name, created_at) VALUES (1, ?, ?)').run('u', T);
  db.prepare(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at,
    last_seen_at) VALUES (1, 'k', 1, 'node', 'node', '{}', '{}', ?, ?)`).run(T, T);
  db.prepare("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ?)").run(T);
  db.prepare(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ?)`).run(T);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const batch = (id: number, staged = 0) =>
  db.prepare('INSERT INTO batches (id, project_id, app_id, name, created_at, staged) VALUES (?, 1, 1, ?, ?, ?)').run(id, `b${id}`, T, staged);
const workunit = (id: number, batchId: number, status = 'active', finishedAt: number | null = null) =>
  db.prepare(`INSERT INTO workunits (id, batch_id, app_id, seq, input_hash, min_quorum, target_nresults, max_error_results,
    max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, status, created_at, finished_at)
    VALUES (?, ?, 1, ?, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 'seed', ?, ?, ?)`).run(id, batchId, id, status, T, finishedAt);
const replica = (id: number, workunitId: number, status: string, outcome: string | null = null) =>
  db.prepare('INSERT INTO replicas (id, workunit_id, priority, status, outcome, host_id, created_at) VALUES (?, ?, 0, ?, ?, 1, ?)').run(
    id, workunitId, status, outcome, T);
const finish = (id: number, status: 'done' | 'failed' | 'cancelled', at: number) =>
  db.prepare('UPDATE workunits SET status = ?, finished_at = ? WHERE id = ?').run(status, at, id);
const endReplica = (id: number, outcome: string) => db.prepare("UPDATE replicas SET status = 'over', outcome = ? WHERE id = ?").run(outcome, id);

it('backfills the counters of an existing database, then keeps them through every kind of change', async () => {
  // A database as a coordinator before migration 4 left it: two batches in various states.
  batch(1);
  batch(2);
  workunit(1, 1, 'done', T + 1_500);
  workunit(2, 1, 'failed', T + 2_100);
  workunit(3, 1, 'active');
  workunit(4, 2, 'cancelled', T + 900);
  workunit(5, 2, 'done', T + 61_000);
  replica(1, 1, 'over', 'success');
  replica(2, 1, 'over', 'success');
  replica(3, 2, 'over', 'client_error');
  replica(4, 3, 'in_progress');
  replica(5, 3, 'unsent');
  replica(6, 4, 'over', 'aborted');
  replica(7, 5, 'over', 'no_reply');
  // A replica ended without an outcome is counted nowhere, as before the counters.
  replica(8, 5, 'over', null);

  expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 4))).toEqual([4]);
  expect(counterProblems(db)).toEqual([]);
  migrate(db); // the later migrations, which the read side of today needs
  expect(counterProblems(db)).toEqual([]);
  const reports = new ReportStore(new SqliteDatabase(db));
  expect(await reports.workunitCounts(1)).toEqual({ active: 1, done: 1, failed: 1, cancelled: 0 });
  expect(await reports.replicaCounts(2)).toEqual({ unsent: 0, inProgress: 0, success: 0, clientError: 0, noReply: 1, aborted: 1, abandoned: 0, notNeeded: 0 });
  expect(await reports.lastFinished(2)).toBe(T + 61_000);

  // The work of a running coordinator.
  endReplica(4, 'success');
  db.prepare("UPDATE replicas SET status = 'in_progress' WHERE id = 5").run();
  endReplica(5, 'abandoned');
  replica(9, 3, 'unsent');
  finish(3, 'done', T + 3_200);
  db.prepare("UPDATE replicas SET validate_state = 'valid' WHERE id = 4").run(); // no counted column
  expect(counterProblems(db)).toEqual([]);
  expect(await reports.workunitCounts(1)).toEqual({ active: 0, done: 2, failed: 1, cancelled: 0 });

  // A caught host's work unit reopened (its finish no longer counts), then decided again.
  db.prepare("UPDATE workunits SET status = 'active', finished_at = NULL WHERE id = 1").run();
  expect(counterProblems(db)).toEqual([]);
  expect(await reports.finishedSeries(1, 1)).toEqual(
    expect.arrayContaining([{ bucket: 1, done: 0, failed: 0 }, { bucket: 2, done: 0, failed: 1 }, { bucket: 3, done: 1, failed: 0 }]),
  );
  finish(1, 'done', T + 9_000);
  endReplica(9, 'not_needed');
  expect(counterProblems(db)).toEqual([]);

  // A staged batch being discarded, row by row and then as a whole.
  batch(3, 1);
  workunit(6, 3);
  workunit(7, 3);
  db.prepare('DELETE FROM workunits WHERE id = 6').run();
  expect(counterProblems(db)).toEqual([]);
  db.prepare('DELETE FROM workunits WHERE id = 7').run();
  db.prepare('DELETE FROM batches WHERE id = 3').run();
  expect(db.prepare('SELECT COUNT(*) AS n FROM batch_counts WHERE batch_id = 3').get()).toEqual({ n: 0 });
  expect(counterProblems(db)).toEqual([]);

  // What the researcher sees, from the counters alone.
  const status = await batchStatus(reports, (await reports.batch(1))!, T + 100_000);
  expect(status).toMatchObject({
    status: 'done',
    finishedAt: T + 9_000,
    workunits: { total: 3, active: 0, done: 2, failed: 1, cancelled: 0 },
    replicas: { unsent: 0, inProgress: 0, success: 3, clientError: 1, noReply: 0, aborted: 0, abandoned: 1, notNeeded: 1 },
    // All three finished within the batch's 9 s: its whole life is the window.
    throughput: { windowMs: 9_000, workunitsPerSecond: 0.33 },
    series: { bucketMs: 1000 },
  });
  expect(status.series.points.filter((p) => p.done + p.failed > 0)).toEqual([
    { t: T + 2_000, done: 0, failed: 1 },
    { t: T + 3_000, done: 1, failed: 0 },
    { t: T + 9_000, done: 1, failed: 0 },
  ]);
});

it('counts a long batch’s throughput over its last minute, in whole seconds', async () => {
  migrate(db);
  batch(1);
  // 30 finished in its first 31 s, 12 in the last 60 s of its 100 s life (from second 40 on).
  for (let i = 0; i < 30; i++) workunit(100 + i, 1, 'done', T + 1_000 + i * 1_000);
  for (let i = 0; i < 12; i++) workunit(200 + i, 1, 'done', T + 40_000 + i * 5_000);
  workunit(300, 1);
  const reports = new ReportStore(new SqliteDatabase(db));
  const status = await batchStatus(reports, (await reports.batch(1))!, T + 100_000);
  expect(status.throughput).toEqual({ windowMs: 60_000, workunitsPerSecond: 0.2 });
  expect(status.etaMs).toBe(5_000);
  expect(counterProblems(db)).toEqual([]);
});
