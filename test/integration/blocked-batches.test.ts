// A batch that cannot move says why, through the API a researcher reads and the CLI's status:
// its project paused, no volunteer connected, the connected ones all excluded (by what they
// computed, or by the app failing on them), or an app that fails to load on every real daemon
// that runs it (then marked broken, and no task goes out with it until a fixed version comes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchStatus, Project, Submitted } from '../../protocol/api.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { buildResult } from '../../protocol/results.js';
import { ApiClient, newApp, newResearcher, TRIVIAL_MAIN } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

let c: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
const daemons: VolunteerProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await Promise.all(daemons.splice(0).map((d) => d.kill9()));
  await c?.dispose();
  c = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const BROKEN = "throw new Error('config.json is missing');\nexport default async function run(input) { return input; }\n";

async function setUp(): Promise<{ ada: ApiClient; appId: number; project: Project }> {
  c = await startTestCoordinator();
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  const ada = await newResearcher(admin, 'ada');
  const { app, project } = await newApp(ada, 'blocked');
  return { ada, appId: app.id, project };
}

async function submit(ada: ApiClient, appId: number, n: number, name: string): Promise<Submitted> {
  const r = await ada.post<Submitted>(`/apps/${appId}/batches`, { name, replication: { minQuorum: 2, targetNresults: 2 }, workunits: Array.from({ length: n }, (_, i) => ({ input: { n: i } })) });
  expect(r.status).toBe(201);
  return r.body;
}

function started(name: string): VolunteerProcess {
  const dir = mkdtempSync(join(tmpdir(), `vg-blocked-${name}-`));
  dirs.push(dir);
  const d = VolunteerProcess.start(c!.url, dir, ['--name', name]);
  daemons.push(d);
  return d;
}

const statusOf = async (ada: ApiClient, batchId: number) => (await ada.get<BatchStatus>(`/batches/${batchId}`)).body;
const codes = (s: BatchStatus) => s.blocked.map((b) => b.code);

