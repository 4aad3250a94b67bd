// Backup and restore for real: `admin backup` of a coordinator (a child process) in the middle of
// a batch while volunteers report results, then kill -9, the data dir deleted, `admin restore`
// into a new one, and the coordinator started again on it. Every result acknowledged before the
// backup began is there, the ledger verifies with the coordinator's key, `admin verify` passes,
// and the volunteers finish the batch.
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';
import { SqliteDatabase } from '../../coordinator/store/sql/sqlite-database.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { BatchStatus, Submitted } from '../../protocol/api.js';
import { ApiClient } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli-process.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { ackProblems, APP_MAIN, creditProblems, expectedOutput, fetchAndVerifyLedger, workunitProblems } from '../reliability/db-checks.js';
import { counterProblems } from '../helpers/batch-counters.js';
import { HostClient, type ResultAckRecord } from '../reliability/host-client.js';

const WORKUNITS = 600;
const QUORUM = 2;
const ADMIN_PASSWORD = 'backup-test-admin-password';
const ARGS = ['--demo-workunits', '0', '--check-rate', '0', '--transition-interval-ms', '200', '--admin-password', ADMIN_PASSWORD,
  '--http-rate-per-ip', '0', '--connect-rate-per-ip', '0', '--message-rate-per-socket', '0', '--message-rate-per-host', '0',
  // Tasks a restored coordinator still thinks are out with a host that has forgotten them come back soon.
  '--disconnect-grace-ms', '1000'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dirs: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
let proc: CoordinatorProcess | undefined;
let hosts: HostClient[] = [];
let stopped = false;

afterAll(async () => {
  stopped = true;
  hosts.forEach((h) => h.disconnect());
  if (proc) await proc.kill9();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The data dir's SQLite file, read-only: as better-sqlite3 gives it, and through the store contract (the reliability checks). */
async function readDb<T>(dataDir: string, fn: (db: Database.Database, sql: SqlExecutor) => T | Promise<T>): Promise<T> {
  const db = new Database(join(dataDir, 'coordinator.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return await fn(db, new SqliteDatabase(db));
  } finally {
    db.close();
  }
}

async function until(what: string, check: () => boolean, failed: () => unknown, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    const f = failed();
    if (f) throw f;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('admin backup and restore', () => {
  it('backs up during a running batch; after kill -9, a deleted data dir and a restore, nothing acknowledged before the backup is lost and the batch completes', async () => {
    const dataDir = join(temp('vg-backup-'), 'data');
    const appDir = temp('vg-backup-apps-');
    const keptApart = temp('vg-backup-key-');
    const backupFile = join(temp('vg-backup-out-'), 'coordinator.vgbackup');

    proc = await spawnCoordinator(dataDir, ARGS);
    const url = proc.url;
    const coordinatorKey = ((await (await fetch(`${url}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string }).coordinatorKey;
    // The operator's copy of the key, kept apart from the backups.
    copyFileSync(join(dataDir, 'coordinator-key.json'), join(keptApart, 'coordinator-key.json'));

    const admin = await ApiClient.withToken(url, 'admin', ADMIN_PASSWORD);
    const project = await admin.post<{ id: number }>('/projects', { name: 'backup' });
    const app = await admin.post<{ id: number }>(`/projects/${project.body.id}/apps`, { name: 'affine' });
    const version = await admin.upload(`/apps/${app.body.id}/versions`, [{ name: 'main.js', content: APP_MAIN }]);
    expect(version.status, version.text).toBe(201);
    const submitted = await admin.post<Submitted>(`/apps/${app.body.id}/batches`, {
      name: 'backup',
      replication: { minQuorum: QUORUM, targetNresults: QUORUM },
      workunits: Array.from({ length: WORKUNITS }, (_, x) => ({ input: { x } })),
    });
    expect(submitted.status, submitted.text).toBe(201);
    const batchId = submitted.body.batchId;

    hosts = Array.from({ length: 4 }, (_, i) => new HostClient({ name: `host-${i}`, appDir }));
    let finished = false;
    const failures: unknown[] = [];
    const stop = () => finished || stopped || failures.length > 0;
    const supervise = async (h: HostClient) => {
      while (!stop()) {
        if (!h.connected) {
          try {
            await h.connect(url);
          } catch (e) {
            if (/changed/.test(String(e))) throw e;
            await sleep(100);
            continue;
          }
        }
        // Paced, so that the batch is still running while the backup is taken.
        await h.work({ stop, batch: 8, computeDelayMs: () => 4 });
      }
      h.disconnect();
    };
    const working = hosts.map((h) => supervise(h).catch((e: unknown) => void failures.push(e)));
    const failed = () => failures[0];
    const accepted = () => hosts.reduce((n, h) => n + h.acks.filter((a) => a.status === 'accepted').length, 0);

    // The backup, while hosts keep reporting: what was acknowledged before it started must survive.
    await until('a quarter of the results', () => accepted() >= (WORKUNITS * QUORUM) / 4, failed);
    const ackedBefore: ResultAckRecord[] = hosts.flatMap((h) => [...h.acks]);
    const before = accepted();
    const backup = await runCli(['admin', 'backup', '--data-dir', dataDir, '--out', backupFile]);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/the signing key is NOT in this backup/);
    expect(accepted(), 'results kept coming during the backup').toBeGreaterThan(before);
    expect(statSync(backupFile).mode & 0o077).toBe(0);

    // The disk dies: the coordinator with it, and the whole data dir.
    await until('more results after the backup', () => accepted() >= before + 50, failed);
    await proc.kill9();
    rmSync(dataDir, { recursive: true, force: true });

    // Without the key the restore refuses, saying where it must come from; with it, it restores and checks.
    const keyless = await runCli(['admin', 'restore', '--backup', backupFile, '--data-dir', dataDir]);
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toMatch(/does not hold the coordinator key.*--key FILE/);
    expect(existsSync(dataDir)).toBe(false);
    const restored = await runCli(['admin', 'restore', '--backup', backupFile, '--data-dir', dataDir, '--key', join(keptApart, 'coordinator-key.json')]);
    expect(restored.code, `${restored.stdout}${restored.stderr}`).toBe(0);
    expect(restored.stdout).toMatch(/all checks passed/);
    // A second restore over it is refused: restores go into an empty data dir only.
    const over = await runCli(['admin', 'restore', '--backup', backupFile, '--data-dir', dataDir, '--key', join(keptApart, 'coordinator-key.json')]);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/is not empty/);

    await readDb(dataDir, async (db, sql) => {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(await ackProblems(sql, ackedBefore)).toEqual([]);
      expect(await creditProblems(sql)).toEqual([]);
      expect(counterProblems(db)).toEqual([]);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('sqlar', 'vg_backup')").all()).toEqual([]);
    });

    // Started again on the restored data dir, same port: the volunteers come back and finish.
    proc = await spawnCoordinator(dataDir, [...ARGS, '--port', new URL(url).port]);
    const poller = (async () => {
      while (!stop()) {
        try {
          const s = await admin.get<BatchStatus>(`/batches/${batchId}`);
          if (s.status === 200 && s.body.workunits.done === WORKUNITS) finished = true;
        } catch {
          // not up yet
        }
        await sleep(200);
      }
    })();
    await until('the batch to complete after the restore', () => finished, failed);
    await Promise.all(working);
    await poller;
    expect(failures).toEqual([]);

    const ledger = await fetchAndVerifyLedger(url, coordinatorKey);
    expect(ledger.problem).toBeUndefined();
    expect(ledger.entries.length).toBeGreaterThanOrEqual(WORKUNITS * QUORUM);
    const results = await admin.get<string>(`/batches/${batchId}/results`);
    const lines = results.text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: unknown });
    expect(lines.filter((l) => l.status !== 'done' || JSON.stringify(l.output) !== JSON.stringify(expectedOutput({ x: l.seq })))).toEqual([]);

    expect(await proc.stop()).toBe(0);
    await readDb(dataDir, async (_db, sql) => {
      expect(await ackProblems(sql, ackedBefore)).toEqual([]);
      expect(await workunitProblems(sql)).toEqual([]);
      expect(await creditProblems(sql)).toEqual([]);
    });
    const verified = await runCli(['admin', 'verify', '--data-dir', dataDir]);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toMatch(/ok +credit ledger: \d+ entries, chain and signatures verified/);
    expect(verified.stdout).toMatch(/ok +files: [1-9]\d* stored files/);
  }, 240_000);
});
