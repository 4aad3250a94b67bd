// Work that must never stall: against the real coordinator over real Socket.IO connections, with
// as few volunteers as a new researcher has, as protocol clients and as real daemons. A host that
// handed a task back, or lost it before it ever started, may take that work unit again: with two
// hosts, nobody else can.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { primesInputs } from '../../examples/primes/inputs.js';
import type { Task } from '../../protocol/messages.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

let coordinator: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
const daemons: VolunteerProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await Promise.all(daemons.splice(0).map((d) => d.kill9()));
  await coordinator?.dispose();
  coordinator = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function join(c: TestCoordinator, opts: Parameters<typeof TestVolunteer.connect>[1] = {}): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c.url, opts);
  volunteers.push(v);
  return v;
}

/** Four work units at quorum 2. */
async function batchOfFour(c: TestCoordinator): Promise<number> {
  const appId = await addPrimesApp(c);
  return (await c.submission.submitBatch({
    appId,
    name: 'four',
    replication: { minQuorum: 2, targetNresults: 2 },
    workunits: [0, 1, 2, 3].map((i) => ({ input: { from: i * 100, to: i * 100 + 99 } })),
  })).batchId;
}

async function computeAndReport(v: TestVolunteer, tasks: Task[]): Promise<void> {
  const results = await Promise.all(tasks.map((t) => v.compute(t)));
  const reply = await v.send<{ results: { status: string }[] }>('results.report', { results });
  expect(reply.ok && reply.results.map((r) => r.status)).toEqual(tasks.map(() => 'accepted'));
}

const done = async (c: TestCoordinator, batchId: number) => (await c.store.reports.workunitCounts(batchId)).done;
const workunitsOf = async (c: TestCoordinator, tasks: { taskId: number }[]) => (await Promise.all(tasks.map((t) => workunitOfTask(c, t)))).sort((a, b) => a - b);

describe('two hosts, no one else', () => {
  it('a host that handed tasks back may take those work units again, so the batch finishes', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const batchId = await batchOfFour(c);
    const [daemon, tab] = [await join(c, { name: 'daemon' }), await join(c, { name: 'tab' })];
    const mine = await daemon.requestTasks(4);
    const theirs = await tab.requestTasks(4);
    expect([mine.length, theirs.length]).toEqual([4, 4]);
    // The tab closes two of its tasks unstarted; the daemon computes all of its own.
    const back = await tab.send<{ tasks: { status: string }[] }>('tasks.giveBack', { taskIds: theirs.slice(2).map((t) => t.taskId), reason: 'tab closed' });
    expect(back.ok && back.tasks.map((t) => t.status)).toEqual(['given_back', 'given_back']);
    await computeAndReport(daemon, mine);
    await computeAndReport(tab, theirs.slice(0, 2));
    expect(await done(c, batchId)).toBe(2);

    // Only the tab may take what is left (the daemon has a result for each): it must be offered it.
    expect(await daemon.requestTasks(4)).toEqual([]);
    const again = await tab.requestTasks(4);
    expect(await workunitsOf(c, again)).toEqual(await workunitsOf(c, theirs.slice(2)));
    await computeAndReport(tab, again);
    expect(await done(c, batchId)).toBe(4);
  });

  it('a host whose tasks were given up before it started them may take them again when it comes back', async () => {
    coordinator = await startTestCoordinator({ disconnectGraceMs: 300 });
    const c = coordinator;
    const batchId = await batchOfFour(c);
    const daemon = await join(c, { name: 'daemon' });
    const tab = await join(c, { name: 'tab' });
    const mine = await daemon.requestTasks(4);
    const theirs = await tab.requestTasks(4);
    // The tab goes away before running anything; its tasks are given up after the grace period.
    tab.close();
    await waitFor('the tab’s tasks given up', async () => (await c.store.reports.replicaCounts(batchId)).noReply === 4);
    await computeAndReport(daemon, mine);
    const back = await join(c, { name: 'tab', seed: tab.seed, coordinatorKey: tab.coordinatorKey });
    const again = await back.requestTasks(4);
    expect(await workunitsOf(c, again)).toEqual(await workunitsOf(c, theirs));
    await computeAndReport(back, again);
    expect(await done(c, batchId)).toBe(4);
  });

  it('a host that started a task keeps it against it: its late result may still come', async () => {
    coordinator = await startTestCoordinator({ disconnectGraceMs: 300 });
    const c = coordinator;
    const batchId = await batchOfFour(c);
    const tab = await join(c, { name: 'tab' });
    const theirs = await tab.requestTasks(1);
    const progress = await tab.send('tasks.progress', { updates: [{ taskId: theirs[0]!.taskId, fraction: 0.5 }] });
    expect(progress.ok).toBe(true);
    tab.close();
    await waitFor('the tab’s task given up', async () => (await c.store.reports.replicaCounts(batchId)).noReply === 1);
    const back = await join(c, { name: 'tab', seed: tab.seed, coordinatorKey: tab.coordinatorKey });
    const again = await back.requestTasks(4);
    expect(await workunitsOf(c, again)).not.toContain(await workunitOfTask(c, theirs[0]!));
  });
});

describe('two real daemons, no one else', () => {
  const daemon = (c: TestCoordinator, name: string, dataDir?: string): VolunteerProcess => {
    const dir = dataDir ?? mkdtempSync(joinPath(tmpdir(), `vg-stuck-${name}-`));
    if (!dataDir) dirs.push(dir);
    // No grace: a SIGTERM hands back even the task that is running.
    const d = VolunteerProcess.start(c.url, dir, ['--name', name, '--grace-seconds', '0']);
    daemons.push(d);
    return d;
  };

  it('one stopped with SIGTERM after starting tasks hands them back; restarted on its data dir, it takes them again and the batch completes', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    // Four work units at quorum 2, each a second or so of computing.
    const batchId = await submitInputs(c, await addPrimesApp(c), primesInputs(4, 600_000, 20_000_000));
    const one = daemon(c, 'one');
    daemon(c, 'two');
    await one.waitForLog('task started');
    expect(await one.stop()).toBe(0);
    const handedBack = one.logged('gave tasks back').reduce((n, l) => n + (l.tasks as number), 0);
    expect(handedBack).toBeGreaterThan(0);
    expect((await c.store.reports.replicaCounts(batchId)).abandoned).toBe(handedBack);

    daemon(c, 'one', one.dataDir);
    await waitFor('every work unit done', async () => (await c.store.reports.workunitCounts(batchId)).done === 4, 60_000);
    // The restarted daemon computed a work unit it had handed back: nobody else could.
    const workunits = (await c.store.reports.workunits(batchId, undefined, 0, 10)).map((w) => w.id);
    const ofOne = await Promise.all(workunits.map(async (id) => (await c.store.reports.replicas(id)).filter((r) => r.hostName === 'one').map((r) => r.outcome)));
    expect(ofOne.some((outcomes) => outcomes.includes('abandoned') && outcomes.includes('success'))).toBe(true);
  }, 90_000);
});