describe('a batch that cannot move says why', () => {
  it('its project is paused: said when it is submitted, and in its status until it is resumed', async () => {
    const { ada, appId, project } = await setUp();
    await ada.patch(`/projects/${project.id}`, { status: 'paused' });
    const submitted = await submit(ada, appId, 2, 'paused');
    expect(submitted.warnings).toEqual([`project ${project.name} is paused: no task of this batch is sent until it is resumed`]);
    const s = await statusOf(ada, submitted.batchId);
    expect(s.blocked).toContainEqual({ code: 'project_paused', message: 'the project is paused: no task of it is sent until it is resumed' });
    await ada.patch(`/projects/${project.id}`, { status: 'active' });
    expect(codes(await statusOf(ada, submitted.batchId))).not.toContain('project_paused');
  });

  it('no volunteer connected; then the two connected have computed what is left', async () => {
    const { ada, appId } = await setUp();
    const { batchId } = await submit(ada, appId, 2, 'few hosts');
    // Said once its replicas are made (they are made after the submission is acknowledged).
    await waitFor('no_hosts', async () => codes(await statusOf(ada, batchId)).length > 0);
    expect(codes(await statusOf(ada, batchId))).toEqual(['no_hosts']);
    const [a, b] = [await TestVolunteer.connect(c!.url, { name: 'a' }), await TestVolunteer.connect(c!.url, { name: 'b' })];
    volunteers.push(a, b);
    expect(codes(await statusOf(ada, batchId))).toEqual([]);
    // They disagree on the first work unit: it needs a third host, and there is none.
    const [ta, tb] = [await a.requestTasks(2), await b.requestTasks(2)];
    const first = (ts: typeof ta) => ts.find((t) => (t.input as { n: number }).n === 0)!;
    const rest = (ts: typeof ta) => ts.filter((t) => (t.input as { n: number }).n !== 0);
    const report = async (v: TestVolunteer, results: Awaited<ReturnType<TestVolunteer['compute']>>[]) =>
      expect((await v.send<{ results: unknown[] }>('results.report', { results })).ok).toBe(true);
    await report(a, [await a.compute(first(ta)), ...(await Promise.all(rest(ta).map((t) => a.compute(t))))]);
    await report(b, [buildResult(nodeEd25519(), b.seed, first(tb), { output: { wrong: true } }), ...(await Promise.all(rest(tb).map((t) => b.compute(t))))]);
    const s = await statusOf(ada, batchId);
    expect(s.workunits).toMatchObject({ active: 1, done: 1 });
    expect(s.blocked).toEqual([{ code: 'no_eligible_hosts', message: expect.stringMatching(/^none of the 2 connected volunteers may take what is left/) }]);
  });

  it('an app that fails to load on two new daemons: every attempt fails with its error, and no host is said to have computed it', async () => {
    const { ada, appId } = await setUp();
    expect((await ada.upload(`/apps/${appId}/versions`, [{ name: 'main.js', content: BROKEN }])).status).toBe(201);
    const { batchId } = await submit(ada, appId, 4, 'broken on new hosts');
    started('one');
    started('two');
    // Each daemon fails each work unit once; neither may take it again, and nobody else is there.
    await waitFor('the batch blocked', async () => codes(await statusOf(ada, batchId)).includes('no_eligible_hosts'), 60_000);
    const s = await statusOf(ada, batchId);
    expect(s.workunits).toMatchObject({ active: 4, done: 0 });
    expect(s.blocked).toEqual([
      { code: 'no_eligible_hosts', message: expect.stringMatching(/^none of the 2 connected volunteers may take what is left: the app failed on each of them \(app_load_failed: .*config\.json is missing.*\), and a work unit is not sent again to a volunteer it failed on\. Upload a fixed version/) },
      { code: 'all_failing', message: expect.stringMatching(/^every attempt so far failed \(8\); most often app_load_failed \(8\): .*config\.json is missing/) },
    ]);
    for (const b of s.blocked) expect(b.message).not.toMatch(/computed/);
    // Not marked broken: hosts with no valid result anywhere cannot get a version marked broken.
    expect((await c!.store.catalog.versionsOfApp(appId))[0]!.broken).toBeNull();
  }, 90_000);

  it('an app that fails to load on both real daemons is marked broken, and the batch says so; a fixed version runs it', async () => {
    const { ada, appId } = await setUp();
    // Two volunteers that have done good work before.
    const warmUp = await submit(ada, appId, 4, 'warm-up');
    started('one');
    started('two');
    await waitFor('the warm-up batch', async () => (await c!.store.reports.workunitCounts(warmUp.batchId)).done === 4, 60_000);

    expect((await ada.upload(`/apps/${appId}/versions`, [{ name: 'main.js', content: BROKEN }])).status).toBe(201);
    const { batchId } = await submit(ada, appId, 6, 'broken');
    await waitFor('the broken app’s status', async () => (await c!.store.catalog.versionsOfApp(appId))[0]!.broken !== null, 60_000);
    const s = await statusOf(ada, batchId);
    expect(s.blocked).toContainEqual({ code: 'app_broken', message: expect.stringMatching(/^app version 2 is broken — it failed to load on every host that ran it .*config\.json is missing/) });
    // No task goes out with it any more.
    const sent = (await c!.store.reports.replicaCounts(batchId));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await c!.store.reports.replicaCounts(batchId)).inProgress + (await c!.store.reports.replicaCounts(batchId)).clientError).toBe(sent.inProgress + sent.clientError);

    expect((await ada.upload(`/apps/${appId}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN }])).status).toBe(201);
    await waitFor('the batch, with the fixed version', async () => (await c!.store.reports.workunitCounts(batchId)).active === 0, 60_000);
    expect(codes(await statusOf(ada, batchId))).toEqual([]);
  }, 150_000);
});
