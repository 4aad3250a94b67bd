// The data dir holds password hashes, session and token hashes, every input and result and the
// coordinator's signing key: only the coordinator's own user may read it. Real coordinator, real
// file modes (stat), whatever the umask: a new data dir is created 0700 with its files 0600, and
// an existing one left readable by an older version is tightened at start, with a log of what.
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { ApiClient, newApp } from '../helpers/api-client.js';

const parents: string[] = [];
let coordinator: TestCoordinator | undefined;
afterEach(async () => {
  await coordinator?.close();
  coordinator = undefined;
});
afterAll(() => parents.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A data dir path that does not exist yet (the coordinator creates it). */
function freshDataDir(): string {
  const parent = mkdtempSync(join(tmpdir(), 'vg-modes-'));
  parents.push(parent);
  return join(parent, 'data');
}

/** Every path under dir (dir included), relative, with its permission bits. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = { '.': (statSync(dir).mode & 0o777).toString(8) };
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    out[relative(dir, path)] = (statSync(path).mode & 0o777).toString(8);
  }
  return out;
}

/** Starts a coordinator on dataDir and stores something in every kind of file it has. */
async function startAndUse(dataDir: string, log?: Parameters<typeof startTestCoordinator>[1]): Promise<TestCoordinator> {
  coordinator = await startTestCoordinator({ dataDir }, log);
  const admin = await ApiClient.withToken(coordinator.url, 'admin', TEST_ADMIN_PASSWORD);
  await newApp(admin, `project-${Date.now()}`);
  return coordinator;
}

describe('the data dir', () => {
  it('is created 0700, and the database, its WAL and shared memory, the key and every stored file 0600', async () => {
    const dataDir = freshDataDir();
    await startAndUse(dataDir);
    const m = modes(dataDir);
    // Everything the coordinator keeps, while it runs (the WAL and -shm exist only then).
    for (const name of ['coordinator.sqlite', 'coordinator.sqlite-wal', 'coordinator.sqlite-shm', 'coordinator-key.json', 'files']) expect(Object.keys(m)).toContain(name);
    const blobs = Object.keys(m).filter((p) => /^files\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(p));
    expect(blobs.length).toBeGreaterThan(0);
    for (const [path, mode] of Object.entries(m)) {
      const isDir = statSync(join(dataDir, path)).isDirectory();
      expect(`${path} ${mode}`).toBe(`${path} ${isDir ? '700' : '600'}`);
    }
  });

  it('left readable by an older version, is tightened at start, and the log says what was', async () => {
    const dataDir = freshDataDir();
    await startAndUse(dataDir);
    await coordinator!.close();
    coordinator = undefined;
    // As the coordinator used to leave it (0755 directories, 0644 files), plus an operator's backup.
    writeFileSync(join(dataDir, 'coordinator.sqlite.bak'), 'a copy', { mode: 0o644 });
    for (const path of Object.keys(modes(dataDir))) {
      const full = join(dataDir, path);
      chmodSync(full, statSync(full).isDirectory() ? 0o755 : 0o644);
    }
    const lines: string[] = [];
    await startAndUse(dataDir, createLogger('info', (l) => lines.push(l)));
    for (const [path, mode] of Object.entries(modes(dataDir))) {
      const isDir = statSync(join(dataDir, path)).isDirectory();
      expect(`${path} ${mode}`).toBe(`${path} ${isDir ? '700' : '600'}`);
    }
    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; tightened?: number; paths?: string[] }).find((l) => l.msg.startsWith('tightened the data dir'));
    expect(logged).toMatchObject({ level: 'warn', msg: 'tightened the data dir: other users could read it' });
    expect(logged!.paths).toEqual(expect.arrayContaining(['. 755→700', 'coordinator.sqlite 644→600', 'coordinator.sqlite.bak 644→600', 'coordinator-key.json 644→600', 'files 755→700']));
    expect(logged!.paths!.some((p) => /^files\/[0-9a-f]{2}\/[0-9a-f]{64} 644→600$/.test(p))).toBe(true);
    expect(logged!.tightened).toBe(logged!.paths!.length);

    // Once tight, a start has nothing to say.
    await coordinator!.close();
    lines.length = 0;
    coordinator = await startTestCoordinator({ dataDir }, createLogger('info', (l) => lines.push(l)));
    expect(lines.filter((l) => l.includes('tightened the data dir'))).toEqual([]);
  });
});
