// Throwaway identities against the real coordinator over real sockets, with its quota defaults:
// fresh keys grab what they can of a new batch and sit on it. They must hold no more than the
// new-host share of the batch, lose what they sit on well before any deadline, and the
// established volunteers must finish the batch regardless.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../coordinator/config.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { APP_MAIN, expectedOutput, workunitProblems } from './db-checks.js';
import { HostClient } from './host-client.js';

let coordinator: TestCoordinator | undefined;
let appDir: string | undefined;
let clients: HostClient[] = [];

afterEach(async () => {
  clients.forEach((c) => c.disconnect());
  clients = [];
  await coordinator?.dispose();
  coordinator = undefined;
  if (appDir) rmSync(appDir, { recursive: true, force: true });
  appDir = undefined;
});

const HOLD_MS = 3000;

describe('throwaway identities', () => {
  it('a burst of fresh keys holds a tenth of a batch at most, loses it when it sits on it, and the batch finishes', async () => {
    const defaults = ConfigSchema.parse({});
    // The quota defaults as shipped; only the hold timeout is shortened to fit a test.
    coordinator = await startTestCoordinator({
      newHostTasks: defaults.newHostTasks,
      newHostTasksPerDay: defaults.newHostTasksPerDay,
      newHostShare: defaults.newHostShare,
      holdTimeoutMs: HOLD_MS,
      trustThreshold: 3,
    });
    const c = coordinator;
    appDir = mkdtempSync(join(tmpdir(), 'vg-hoarding-apps-'));
    const projectId = await c.apps.createProject({ name: 'hoarding' });
    const app = await c.apps.createApp(projectId, { name: 'affine' });
    await c.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: Buffer.from(APP_MAIN) }] });
    const submit = async (name: string, n: number) =>
      (await c.submission.submitBatch({ appId: app.id, name, workunits: Array.from({ length: n }, (_, x) => ({ input: { x } })) })).batchId;
    const host = async (name: string) => {
      const { accountKey } = await c.registry.createAccount({ name });
      const h = new HostClient({ name, accountKey, appDir: appDir! });
      clients.push(h);
      return h;
    };
    // Read straight from the file: the hosts' stop checks are synchronous.
    const open = (batchId: number) => (c.store.db.prepare("SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ? AND status = 'active'").get(batchId) as { n: number }).n;
    const work = async (hosts: HostClient[], until: () => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      await Promise.all(hosts.map((h) => h.work({ stop: () => until() || Date.now() > deadline, batch: 4 })));
      expect(until(), 'the batch did not finish in time').toBe(true);
    };

    // Volunteers who have already done good work.
    const honest = [(await host('ada')), (await host('bea')), (await host('cy')), (await host('dot'))];
    await Promise.all(honest.map((h) => h.connect(c.url)));
    const warmUp = await submit('warm-up', 40);
    await work(honest, () => open(warmUp) === 0, 30_000);
    for (const h of honest) expect((await c.store.identities.hostById(h.hostId))!.nValid).toBeGreaterThanOrEqual(3);

    // The attack: twelve fresh keys grab all they can of a new batch, again and again (each alone
    // may hold 4: together 48, but new hosts together hold at most a tenth of the batch).
    const batch = await submit('target', 300);
    const sybils = await Promise.all(Array.from({ length: 12 }, (_, i) => host(`sybil-${i}`)));
    await Promise.all(sybils.map((h) => h.connect(c.url)));
    // What they hold at a moment, recounted from their replicas (not from the counter the quota
    // reads). Only requests add to it, so its largest value after each request is the most they
    // ever held at once. The total they ever saw is no bound: a grab that outlasts the hold timeout
    // (a loaded machine) has tasks taken back and handed out again.
    const sybilIds = sybils.map((s) => s.hostId).join(',');
    const heldNow = () => (c.store.db.prepare(`SELECT COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id
      WHERE w.batch_id = ? AND r.status = 'in_progress' AND r.host_id IN (${sybilIds})`).get(batch) as { n: number }).n;
    const grabAt = Date.now();
    let mostHeld = 0;
    for (let round = 0; round < 10; round++) {
      for (const s of sybils) {
        await s.requestTasks(64);
        mostHeld = Math.max(mostHeld, heldNow());
      }
    }
    const seen = sybils.reduce((n, s) => n + s.tasksSeen.size, 0);
    const replicas = await c.store.reports.replicaCounts(batch);
    console.log(`[hoarding] 12 fresh keys asked for 7,680 tasks of a 300-unit batch (600 replicas): they held at most ${mostHeld} at once (${seen} over ${Date.now() - grabAt} ms)`);
    expect(mostHeld).toBe(30);
    expect(c.store.db.prepare('SELECT SUM(r_new_host) AS n FROM batch_counts WHERE batch_id = ?').get(batch)).toEqual({ n: heldNow() });
    expect(replicas.unsent).toBeGreaterThanOrEqual(570);

    // They sit; the established volunteers work, and the batch finishes long before any deadline.
    await work(honest, () => open(batch) === 0, 60_000);
    const db = c.store.db;
    expect(await workunitProblems(c.store.sql)).toEqual([]);
    const wrong = (db.prepare(`SELECT w.input_json AS input, r.output_json AS output FROM workunits w JOIN replicas r ON r.id = w.canonical_replica_id
      WHERE w.batch_id = ?`).all(batch) as { input: string; output: string }[])
      .filter((row) => JSON.stringify(JSON.parse(row.output)) !== JSON.stringify(expectedOutput(JSON.parse(row.input) as { x: number })));
    expect(wrong).toEqual([]);
    // What they sat on was taken back (no reply), and their allowance shrank with it.
    const theirs = db.prepare(`SELECT r.outcome, COUNT(*) AS n FROM replicas r WHERE r.host_id IN (${sybils.map((s) => s.hostId).join(',')})
      GROUP BY r.outcome`).all() as { outcome: string | null; n: number }[];
    expect(theirs.filter((r) => r.outcome !== 'no_reply' && r.outcome !== 'aborted')).toEqual([]);
    for (const s of sybils.filter((x) => x.tasksSeen.size > 0)) expect((await c.store.identities.hostById(s.hostId))!.quotaLevel).toBeLessThan(0);
    console.log(`[hoarding] the batch finished ${Date.now() - grabAt} ms after the grab began; every result right; hoarded tasks taken back after ${HOLD_MS} ms`);
  }, 120_000);
});
