// Work-unit priority orders the scheduler's queue: bounded per project by what an admin allows,
// against the real coordinator. A researcher asking for more is refused, saying why; an admin
// who lowers a project's bound brings its queued work down with it, so another researcher's
// work is handed out first; the lowering resumes after a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { createCore } from '../../coordinator/core.js';
import { ApiClient, dbState, expectError, newApp, newResearcher, type Project, type Submitted } from '../helpers/api-client.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { createWorld, WORLD_OPTIONS, type World } from '../helpers/world.js';

let c: TestCoordinator | undefined;
let world: World | undefined;
const volunteers: TestVolunteer[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await c?.dispose();
  c = undefined;
  await world?.close();
  world = undefined;
});

const Q1 = { minQuorum: 1, targetNresults: 1 };

async function setup() {
  c = await startTestCoordinator();
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  const ada = await newResearcher(admin, 'ada');
  const bob = await newResearcher(admin, 'bob');
  const adas = await newApp(ada, 'ada-project');
  const bobs = await newApp(bob, 'bob-project');
  return { c, admin, ada, bob, adas, bobs };
}

describe('work-unit priority', () => {
  it('is bounded by the project: a batch above it is refused, whatever the format, and nothing is created', async () => {
    const { c, ada, adas } = await setup();
    const path = `/apps/${adas.app.id}/batches`;
    const before = dbState(c.store.db);
    expectError(
      await ada.post(path, { name: 'greedy', replication: { ...Q1, priority: 1000 }, workunits: [{ input: 1 }] }),
      400, 'bad_request', /^replication: priority 1000 is above 10, the highest this project allows/,
    );
    expectError(
      await ada.post(path, { name: 'greedy', workunits: [{ input: 1 }, { input: 2, replication: { priority: 11 } }] }),
      400, 'bad_request', /^workunits\[1\]: priority 11 is above 10/,
    );
    const nd = async (query: Record<string, string | number>, body: string) =>
      await ada.request('POST', path, { body, contentType: 'application/x-ndjson', query: { name: 'greedy', ...query } });
    expectError(await nd({ priority: 500 }, '1\n2\n'), 400, 'bad_request', /priority 500 is above 10/);
    expectError(await nd({ lines: 'workunits' }, '{"input":1}\n{"input":2,"replication":{"priority":99}}\n'), 400, 'bad_request', /^line 2: priority 99 is above 10/);
    expect(dbState(c.store.db)).toEqual(before);

    // At the bound, and below zero (a researcher may always put their own work last): taken.
    expect((await ada.post<Submitted>(path, { name: 'top', replication: { ...Q1, priority: 10 }, workunits: [{ input: 1 }] })).status).toBe(201);
    expect((await ada.post<Submitted>(path, { name: 'last', replication: { ...Q1, priority: -1000 }, workunits: [{ input: 1 }] })).status).toBe(201);
  });

  it('is set by an admin only, shown in every project, and then bounds submissions', async () => {
    const { admin, ada, adas } = await setup();
    const id = adas.project.id;
    expect(adas.project.priorityCap).toEqual({ maxPriority: 10, isDefault: true, lowering: false });
    expectError(await ada.put(`/projects/${id}/priority-cap`, { maxPriority: 1000 }), 403, 'forbidden', /only an admin/);
    expectError(await admin.put(`/projects/${id}/priority-cap`, { maxPriority: 1001 }), 400, 'bad_request', /maxPriority/);
    expectError(await admin.put(`/projects/${id}/priority-cap`, { maxPriority: -1 }), 400, 'bad_request', /maxPriority/);
    expectError(await admin.put('/projects/9999/priority-cap', { maxPriority: 5 }), 404, 'not_found');

    const set = await admin.put<Project>(`/projects/${id}/priority-cap`, { maxPriority: 100 });
    expect(set.status).toBe(200);
    expect(set.body.priorityCap).toEqual({ maxPriority: 100, isDefault: false, lowering: false });
    expect((await ada.get<{ projects: Project[] }>('/projects')).body.projects[0]!.priorityCap.maxPriority).toBe(100);
    expect((await ada.get<Project>(`/projects/${id}`)).body.priorityCap.maxPriority).toBe(100);
    const path = `/apps/${adas.app.id}/batches`;
    expect((await ada.post(path, { name: 'urgent', replication: { ...Q1, priority: 100 }, workunits: [{ input: 1 }] })).status).toBe(201);
    expectError(await ada.post(path, { name: 'more', replication: { ...Q1, priority: 101 }, workunits: [{ input: 1 }] }), 400, 'bad_request', /above 100/);

    const back = await admin.put<Project>(`/projects/${id}/priority-cap`, { maxPriority: null });
    expect(back.body.priorityCap).toEqual({ maxPriority: 10, isDefault: true, lowering: false });
  });

  it('lowered by an admin, brings the project’s queued work down: another researcher’s work goes out first', async () => {
    const { c, admin, ada, bob, adas, bobs } = await setup();
    await admin.put(`/projects/${adas.project.id}/priority-cap`, { maxPriority: 50 });
    const adaBatch = await ada.post<Submitted>(`/apps/${adas.app.id}/batches`, {
      name: 'ada', replication: { ...Q1, priority: 50 }, workunits: Array.from({ length: 1200 }, (_, i) => ({ input: i })),
    });
    const bobBatch = await bob.post<Submitted>(`/apps/${bobs.app.id}/batches`, { name: 'bob', replication: { ...Q1, priority: 5 }, workunits: [{ input: 'b' }] });
    await c.replicasReady();
    const v = await TestVolunteer.connect(c.url);
    volunteers.push(v);
    const batchOf = async (workunitId: number) => (await c.store.work.workunit(workunitId))!.batchId;
    // Ada's work is ahead of Bob's: the volunteer gets hers.
    expect(await Promise.all((await v.requestTasks(4)).map(async (t) => (await batchOf(await workunitOfTask(c, t)))))).toEqual(Array(4).fill(adaBatch.body.batchId));

    const lowered = await admin.put<Project>(`/projects/${adas.project.id}/priority-cap`, { maxPriority: 0 });
    expect(lowered.status).toBe(200);
    await c.lowerPriorities();
    expect((await ada.get<Project>(`/projects/${adas.project.id}`)).body.priorityCap).toEqual({ maxPriority: 0, isDefault: false, lowering: false });
    const above = c.store.db.prepare(`SELECT
      (SELECT COUNT(*) FROM workunits WHERE batch_id = @b AND priority > 0) AS workunits,
      (SELECT COUNT(*) FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = @b AND r.status = 'unsent' AND r.priority > 0) AS unsent`);
    // Open work units (so their reissues too) and unsent replicas come down.
    expect(above.get({ b: adaBatch.body.batchId })).toEqual({ workunits: 0, unsent: 0 });
    expect(await Promise.all((await v.requestTasks(1)).map(async (t) => (await batchOf(await workunitOfTask(c, t)))))).toEqual([bobBatch.body.batchId]);
  });
});

