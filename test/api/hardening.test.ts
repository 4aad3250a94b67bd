// Regressions for the review of the API: a v1 database with data migrates fast and right,
// cancelling a big batch goes in chunks (and a cancellation cut short by a restart finishes),
// parallel logins cannot get around the throttle, and an open /admin socket follows role changes.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS } from '../../coordinator/store/migrations.js';
import { Outbox } from '../../coordinator/work/outbox.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { ApiClient, newApp, newResearcher, ndjsonStream, type Submitted } from '../helpers/api-client.js';

const dirs: string[] = [];
let coordinator: TestCoordinator | undefined;
afterEach(async () => {
  await coordinator?.dispose();
  coordinator = undefined;
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

describe('migration 2 on a database with work', () => {
  it('numbers work units per batch in id order, in one pass', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-migrate-'));
    dirs.push(dir);
    const db = new Database(join(dir, 'db.sqlite'));
    migrate(db, MIGRATIONS.slice(0, 1));
    db.exec(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0);
      INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', 0);
      INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'one', 0), (2, 1, 1, 'two', 0);`);
    const insert = db.prepare(`INSERT INTO workunits (batch_id, app_id, input_hash, min_quorum, target_nresults, max_error_results,
      max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at)
      VALUES (?, 1, 'h', 1, 1, 1, 1, 1, 1000, 1, 0, 's', 0)`);
    // Interleaved: the two batches' work units alternate ids.
    db.transaction(() => {
      for (let i = 0; i < 20_000; i++) insert.run(1 + (i % 2));
    })();
    const started = performance.now();
    expect(migrate(db, MIGRATIONS.slice(0, 2))).toEqual([2]);
    console.log(`migration 2 of 20,000 work units: ${Math.round(performance.now() - started)} ms`);
    for (const batch of [1, 2]) {
      const seqs = (db.prepare('SELECT seq FROM workunits WHERE batch_id = ? ORDER BY id').all(batch) as { seq: number }[]).map((r) => r.seq);
      expect(seqs).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    }
    const batches = db.prepare('SELECT id, staged, workunit_count, replicas_through FROM batches ORDER BY id').all();
    expect(batches).toEqual([
      { id: 1, staged: 0, workunit_count: 10_000, replicas_through: 19_999 },
      { id: 2, staged: 0, workunit_count: 10_000, replicas_through: 20_000 },
    ]);
    db.close();
  });
});

describe('cancelling a big batch', () => {
  it('cancels in chunks, and a restart finishes a cancellation cut short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-cancel-'));
    dirs.push(dir);
    coordinator = await startTestCoordinator({ dataDir: dir });
    const admin = await ApiClient.withToken(coordinator.url, 'admin', TEST_ADMIN_PASSWORD);
    const { app } = await newApp(admin, 'big');
    const submit = async (name: string) => {
      const r = await admin.request<Submitted>('POST', `/apps/${app.id}/batches`, {
        body: ndjsonStream(3000, (i) => String(i)),
        contentType: 'application/x-ndjson',
        query: { name },
        headers: { connection: 'close' },
      });
      expect(r.status).toBe(201);
      return r.body.batchId;
    };
    const one = await submit('one');
    const two = await submit('two');
    await coordinator.replicasReady();

    expect((await admin.post<{ cancelled: number }>(`/batches/${one}/cancel`, {})).body).toEqual({ cancelled: 3000 });
    expect((await coordinator.store.reports.workunitCounts(one))).toMatchObject({ active: 0, cancelled: 3000 });

    // As if the coordinator died after the first part of a cancellation.
    expect((await coordinator.submission.cancelBatchPart(two, 500, new Outbox()))).toEqual({ cancelled: 500, done: false });
    await coordinator.close();
    coordinator = await startTestCoordinator({ dataDir: dir });
    const c = coordinator;
    await expect.poll(async () => (await c.store.reports.workunitCounts(two)), { timeout: 10_000 }).toMatchObject({ active: 0, cancelled: 3000 });
    const unsent = c.store.db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE status = 'unsent'").get() as { n: number };
    expect(unsent.n).toBe(0);
  });
});

describe('login throttle', () => {
  it('counts logins still being checked, so parallel guesses cannot get around it', async () => {
    coordinator = await startTestCoordinator();
    const url = `${coordinator.url}/api/v1/session`;
    const attempts = await Promise.all(
      Array.from({ length: 40 }, () =>
        fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'admin', password: 'wrong-password-123' }) }).then((r) => r.status),
      ),
    );
    expect(attempts.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(attempts.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30);
    expect(attempts.every((s) => s === 401 || s === 429)).toBe(true);
  });
});

describe('/admin sockets follow role changes', () => {
  it('a demoted admin’s open socket can no longer watch another researcher’s batch', async () => {
    coordinator = await startTestCoordinator();
    const admin = await ApiClient.withToken(coordinator.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const bob = await newResearcher(admin, 'bob', 'admin');
    const { app } = await newApp(ada, 'ada-project');
    const batch = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'b', workunits: [{ input: 1 }] });
    const socket = io(`${coordinator.url}/admin`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: bob.token! } });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const watch = () => socket.timeout(5000).emitWithAck('batch.watch', { batchId: batch.body.batchId }) as Promise<{ ok: boolean; error?: { code: string } }>;
      expect((await watch()).ok).toBe(true);
      expect((await admin.patch(`/researchers/${bob.account!.id}`, { role: 'researcher' })).status).toBe(200);
      expect(await watch()).toMatchObject({ ok: false, error: { code: 'not_found' } });
    } finally {
      socket.disconnect();
    }
  });
});
