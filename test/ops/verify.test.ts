// `admin verify` on a real data dir: a coordinator's, after a batch ran to the end, passes; the
// same dir damaged in the ways a disk or a hand can damage it fails, naming each damage.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { toHex } from '../../protocol/bytes.js';
import { verifyDataDir } from '../../coordinator/ops/verify.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { runCli } from '../helpers/cli-process.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ed = nodeEd25519();
let c: TestCoordinator;

beforeAll(async () => {
  c = await startTestCoordinator();
  const appId = await addPrimesApp(c);
  const batchId = await submitInputs(c, appId, Array.from({ length: 12 }, (_, i) => ({ from: i * 100, to: i * 100 + 100 })));
  await c.replicasReady();
  const hosts = [await TestVolunteer.connect(c.url), await TestVolunteer.connect(c.url)];
  const done = async () => (await c.store.reports.workunitCounts(batchId)).done === 12;
  // One more host on protocol 3, whose reports keep their one signature and list.
  const listed = await TestVolunteer.connect(c.url, { protocol: 3 });
  hosts.push(listed);
  for (let round = 0; round < 2; round++) {
    const { tasks } = await listed.requestListedTasks(3);
    const results = [];
    for (const t of tasks) results.push(await listed.compute(t));
    expect((await listed.reportListed(results)).map((a) => a.status)).toEqual(results.map(() => 'accepted'));
  }
  await Promise.all(hosts.slice(0, 2).map((h) => h.work(done)));
  await waitFor('the batch to finish', done);
  hosts.forEach((h) => h.close());
  await c.close(); // the data dir stays: verify reads it as it lies on disk
}, 60_000);

afterAll(() => rmSync(c.dataDir, { recursive: true, force: true }));

function tamper(sql: string): void {
  const db = new Database(join(c.dataDir, 'coordinator.sqlite'));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

describe('admin verify', () => {
  it('passes a whole data dir and fails a damaged one, naming each damage', async () => {
    const good = await runCli(['admin', 'verify', '--data-dir', c.dataDir]);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(/ok +credit ledger: 24 entries/);
    expect(good.stdout).toMatch(/ok +files: [1-9]\d* stored files/);
    expect(good.stdout).toMatch(/ok +result lists: 2 lists of 6 results checked/);
    expect(good.stdout).toMatch(/all checks passed/);
    // The operator's guide shows the same database line (its schema version included).
    const guide = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
    const documented = /^ok +database integrity: .*$/m.exec(guide)?.[0];
    expect(good.stdout.split('\n')).toContain(documented);

    // A stored file's bytes changed (same size), a counter out of step, a ledger amount edited.
    const db = new Database(join(c.dataDir, 'coordinator.sqlite'), { readonly: true });
    const file = db.prepare('SELECT sha256, size FROM files LIMIT 1').get() as { sha256: string; size: number };
    db.close();
    const blob = join(c.dataDir, 'files', file.sha256.slice(0, 2), file.sha256);
    writeFileSync(blob, Buffer.alloc(file.size, 0x20));
    tamper('UPDATE batch_counts SET done = done + 1');
    tamper(`DROP TRIGGER credit_ledger_append_only_update; UPDATE credit_ledger SET amount = amount + 1 WHERE id = 5`);
    // A kept result changed, and a list's signature no longer its host's.
    tamper("UPDATE replicas SET result_hash = 'f' || substr(result_hash, 2) WHERE id = (SELECT MIN(id) FROM replicas WHERE result_list_id IS NOT NULL)");
    tamper("UPDATE result_lists SET signature = '00' || substr(signature, 3) WHERE id = (SELECT MAX(id) FROM result_lists)");

    const bad = await runCli(['admin', 'verify', '--data-dir', c.dataDir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAIL +credit ledger.*\n +entry 5: hash does not match its content/);
    expect(bad.stdout).toMatch(/FAIL +counters.*\n +batch 1: done kept 13, counted 12/);
    expect(bad.stdout).toContain(`file ${file.sha256} hashes to`);
    expect(bad.stdout).toMatch(/FAIL +result lists.*\n +result list 2: its signature is not its host's\n +replica \d+: its result is not one of those result list 1 signed/);
    expect(bad.stdout).toMatch(/4 of 6 checks failed/);

    // Another key than the one the ledger was signed with.
    const keyFile = join(c.dataDir, 'coordinator-key.json');
    const seed = ed.randomSeed();
    writeFileSync(keyFile, JSON.stringify({ publicKey: toHex(ed.publicKeyFromSeed(seed)), seed: toHex(seed), createdAt: new Date().toISOString() }));
    const report = await verifyDataDir(c.dataDir, ed);
    expect(report.ok).toBe(false);
    expect(report.checks.find((x) => x.name === 'credit ledger')?.problems).toEqual(['entry 1: signature is not the coordinator’s']);

    // No database at all.
    rmSync(join(c.dataDir, 'coordinator.sqlite'));
    const none = await verifyDataDir(c.dataDir, ed);
    expect(none.ok).toBe(false);
    expect(none.checks.at(-1)?.problems[0]).toMatch(/no coordinator database at/);
    expect(readFileSync(keyFile, 'utf8')).toContain('publicKey');
  }, 60_000);
});
