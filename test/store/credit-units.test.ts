// Credit in whole micro-credits, on a real SQLite file: the migration gives every signed ledger
// entry its exact units beside the amount it was signed with (so old receipts still verify),
// and recomputes the totals of hosts, users and teams and the credit of replicas from them, the
// floating-point drift of the old sums gone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { GENESIS_HASH, ledgerEntryHash, verifyLedgerChain } from '../../protocol/ledger.js';
import { keyFileOf, loadCoordinatorKey } from '../../coordinator/identity/coordinator-key.js';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';
import { SqliteDatabase } from '../../coordinator/store/sql/sqlite-database.js';
import { LedgerStore } from '../../coordinator/store/ledger-store.js';
import { ReportStore } from '../../coordinator/store/report-store.js';

const T = 1_700_000_000_000;
const ed = nodeEd25519();
/** What a valid result earned before credit was counted in micro-credits: 1e10 × 200 / 86,400e9. */
const OLD = 0.023148148148148147;
let dir: string;
let db: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vg-credit-units-'));
  db = new Database(join(dir, 'coordinator.sqlite'));
  db.pragma('foreign_keys = ON');
  migrate(db, MIGRATIONS.filter((m) => m.version <= 7));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

it('converts the ledger, totals and replica credit of an existing database to exact units', async () => {
  const { key } = loadCoordinatorKey(keyFileOf({ dataDir: dir }), ed, { create: true });
  db.prepare("INSERT INTO teams (id, name, created_at, total_credit) VALUES (1, 'red', ?, ?)").run(T, 6.938893903907228e-18);
  db.prepare('INSERT INTO users (id, name, team_id, created_at, total_credit) VALUES (1, ?, 1, ?, ?)').run('u', T, 6.938893903907228e-18);
  db.prepare(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at,
    last_seen_at, total_credit) VALUES (1, ?, 1, 'node', 'node', '{}', '{}', ?, ?, ?)`).run('a'.repeat(64), T, T, 6.938893903907228e-18);
  db.prepare("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ?)").run(T);
  db.prepare(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ?)`).run(T);
  db.prepare("INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', ?)").run(T);
  db.prepare(`INSERT INTO workunits (id, batch_id, app_id, input_hash, min_quorum, target_nresults, max_error_results,
    max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, status, created_at)
    VALUES (1, 1, 1, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 'seed', 'done', ?)`).run(T);
  const replica = db.prepare(`INSERT INTO replicas (id, workunit_id, priority, status, outcome, validate_state, host_id, created_at, credit)
    VALUES (?, 1, 0, 'over', 'success', ?, 1, ?, ?)`);
  // Three grants, all revoked later (the host was caught): what left 6.9e-18 in every total.
  for (const id of [1, 2, 3]) replica.run(id, 'invalid', T, 0);
  replica.run(4, 'valid', T, OLD);
  let prevHash = GENESIS_HASH;
  const append = db.prepare(`INSERT INTO credit_ledger (id, replica_id, workunit_id, host_id, host_key, user_id, team_id, amount,
    granted_at, prev_hash, entry_hash, signature) VALUES (?, ?, 1, 1, ?, 1, 1, ?, ?, ?, ?, ?)`);
  const amounts: [number, number][] = [[1, OLD], [2, OLD], [3, OLD], [1, -OLD], [2, -OLD], [3, -OLD], [4, OLD]];
  amounts.forEach(([replicaId, amount], i) => {
    const content = { entryId: i + 1, taskId: replicaId, workunitId: 1, hostKey: 'a'.repeat(64), amount, grantedAt: T + i, prevHash };
    const body = { ...content, entryHash: ledgerEntryHash(content) };
    append.run(i + 1, replicaId, body.hostKey, amount, body.grantedAt, prevHash, body.entryHash, key.sign('creditReceipt', body));
    prevHash = body.entryHash;
  });

  expect(migrate(db)).toContain(9);
  expect(db.prepare('SELECT amount, micro FROM credit_ledger ORDER BY id').all()).toEqual(
    amounts.map(([, amount]) => ({ amount, micro: amount > 0 ? 23_148 : -23_148 })),
  );
  for (const table of ['hosts', 'users', 'teams']) {
    expect(db.prepare(`SELECT total_credit_micro AS micro FROM ${table}`).get(), table).toEqual({ micro: 23_148 });
  }
  expect(db.prepare('SELECT id, credit_micro AS micro FROM replicas ORDER BY id').all()).toEqual([
    { id: 1, micro: 0 },
    { id: 2, micro: 0 },
    { id: 3, micro: 0 },
    { id: 4, micro: 23_148 },
  ]);
  // The receipts are as they were signed: the chain still verifies.
  const entries = await new LedgerStore(new SqliteDatabase(db)).entriesAfter(0, 100);
  expect(entries.map((e) => e.amount)).toEqual(amounts.map(([, amount]) => amount));
  expect(verifyLedgerChain(ed, key.publicKey, entries)).toBeUndefined();
  const reports = new ReportStore(new SqliteDatabase(db));
  expect((await reports.leaderboard('hosts', 10))[0]).toMatchObject({ totalCredit: 0.023148 });
  expect((await reports.replicas(1)).map((r) => r.credit)).toEqual([0, 0, 0, 0.023148]);
  expect(() => db.prepare('UPDATE credit_ledger SET micro = 1').run()).toThrow(/append-only/);

  // Each entry says what it is; grants and revocations stay one per replica, corrections do not.
  expect(db.prepare('SELECT kind, COUNT(*) AS n FROM credit_ledger GROUP BY kind ORDER BY kind').all()).toEqual([
    { kind: 'grant', n: 4 },
    { kind: 'revocation', n: 3 },
  ]);
  const entry = db.prepare(`INSERT INTO credit_ledger (id, kind, replica_id, workunit_id, host_id, host_key, user_id, amount, micro,
    granted_at, prev_hash, entry_hash, signature) VALUES (?, ?, ?, 1, 1, 'k', 1, ?, ?, ?, 'p', ?, 's')`);
  expect(() => entry.run(8, 'grant', 4, 1, 1_000_000, T, 'e8')).toThrow(/UNIQUE constraint failed: credit_ledger.replica_id/);
  expect(() => entry.run(8, 'revocation', 1, -1, -1_000_000, T, 'e8')).toThrow(/UNIQUE constraint failed: credit_ledger.replica_id/);
  expect(() => entry.run(8, 'bonus', 4, 1, 1_000_000, T, 'e8')).toThrow(/CHECK constraint failed/);
  entry.run(8, 'correction', 4, -0.000001, -1, T, 'e8');
  entry.run(9, 'correction', 4, -0.000001, -1, T, 'e9');
  entry.run(10, 'revocation', 4, -0.023146, -23_146, T, 'e10');
  expect(db.pragma('foreign_key_check')).toEqual([]);
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
});
