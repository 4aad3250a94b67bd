// Two coordinator instances on one PostgreSQL database and one Redis (cluster mode): whichever
// instance a volunteer or a researcher is connected to, pushes reach them, and who is connected
// is known to both. Each scenario fails on instances that only know their own sockets.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { ApiClient, newApp, newResearcher, type App, type BatchStatus, type Submitted } from '../helpers/api-client.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { REDIS_URL, skipRedisTests } from '../helpers/redis.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const skip = (await skipPostgresTests('two instances')) || (await skipRedisTests('two instances'));
const ed = nodeEd25519();
const GRACE_MS = 400;

describe.skipIf(skip)('two instances on one database and one Redis', () => {
  let database: TestDatabase;
  let dataDir: string;
  let a: TestCoordinator;
  let b: TestCoordinator;
  let ada: ApiClient;
  let adaOnB: ApiClient;
  let app: App;
  const volunteers: TestVolunteer[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // One data dir for both: the coordinator key and the stored files every instance shares.
    dataDir = mkdtempSync(join(tmpdir(), 'vg-two-'));
    // No known-answer checks: a task request must get the scenario's own tasks, not a check of an earlier one's result.
    const cluster = { dataDir, databaseUrl: database.url, redisUrl: REDIS_URL, redisPrefix: `vg-test-${randomBytes(4).toString('hex')}`, disconnectGraceMs: GRACE_MS, idleRetryMs: 600_000, checkRate: 0 };
    a = await startTestCoordinator(cluster);
    b = await startTestCoordinator(cluster);
    const admin = await ApiClient.withToken(a.url, 'admin', TEST_ADMIN_PASSWORD);
    ada = await newResearcher(admin, 'ada');
    adaOnB = ApiClient.bearer(b.url, ada.token!);
    ({ app } = await newApp(ada, 'two'));
  });
  afterEach(() => {
    volunteers.splice(0).forEach((v) => v.close());
    sockets.splice(0).forEach((s) => s.disconnect());
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function volunteer(on: TestCoordinator, seed?: string): Promise<TestVolunteer> {
    const v = await TestVolunteer.connect(on.url, seed ? { seed } : {});
    volunteers.push(v);
    return v;
  }
  async function submit(via: ApiClient, n: number, name: string): Promise<number> {
    const r = await via.post<Submitted>(`/apps/${app.id}/batches`, { name, replication: { minQuorum: 1, targetNresults: 1 }, workunits: Array.from({ length: n }, (_, i) => ({ input: i })) });
    expect(r.status).toBe(201);
    await a.replicasReady();
    await b.replicasReady();
    return r.body.batchId;
  }
  const report = (v: TestVolunteer, tasks: Task[]) => v.report(tasks.map((t) => buildResult(ed, v.seed, t, { output: { ok: t.input } })));

  it('pushes the live status of a batch to a researcher on one instance as volunteers on the other compute it', async () => {
    const batchId = await submit(ada, 3, 'watched');
    const s = io(`${b.url}/admin`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: ada.token } });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => (s.once('connect', resolve), s.once('connect_error', reject)));
    const pushes: BatchStatus[] = [];
    s.on('batch.status', (p: BatchStatus) => pushes.push(p));
    expect(((await s.timeout(5000).emitWithAck('batch.watch', { batchId })) as { ok: boolean }).ok).toBe(true);
    const v = await volunteer(a);
    const tasks = await v.requestTasks(3);
    expect(tasks).toHaveLength(3);
    await report(v, tasks);
    await waitFor('a push on b with the batch done on a', () => pushes.some((p) => p.id === batchId && p.status === 'done'), 10_000);
  });

  it('tells an idle volunteer on one instance at once when work is submitted through the other', async () => {
    const v = await volunteer(a);
    expect(await v.requestTasks(1)).toEqual([]); // idle: it joins the room of those told when work appears
    let told = false;
    v.socket.on('tasks.available', () => (told = true));
    await submit(adaOnB, 1, 'new work');
    await waitFor('tasks.available on a for work submitted on b', () => told, 10_000);
    const tasks = await v.requestTasks(1);
    expect(tasks).toHaveLength(1);
    // Finished, so that no later scenario is handed this batch's work.
    expect((await report(v, tasks)).map((r) => r.status)).toEqual(['accepted']);
  });

  it('tells a volunteer on one instance to abort tasks of a batch cancelled on the other', async () => {
    const batchId = await submit(ada, 2, 'cancelled');
    const v = await volunteer(a);
    const tasks = await v.requestTasks(2);
    expect(tasks).toHaveLength(2);
    expect((await adaOnB.post(`/batches/${batchId}/cancel`, {})).status).toBe(200);
    await waitFor('tasks.abort on a', () => v.aborts.flatMap((n) => n.taskIds).length === 2, 10_000);
  });

  it('keeps the tasks of a volunteer that moved to the other instance within the grace period, and lists it online on both', async () => {
    const batchId = await submit(ada, 2, 'moved');
    const first = await volunteer(a);
    const tasks = await first.requestTasks(2);
    expect(tasks).toHaveLength(2);
    const seed = first.seed;
    const again = await volunteer(b, seed);
    first.close(); // gone from a; on b already
    await new Promise((r) => setTimeout(r, GRACE_MS * 3));
    // a's grace period ended: it asked every instance, found the host on b, and gave nothing up.
    const held = await a.store.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ? AND r.status = 'in_progress'", [batchId]);
    expect(held!.n).toBe(2);
    for (const via of [ada, adaOnB]) {
      const hosts = (await via.get<{ online: number; hosts: { id: number; online: boolean }[] }>('/hosts', { online: true })).body;
      expect(hosts.hosts.map((h) => h.online)).toContain(true);
    }
    await report(again, tasks);
    expect((await adaOnB.get<BatchStatus>(`/batches/${batchId}`)).body.status).toBe('done');
  });
});

describe.skipIf(skip)('an instance whose Redis does not answer', () => {
  it('does not start, and says why, within seconds', async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'vg-noredis-'));
    try {
      const started = Date.now();
      await expect(startTestCoordinator({ dataDir, databaseUrl: database.url, redisUrl: 'redis://127.0.0.1:1' })).rejects.toThrow(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