describe('lowering a priority bound', () => {
  it('resumes where it stopped when the coordinator starts again', async () => {
    world = createWorld({ maxPriority: 100 });
    const app = await world.addApp();
    const projectId = (await world.core.store.catalog.appById(app))!.projectId;
    await world.submit(app, Array.from({ length: 1_100 }, (_, i) => ({ i })), { priority: 100 });
    await world.core.priorities.setMax(projectId, 3); // its first chunk runs at once
    await world.core.close(); // the coordinator stops (or crashes) with the rest to do

    const again = createCore({ ...WORLD_OPTIONS, dataDir: world.dataDir, maxPriority: 100 }, { abort: () => {}, credit: () => {} });
    try {
      const high = (table: 'workunits' | 'replicas') => (again.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE priority > 3`).get() as { n: number }).n;
      expect(high('workunits')).toBe(600);
      expect((await again.store.catalog.projectById(projectId))).toMatchObject({ maxPriority: 3, priorityLowering: 3 });
      await again.lowerPriorities(); // as a starting coordinator calls it
      expect([high('workunits'), high('replicas')]).toEqual([0, 0]);
      expect((await again.store.catalog.projectById(projectId))).toMatchObject({ maxPriority: 3, priorityLowering: null });
    } finally {
      await again.close();
    }
  });
});
