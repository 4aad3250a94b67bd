// `admin backup` and `admin restore` refusing what they must, and a backup that carries its key:
// beside a coordinator that keeps running (in this process), then restored without --key.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { toHex } from '../../protocol/bytes.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { runCli } from '../helpers/cli-process.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let c: TestCoordinator;
let out: string;

beforeAll(async () => {
  c = await startTestCoordinator();
  out = mkdtempSync(join(tmpdir(), 'vg-backup-cli-'));
  const appId = await addPrimesApp(c);
  const batchId = await submitInputs(c, appId, Array.from({ length: 6 }, (_, i) => ({ from: i * 10, to: i * 10 + 10 })), { minQuorum: 1, targetNresults: 1 });
  await c.replicasReady();
  const host = await TestVolunteer.connect(c.url);
  const done = async () => (await c.store.reports.workunitCounts(batchId)).done === 6;
  await host.work(done);
  await waitFor('the batch to finish', done);
  host.close();
}, 60_000);

afterAll(async () => {
  await c.dispose();
  rmSync(out, { recursive: true, force: true });
});

describe('admin backup and restore', () => {
  it('with --include-key, restores without --key; refuses a wrong key, an existing output, a data dir in use, a file that is no backup', async () => {
    const file = join(out, 'with-key.vgbackup');
    const backup = await runCli(['admin', 'backup', '--data-dir', c.dataDir, '--out', file, '--include-key']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/the signing key is IN this backup/);
    // The files are in an SQLite Archive table, as `sqlite3 -Atv` lists them; so is the key.
    const archive = new Database(file, { readonly: true });
    const names = archive.prepare('SELECT name FROM sqlar ORDER BY name').pluck().all() as string[];
    archive.close();
    expect(names).toContain('coordinator-key.json');
    expect(names.filter((n) => /^files\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(n)).length).toBeGreaterThan(0);

    const again = await runCli(['admin', 'backup', '--data-dir', c.dataDir, '--out', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);

    const restored = join(out, 'restored');
    const ok = await runCli(['admin', 'restore', '--backup', file, '--data-dir', restored]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/key from the backup/);
    expect(ok.stdout).toMatch(/all checks passed/);
    expect(readFileSync(join(restored, 'coordinator-key.json'), 'utf8')).toBe(readFileSync(join(c.dataDir, 'coordinator-key.json'), 'utf8'));

    // Into the live coordinator's own data dir: refused, nothing touched.
    const busy = await runCli(['admin', 'restore', '--backup', file, '--data-dir', c.dataDir]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/is not empty/);

    // Another key than the one the ledger was signed with.
    const ed = nodeEd25519();
    const seed = ed.randomSeed();
    const otherKey = join(out, 'other-key.json');
    writeFileSync(otherKey, JSON.stringify({ publicKey: toHex(ed.publicKeyFromSeed(seed)), seed: toHex(seed), createdAt: new Date().toISOString() }));
    const wrong = await runCli(['admin', 'restore', '--backup', file, '--data-dir', join(out, 'wrong'), '--key', otherKey]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/but the backup's ledger was signed with/);
    expect(existsSync(join(out, 'wrong'))).toBe(false);

    // The coordinator's own database is no backup.
    const notBackup = await runCli(['admin', 'restore', '--backup', join(c.dataDir, 'coordinator.sqlite'), '--data-dir', join(out, 'nb')]);
    expect(notBackup.code).toBe(1);
    expect(notBackup.stderr).toMatch(/is not a volunteer-grid backup/);
  }, 60_000);
});
