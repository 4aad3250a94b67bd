// Live batch status over Socket.IO (namespace /admin): who may connect, batch.watch and its
// ack, batch.status pushes when volunteers report results (coalesced), batch.unwatch, and
// someone else's batch.
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { ApiClient, newApp, newResearcher, PASSWORD, type App, type BatchStatus, type Submitted } from '../helpers/api-client.js';
import { MAX_PUSH_INTERVAL_MS } from '../../coordinator/api/admin-namespace.js';

type Ack = { ok: true; status: BatchStatus } | { ok: false; error: { code: string; message: string } };

const ed = nodeEd25519();
let c: TestCoordinator;
let admin: ApiClient;
let ada: ApiClient;
let bob: ApiClient;
let app: App;
const sockets: Socket[] = [];
const volunteers: TestVolunteer[] = [];

beforeAll(async () => {
  c = await startTestCoordinator();
  admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  ada = await newResearcher(admin, 'ada');
  bob = await newResearcher(admin, 'bob');
  ({ app } = await newApp(ada, 'live'));
});
afterEach(() => {
  sockets.splice(0).forEach((s) => s.disconnect());
  volunteers.splice(0).forEach((v) => v.close());
});
afterAll(async () => {
  await c?.dispose();
});

/** Connects to /admin; resolves once connected, rejects with the connect_error. */
async function connectAdmin(opts: { token?: string; cookie?: string } = {}): Promise<Socket> {
  const socket = io(`${c.url}/admin`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: opts.token !== undefined ? { token: opts.token } : {},
    extraHeaders: opts.cookie !== undefined ? { cookie: opts.cookie } : {},
  });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

const watch = (s: Socket, payload: unknown) => s.timeout(5000).emitWithAck('batch.watch', payload) as Promise<Ack>;

/** A batch of n work units at a priority above every earlier one, so its tasks go out first. */
let priority = 0;
async function newBatch(n: number, name: string): Promise<number> {
  const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, {
    name,
    replication: { minQuorum: 1, targetNresults: 1, priority: ++priority },
    workunits: Array.from({ length: n }, (_, i) => ({ input: i })),
  });
  expect(r.status).toBe(201);
  await c.replicasReady();
  return r.body.batchId;
}

async function volunteer(name: string): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c.url, { name });
  volunteers.push(v);
  return v;
}

/** The tasks (of those handed out) that belong to a batch. */
async function tasksOf(batchId: number, tasks: Task[]): Promise<Task[]> {
  const r = await ada.get<{ workunits: { id: number }[] }>(`/batches/${batchId}/workunits`, { limit: 1000 });
  const ids = new Set(r.body.workunits.map((w) => w.id));
  const workunits = await Promise.all(tasks.map((t) => workunitOfTask(c, t)));
  return tasks.filter((_, i) => ids.has(workunits[i]!));
}

const report = (v: TestVolunteer, tasks: Task[]) => v.report(tasks.map((t) => buildResult(ed, v.seed, t, { output: { ok: t.input } })));

describe('connecting to /admin', () => {
  it('is refused without credentials, with a bad token, and with a revoked one', async () => {
    await expect(connectAdmin()).rejects.toThrow(/unauthenticated/);
    await expect(connectAdmin({ token: 'vgt_forged' })).rejects.toThrow(/unauthenticated/);
    await expect(connectAdmin({ cookie: 'vg_session=forged' })).rejects.toThrow(/unauthenticated/);
    const session = await ApiClient.login(c.url, 'ada', PASSWORD);
    const t = await session.post<{ id: number; token: string }>('/tokens', { name: 'to-revoke' });
    await connectAdmin({ token: t.body.token });
    expect((await session.del(`/tokens/${t.body.id}`)).status).toBe(204);
    await expect(connectAdmin({ token: t.body.token })).rejects.toThrow(/unauthenticated/);
  });

  it("is refused for a disabled account's token", async () => {
    const carl = await newResearcher(admin, 'carl');
    await connectAdmin({ token: carl.token! });
    await admin.patch(`/researchers/${carl.account!.id}`, { disabled: true });
    await expect(connectAdmin({ token: carl.token! })).rejects.toThrow(/unauthenticated/);
  });

  // A socket opened before its account was disabled (or its session logged out) must not keep
  // watching batches: the credentials are checked again on every watch.
  it('stops serving a socket once its account is disabled or its session logged out', async () => {
    const dora = await newResearcher(admin, 'dora');
    const { app: doraApp } = await newApp(dora, 'dora-live');
    const b = await dora.post<Submitted>(`/apps/${doraApp.id}/batches`, { name: 'd', workunits: [{ input: 1 }] });
    const byToken = await connectAdmin({ token: dora.token! });
    const session = await ApiClient.login(c.url, 'dora', PASSWORD);
    const byCookie = await connectAdmin({ cookie: session.cookie! });
    expect((await session.del('/session')).status).toBe(204);
    await admin.patch(`/researchers/${dora.account!.id}`, { disabled: true });
    for (const s of [byToken, byCookie]) {
      const ack = await watch(s, { batchId: b.body.batchId }).catch(() => undefined);
      expect(s.connected && ack?.ok === true).toBe(false);
    }
  });

  it('works with the session cookie, as the web UI connects', async () => {
    const session = await ApiClient.login(c.url, 'ada', PASSWORD);
    const batchId = await newBatch(1, 'cookie-watch');
    const s = await connectAdmin({ cookie: session.cookie! });
    const ack = await watch(s, { batchId });
    expect(ack).toMatchObject({ ok: true, status: { id: batchId, name: 'cookie-watch' } });
  });
});

