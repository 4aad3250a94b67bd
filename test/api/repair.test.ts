// Repairing what went wrong, through the real API with volunteers on real sockets: retry a
// batch's failed work units after a fixed version, retire a version, pin a batch to a version,
// archive a finished batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App, AppVersion, BatchList, BatchStatus, Retried, Submitted } from '../../protocol/api.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { ApiClient, expectError, newApp, newResearcher, TRIVIAL_MAIN } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let c: TestCoordinator;
let ada: ApiClient;
const volunteers: TestVolunteer[] = [];
const ed = nodeEd25519();

beforeAll(async () => {
  c = await startTestCoordinator();
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  ada = await newResearcher(admin, 'ada');
});
afterAll(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await c?.dispose();
});

async function volunteer(): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c.url);
  volunteers.push(v);
  return v;
}

async function submit(app: App, inputs: unknown[], extra: Record<string, unknown> = {}): Promise<number> {
  const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'repair', workunits: inputs.map((input) => ({ input })), ...extra });
  expect(r.status).toBe(201);
  // Its replicas are made after the submission is acknowledged.
  await c.replicasReady();
  return r.body.batchId;
}

async function report(v: TestVolunteer, results: Awaited<ReturnType<TestVolunteer['compute']>>[]): Promise<void> {
  const reply = await v.send<{ results: { status: string }[] }>('results.report', { results });
  expect(reply.ok && reply.results.map((r) => r.status)).toEqual(results.map(() => 'accepted'));
}
const failed = (v: TestVolunteer, t: Task, code = 'app_exception') => buildResult(ed, v.seed, t, { error: { code, message: `${code}: odd input` } });
const status = async (id: number) => (await ada.get<BatchStatus>(`/batches/${id}`)).body;
const versionOf = async (app: App, task: Task) => (await c.store.catalog.versionByHash(task.appVersionHash))!.version;

describe('repair', () => {
  it('retries the work units that failed with a code, once a fixed version is in; the rest stay as they were', async () => {
    const { app } = await newApp(ada, 'retry');
    const batchId = await submit(app, [1, 2, 3, 4], { replication: { minQuorum: 1, targetNresults: 1, maxErrorResults: 0 } });
    const v = await volunteer();
    const tasks = await v.requestTasks(8);
    expect(tasks).toHaveLength(4);
    const byInput = (n: number) => tasks.find((t) => t.input === n)!;
    // 1 and 3 fail with app_exception, 2 with a timeout; 4 is done.
    await report(v, [failed(v, byInput(1)), failed(v, byInput(3)), failed(v, byInput(2), 'cpu_limit'), await v.compute(byInput(4))]);
    expect((await status(batchId)).workunits).toMatchObject({ active: 0, done: 1, failed: 3 });

    expect((await ada.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN.replace('echo', 'fixed') }])).status).toBe(201);
    const r = await ada.post<Retried>(`/batches/${batchId}/retry`, { codes: ['app_exception'] });
    expect(r.body).toEqual({ retried: 2 });
    expect((await status(batchId)).workunits).toMatchObject({ active: 2, done: 1, failed: 1 });
    // The same volunteer may take them again, with the new version; their old errors use up nothing.
    const again = await v.requestTasks(8);
    expect(again.map((t) => t.input).sort()).toEqual([1, 3]);
    for (const t of again) expect((await versionOf(app, t))).toBe(2);
    await report(v, await Promise.all(again.map((t) => v.compute(t))));
    expect((await status(batchId)).workunits).toMatchObject({ active: 0, done: 3, failed: 1 });

    // Without codes, every failed one.
    expect((await ada.post<Retried>(`/batches/${batchId}/retry`, {})).body).toEqual({ retried: 1 });
    await ada.post(`/batches/${batchId}/cancel`, {});
    expectError(await ada.post(`/batches/${batchId}/retry`, {}), 409, 'conflict', /was cancelled/);
  });

  it('pins a batch to a version, at submission or later; retiring a version sends the one before it', async () => {
    const { app } = await newApp(ada, 'versions');
    expect((await ada.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN.replace('echo', 'v2') }])).status).toBe(201);
    const v = await volunteer();
    const pinned = await submit(app, [1, 2, 3], { appVersion: 1, replication: { minQuorum: 1, targetNresults: 1 } });
    expect((await status(pinned)).appVersion).toBe(1);
    const [t1] = await v.requestTasks(1);
    expect((await versionOf(app, t1!))).toBe(1);

    const unpinned = await ada.patch<BatchStatus>(`/batches/${pinned}`, { appVersion: null });
    expect(unpinned.body.appVersion).toBeNull();
    const [t2] = await v.requestTasks(1);
    expect((await versionOf(app, t2!))).toBe(2);

    const retired = await ada.patch<AppVersion>(`/apps/${app.id}/versions/2`, { retired: true });
    expect(retired.body).toMatchObject({ version: 2, retiredAt: expect.any(Number), broken: null });
    const [t3] = await v.requestTasks(1);
    expect((await versionOf(app, t3!))).toBe(1);
    // A retired version cannot be pinned; nor a version the app does not have.
    expectError(await ada.patch(`/batches/${pinned}`, { appVersion: 2 }), 409, 'conflict', /version 2 is retired/);
    expectError(await ada.patch(`/batches/${pinned}`, { appVersion: 9 }), 404, 'not_found', /no version 9/);
    expectError(await ada.post(`/apps/${app.id}/batches`, { name: 'x', appVersion: 2, workunits: [{ input: 1 }] }), 400, 'bad_request', /version 2 of app app is retired/);
    // Every version retired: the batch says why it cannot move.
    await ada.patch(`/apps/${app.id}/versions/1`, { retired: true });
    await submit(app, [9]);
    const blocked = (await ada.get<BatchList>(`/batches?appId=${app.id}`)).body.batches[0]!;
    expect(blocked.blocked.map((b) => b.code)).toContain('no_version');
    expect((await ada.patch<AppVersion>(`/apps/${app.id}/versions/1`, { retired: false })).body.retiredAt).toBeNull();
  });

  it('archives a finished batch: out of the list unless asked for, its results still there', async () => {
    const { app } = await newApp(ada, 'archive');
    const batchId = await submit(app, [5], { replication: { minQuorum: 1, targetNresults: 1 } });
    expectError(await ada.patch(`/batches/${batchId}`, { archived: true }), 409, 'conflict', /still running/);
    const v = await volunteer();
    // (Other tests' batches are open on this coordinator too: whatever comes is computed.)
    for (let i = 0; i < 10 && (await status(batchId)).status !== 'done'; i++) {
      const tasks = await v.requestTasks(16);
      if (tasks.length > 0) await report(v, await Promise.all(tasks.map((t) => v.compute(t))));
    }
    expect((await ada.patch<BatchStatus>(`/batches/${batchId}`, { archived: true })).body).toMatchObject({ status: 'done', archived: true });
    const listed = (await ada.get<BatchList>(`/batches?appId=${app.id}`)).body.batches.map((b) => b.id);
    expect(listed).not.toContain(batchId);
    expect((await ada.get<BatchList>(`/batches?appId=${app.id}&archived=true`)).body.batches.map((b) => b.id)).toEqual([batchId]);
    const results = await ada.get<string>(`/batches/${batchId}/results`);
    expect(results.text.trim().split('\n')).toHaveLength(1);
    expect((await ada.patch<BatchStatus>(`/batches/${batchId}`, { archived: false })).body.archived).toBe(false);
  });
});
