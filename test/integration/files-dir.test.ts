// --files-dir: the stored files live in a directory of their own, away from the data dir, and a
// single coordinator works as with the default: an app version uploaded through the API is
// served to a volunteer from there, a large input too, the volunteer's uploaded output is kept
// there, and the researcher downloads the results. The operator's tools (backup, verify, restore)
// are told where the files are with the same flag.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { sha256Hex } from '../../protocol/hash.js';
import { ApiClient, newApp, newResearcher, type Submitted } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli-process.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, TEST_BACKEND, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let c: TestCoordinator;
let filesDir: string;
const dirs: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  filesDir = temp('vg-files-');
  c = await startTestCoordinator({ filesDir });
});
afterAll(async () => {
  await c?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The blobs stored under a files directory, by name (their hash). */
const blobsIn = (root: string): string[] =>
  readdirSync(root).filter((d) => /^[0-9a-f]{2}$/.test(d)).flatMap((d) => readdirSync(join(root, d)));

describe('a coordinator with --files-dir', () => {
  it('keeps app files, large inputs and uploaded outputs there, serves them, and the researcher gets the results', async () => {
    const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const { app, version } = await newApp(ada, 'elsewhere'); // echoes its input
    // An input too large to travel inline: stored as a file, and so is its echo, uploaded.
    const input = { pad: 'i'.repeat(300_000) };
    const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'big', replication: { minQuorum: 1, targetNresults: 1 }, workunits: [{ input }] });
    expect(r.status).toBe(201);
    await c.replicasReady();

    const v = await TestVolunteer.connect(c.url);
    try {
      const done = async () => (await c.store.reports.workunitCounts(r.body.batchId)).done === 1;
      await v.work(done);
      await waitFor('the work unit to be done', done);
    } finally {
      v.close();
    }

    const output = { echo: input };
    const exported = await ada.get<string>(`/batches/${r.body.batchId}/results`);
    expect(exported.status).toBe(200);
    expect(JSON.parse(exported.text.trim())).toMatchObject({ status: 'done', output });

    const appFile = version.files[0]!.sha256;
    const stored = blobsIn(filesDir);
    expect(stored).toEqual(expect.arrayContaining([appFile, sha256Hex(utf8(canonicalJson(input))), sha256Hex(utf8(canonicalJson(output)))]));
    expect(existsSync(join(c.dataDir, 'files'))).toBe(false);
    expect(readdirSync(join(filesDir, 'tmp'))).toEqual([]);
  });
});

// The operator's tools read SQLite's file (on PostgreSQL the database has its own).
describe.skipIf(TEST_BACKEND !== 'sqlite')('admin verify, backup and restore with --files-dir', () => {
  it('find the files where they are told, and say where they looked', async () => {
    const verified = await runCli(['admin', 'verify', '--data-dir', c.dataDir, '--files-dir', filesDir]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`files dir ${filesDir}`);
    // Without it they are looked for in the data dir, and are not there: it says so.
    const blind = await runCli(['admin', 'verify', '--data-dir', c.dataDir]);
    expect(blind.code).toBe(1);
    expect(blind.stdout).toMatch(new RegExp(`file [0-9a-f]{64} is missing \\(${c.dataDir}/files/`));

    const out = join(temp('vg-files-backup-'), 'grid.vgbackup');
    const backup = await runCli(['admin', 'backup', '--data-dir', c.dataDir, '--files-dir', filesDir, '--out', out, '--include-key']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(new RegExp(`[1-9][0-9]* files \\([0-9.]+ MiB\\) from ${filesDir}`));
    // Restored into a new data dir, the files into a files dir that already holds some of them.
    const restoredFiles = temp('vg-files-restored-');
    const kept = blobsIn(filesDir)[0]!;
    cpSync(join(filesDir, kept.slice(0, 2)), join(restoredFiles, kept.slice(0, 2)), { recursive: true });
    const restored = join(temp('vg-files-data-'), 'data');
    const restore = await runCli(['admin', 'restore', '--backup', out, '--data-dir', restored, '--files-dir', restoredFiles]);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`into ${restoredFiles}`);
    expect(restore.stdout).toMatch(/all checks passed/);
    expect(blobsIn(restoredFiles).sort()).toEqual(blobsIn(filesDir).sort());
    expect(existsSync(join(restored, 'files'))).toBe(false);
  }, 60_000);
});
