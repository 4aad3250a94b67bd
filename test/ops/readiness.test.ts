// Liveness and readiness apart: /healthz says the process answers; /readyz that it should get
// traffic (the database answers with the schema this code knows, key loaded, not shutting down),
// and on SIGTERM it answers 503 for the drain period before the coordinator closes its connections.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { dropTestDatabaseOf } from '../helpers/postgres.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { MIGRATIONS } from '../../coordinator/store/migrations.js';

const NEWEST = Math.max(...MIGRATIONS.map((m) => m.version));

describe('/readyz', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTestCoordinator();
  });
  afterAll(() => c.dispose());

  it('is ready once the database answers with every migration applied and the key is loaded, apart from /healthz', async () => {
    const live = await fetch(`${c.url}/healthz`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${c.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({
      ready: true,
      checks: { database: true, migrations: true, key: true, accepting: true },
      schemaVersion: { database: NEWEST, coordinator: NEWEST },
    });
  });

  it('is not ready when the database lacks a migration this code knows: the versions are read, not assumed', async () => {
    const newest = MIGRATIONS.find((m) => m.version === NEWEST)!;
    await c.store.sql.run('DELETE FROM schema_migrations WHERE version = ?', [NEWEST]);
    try {
      const ready = await fetch(`${c.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ ready: false, checks: { database: true, migrations: false }, schemaVersion: { database: NEWEST - 1, coordinator: NEWEST } });
    } finally {
      await c.store.sql.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [NEWEST, newest.name, Date.now()]);
    }
    expect((await fetch(`${c.url}/readyz`)).status).toBe(200);
  });
});

describe('graceful shutdown', () => {
  let dataDir: string;
  let proc: CoordinatorProcess | undefined;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'vg-readiness-'));
  });
  afterAll(async () => {
    if (proc?.child.exitCode === null) await proc.kill9();
    rmSync(dataDir, { recursive: true, force: true });
    await dropTestDatabaseOf(dataDir);
  });

  it('on SIGTERM, /readyz answers 503 while everything else is still served for the drain, then the coordinator exits 0', async () => {
    const DRAIN_MS = 2000;
    proc = await spawnCoordinator(dataDir, ['--demo-workunits', '0', '--shutdown-drain-ms', String(DRAIN_MS)]);
    const url = proc.url;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    let exitedAt: number | undefined;
    void proc.exited.then(() => (exitedAt = Date.now()));
    const signalled = Date.now();
    proc.child.kill('SIGTERM');

    let notReady: Response | undefined;
    await waitFor('/readyz to answer 503', async () => {
      notReady = await fetch(`${url}/readyz`);
      return notReady.status === 503;
    }, 5_000);
    expect(await notReady!.json()).toMatchObject({ ready: false, checks: { database: true, migrations: true, key: true, accepting: false } });
    // Still live, and still serving: a volunteer or researcher mid-request is not cut off.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/.well-known/volunteer-grid.json`)).status).toBe(200);
    expect(exitedAt).toBeUndefined();

    expect(await proc.exited).toBe(0);
    expect(exitedAt! - signalled).toBeGreaterThanOrEqual(DRAIN_MS - 100);
    expect(proc.output.join('')).toContain('draining before closing connections');
    await expect(fetch(`${url}/readyz`)).rejects.toThrow();
  }, 40_000);
});
