// kill -9 the coordinator in the middle of a batch: nothing acknowledged is lost, nothing is
// finished or credited twice, and the batch completes after a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { verifyLedgerChain } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import { resultBody } from '../../protocol/signing.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { waitFor } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const WORKUNITS = 40;
let dataDir: string;
let proc: CoordinatorProcess | undefined;
let volunteers: TestVolunteer[] = [];

afterEach(async () => {
  volunteers.forEach((v) => v.close());
  volunteers = [];
  if (proc && proc.child.exitCode === null) await proc.kill9();
  rmSync(dataDir, { recursive: true, force: true });
});

function readDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(dataDir, 'coordinator.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const total = () => readDb((db) => (db.prepare('SELECT COUNT(*) AS n FROM workunits').get() as { n: number }).n);
const doneCount = () => readDb((db) => (db.prepare("SELECT COUNT(*) AS n FROM workunits WHERE status = 'done'").get() as { n: number }).n);

describe('coordinator crash', () => {
  it('a kill -9 mid-batch loses no acknowledged result and grants no credit twice', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'vg-restart-'));
    // The demo project: real batches of primes (JavaScript) and Mandelbrot (WebAssembly) at quorum 2.
    proc = await spawnCoordinator(dataDir, ['--demo-workunits', String(WORKUNITS), '--transition-interval-ms', '200']);
    const firstKey = ((await (await fetch(`${proc.url}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string }).coordinatorKey;

    volunteers = await Promise.all([0, 1, 2].map((i) => TestVolunteer.connect(proc!.url, { name: `v${i}` })));
    const acked = () => volunteers.reduce((n, v) => n + v.accepted.length, 0);
    const working = volunteers.map((v) => v.work(() => false, 2));
    const workunits = total();
    await waitFor('a third of the results', () => acked() >= workunits * 2 / 3, 60_000);
    await proc.kill9();
    await Promise.all(working);
    const ackedBeforeCrash = volunteers.flatMap((v) => v.accepted);
    expect(ackedBeforeCrash.length).toBeGreaterThan(0);
    expect(doneCount()).toBeLessThan(workunits);

    // Every acknowledged result survived the crash, exactly as reported.
    const stored = readDb((db) => new Map((db.prepare('SELECT task_id AS id, result_hash FROM replicas WHERE result_hash IS NOT NULL').all() as { id: number; result_hash: string }[]).map((r) => [r.id, r.result_hash])));
    for (const r of ackedBeforeCrash) expect(stored.get(r.taskId)).toBe(jsonHash(resultBody(r)));

    // Restart on the same data dir; the same hosts come back with their unacknowledged results.
    proc = await spawnCoordinator(dataDir, ['--demo-workunits', String(WORKUNITS), '--transition-interval-ms', '200']);
    const before = volunteers;
    volunteers = await Promise.all(before.map((v) => TestVolunteer.connect(proc!.url, { seed: v.seed, coordinatorKey: firstKey })));
    volunteers.forEach((v, i) => (v.pending = before[i]!.pending));
    before.forEach((v) => v.close());
    await Promise.all(volunteers.map((v) => v.work(() => doneCount() === workunits, 2)));
    await proc.stop();

    readDb((db) => {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare('SELECT status, COUNT(*) AS n FROM workunits GROUP BY status').all()).toEqual([{ status: 'done', n: workunits }]);
      // Still there after the restart and the rest of the batch.
      for (const r of ackedBeforeCrash) {
        expect(db.prepare('SELECT result_hash FROM replicas WHERE task_id = ?').get(r.taskId)).toEqual({ result_hash: jsonHash(resultBody(r)) });
      }
      // Credit: one ledger entry per valid replica, and the totals are the ledger's sums.
      // Two per work unit, and a passed check (a done work unit sent again to test a host) earns one too.
      expect(db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE validate_state = 'valid' AND kind = 'regular'").get()).toEqual({ n: workunits * 2 });
      const valid = (db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE validate_state = 'valid'").get() as { n: number }).n;
      expect(db.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT replica_id) AS d FROM credit_ledger').get()).toEqual({ n: valid, d: valid });
      const mismatched = db.prepare(`SELECT h.id FROM hosts h LEFT JOIN (SELECT host_id, SUM(micro) AS s FROM credit_ledger GROUP BY host_id) l
        ON l.host_id = h.id WHERE h.total_credit_micro <> COALESCE(l.s, 0)`).all();
      expect(mismatched).toEqual([]);
      const userMismatch = db.prepare(`SELECT u.id FROM users u LEFT JOIN (SELECT user_id, SUM(micro) AS s FROM credit_ledger GROUP BY user_id) l
        ON l.user_id = u.id WHERE u.total_credit_micro <> COALESCE(l.s, 0)`).all();
      expect(userMismatch).toEqual([]);
      const entries = db.prepare(`SELECT id AS entryId, COALESCE(task_id, replica_id) AS taskId, workunit_id AS workunitId, host_key AS hostKey, amount,
        granted_at AS grantedAt, prev_hash AS prevHash, entry_hash AS entryHash, signature FROM credit_ledger ORDER BY id`).all() as CreditReceipt[];
      expect(verifyLedgerChain(tweetnaclEd25519(), firstKey, entries)).toBeUndefined();
    });
  }, 120_000);
});
