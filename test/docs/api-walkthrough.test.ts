// docs/api.md promises that its curl walk-through works as written: run that very block
// against a real coordinator, with real curl and jq.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';

const ROOT = resolve(import.meta.dirname, '../..');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tools = has('curl') && has('jq') && has('bash');
if (!tools) {
  const msg = 'docs walk-through: curl, jq or bash is missing (apt-get install -y curl jq)';
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(`SKIPPED ${msg}`);
}

/** The first bash block after the walk-through's heading. */
function walkthrough(): string {
  const doc = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## A first session with curl'));
  const m = /```bash\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('docs/api.md has no bash block in its walk-through');
  return m[1]!;
}

describe.skipIf(!tools)('docs/api.md walk-through', () => {
  let coordinator: TestCoordinator;
  let cwd: string;

  beforeAll(async () => {
    coordinator = await startTestCoordinator();
    cwd = mkdtempSync(join(tmpdir(), 'vg-walkthrough-'));
    symlinkSync(join(ROOT, 'examples'), join(cwd, 'examples'));
  });
  afterAll(async () => {
    await coordinator?.dispose();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('runs as written and creates the project, app version and batch it describes', async () => {
    // Asynchronously: the coordinator answers from this very process.
    const { stdout: out } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', walkthrough()], {
      cwd,
      env: { ...process.env, VG: coordinator.url, ADMIN_PASSWORD: TEST_ADMIN_PASSWORD },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out).toContain('"version": 1');
    expect(out).toMatch(/"status": "active"/);
    const project = await coordinator.store.catalog.projectByName('prime-census');
    expect(project?.description).toBe('How many primes in each range?');
    const batch = (await coordinator.store.reports.batches({ projectId: project!.id }, 10))[0]!;
    expect(batch).toMatchObject({ name: 'first-census', clientKey: 'first-census', workunitCount: 3 });
    // Nothing is finished yet, so the download is empty but present.
    expect(readFileSync(join(cwd, 'results.ndjson'), 'utf8')).toBe('');
  });
});