describe('batch.watch', () => {
  it('acks with the batch status (the body of GET /batches/:id)', async () => {
    const batchId = await newBatch(3, 'watched');
    const s = await connectAdmin({ token: ada.token! });
    const ack = await watch(s, { batchId });
    const rest = await ada.get<BatchStatus>(`/batches/${batchId}`);
    expect(ack.ok).toBe(true);
    if (!ack.ok) return;
    expect(ack.status).toEqual({ ...rest.body, throughput: expect.any(Object), series: expect.any(Object) });
    expect(ack.status.workunits).toEqual({ total: 3, active: 3, done: 0, failed: 0, cancelled: 0 });
  });

  it('pushes batch.status when a volunteer reports results, until the batch is done', async () => {
    const batchId = await newBatch(3, 'pushed');
    const s = await connectAdmin({ token: ada.token! });
    const pushes: BatchStatus[] = [];
    s.on('batch.status', (b: BatchStatus) => pushes.push(b));
    expect((await watch(s, { batchId })).ok).toBe(true);

    const v = await volunteer('live-worker');
    const tasks = await tasksOf(batchId, await v.requestTasks(3));
    expect(tasks).toHaveLength(3);
    await waitFor('a push for the tasks going out', () => pushes.some((p) => p.id === batchId && p.replicas.inProgress === 3), 5000);
    await report(v, tasks.slice(0, 1));
    await waitFor('a push with one work unit done', () => pushes.some((p) => p.id === batchId && p.workunits.done === 1), 5000);
    await report(v, tasks.slice(1));
    await waitFor('a push with the batch done', () => pushes.some((p) => p.id === batchId && p.status === 'done'), 5000);
    const last = pushes[pushes.length - 1]!;
    expect(last).toMatchObject({ id: batchId, status: 'done', finishedAt: expect.any(Number), workunits: { total: 3, done: 3, active: 0 } });
    expect(last).toEqual({ ...(await ada.get<BatchStatus>(`/batches/${batchId}`)).body, throughput: expect.any(Object), series: expect.any(Object) });
  });

  it('coalesces a burst of changes into at most about two pushes a second', async () => {
    const batchId = await newBatch(40, 'burst');
    const s = await connectAdmin({ token: ada.token! });
    const pushes: { at: number; status: BatchStatus }[] = [];
    s.on('batch.status', (b: BatchStatus) => pushes.push({ at: Date.now(), status: b }));
    await watch(s, { batchId });
    const v = await volunteer('burst-worker');
    const mine = await tasksOf(batchId, await v.requestTasks(40));
    await waitFor('the first push', () => pushes.length > 0, 5000);
    const start = Date.now();
    for (const t of mine) await report(v, [t]); // one change per result
    await waitFor('the final push', () => pushes.some((p) => p.status.id === batchId && p.status.workunits.done === 40), MAX_PUSH_INTERVAL_MS + 5000);
    const elapsed = Math.max(1000, Date.now() - start);
    const during = pushes.filter((p) => p.at >= start).length;
    // One push per 500 ms at most (plus one at the edge of the window).
    expect(during).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 1);
    expect(mine.length).toBe(40);
  });

  it('stops pushing after batch.unwatch', async () => {
    const batchId = await newBatch(2, 'unwatched');
    const s = await connectAdmin({ token: ada.token! });
    const pushes: BatchStatus[] = [];
    s.on('batch.status', (b: BatchStatus) => pushes.push(b));
    await watch(s, { batchId });
    expect(await s.timeout(5000).emitWithAck('batch.unwatch', { batchId })).toEqual({ ok: true });
    const v = await volunteer('unwatched-worker');
    await report(v, await tasksOf(batchId, await v.requestTasks(2)));
    expect((await ada.get<BatchStatus>(`/batches/${batchId}`)).body.status).toBe('done');
    await new Promise((r) => setTimeout(r, 800));
    expect(pushes.filter((p) => p.id === batchId)).toEqual([]);
  });

  it("answers not_found for someone else's batch (like a missing one) and pushes nothing of it", async () => {
    const batchId = await newBatch(1, 'private');
    const s = await connectAdmin({ token: bob.token! });
    const pushes: BatchStatus[] = [];
    s.on('batch.status', (b: BatchStatus) => pushes.push(b));
    const ack = await watch(s, { batchId });
    expect(ack).toEqual({ ok: false, error: { code: 'not_found', message: `no batch ${batchId}` } });
    expect(await watch(s, { batchId: 999_999 })).toEqual({ ok: false, error: { code: 'not_found', message: 'no batch 999999' } });
    const v = await volunteer('private-worker');
    await report(v, await tasksOf(batchId, await v.requestTasks(1)));
    await new Promise((r) => setTimeout(r, 800));
    expect(pushes).toEqual([]);
  });

  it("lets an admin watch anyone's batch", async () => {
    const batchId = await newBatch(1, 'admin-watch');
    const s = await connectAdmin({ token: admin.token! });
    expect(await watch(s, { batchId })).toMatchObject({ ok: true, status: { id: batchId, name: 'admin-watch' } });
  });

  it.each([
    ['a string id', { batchId: '1' }],
    ['id 0', { batchId: 0 }],
    ['a fractional id', { batchId: 1.5 }],
    ['an unknown field', { batchId: 1, everything: true }],
    ['no payload', undefined],
  ])('refuses %s with bad_request', async (_what, payload) => {
    const s = await connectAdmin({ token: ada.token! });
    const ack = await watch(s, payload);
    expect(ack.ok).toBe(false);
    if (!ack.ok) {
      expect(ack.error.code).toBe('bad_request');
      expect(ack.error.message.length).toBeGreaterThan(5);
    }
  });
});
