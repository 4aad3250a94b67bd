// The coordinator's background jobs under leases. On either backend: a coordinator alone holds
// every job's lease, and once a lease is taken from under it (its fencing number moved on), a turn
// of any job under its old lease writes nothing, while the new holder's turn does the job's work.
// On PostgreSQL, two coordinator processes on one database: each job runs on one of them, and when
// that one is killed with SIGKILL the other takes every job over and does its work.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { addBackgroundJobs } from '../../coordinator/background-jobs.js';
import type { Fence } from '../../coordinator/cluster/fence.js';
import type { JobSpec } from '../../coordinator/cluster/singleton-jobs.js';
import { Leases } from '../../coordinator/cluster/leases.js';
import { BlobStore } from '../../coordinator/files/blob-store.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';
import { ApiClient, newApp, newResearcher, type Submitted } from '../helpers/api-client.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { logLines, spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { dropTestDatabaseOf, testDatabaseOf } from '../helpers/postgres.js';
import { replicaOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_BACKEND, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

/** Every job, by its lease name (what a dead instance left is looked for on PostgreSQL only). */
const ON_POSTGRES = ['abandoned-submissions', 'orphaned-hosts', 'orphaned-batches'];
const JOBS = ['deadline-sweep', 'host-recheck', 'credit-correction', 'priority-lowering', 'output-collection', 'cancellations', ...(TEST_BACKEND === 'postgres' ? ON_POSTGRES : [])].sort();
const IN_JOBS = `name IN (${JOBS.map(() => '?').join(', ')})`;

const volunteers: TestVolunteer[] = [];
afterEach(() => volunteers.splice(0).forEach((v) => v.close()));

async function jobLeases(sql: SqlExecutor): Promise<Map<string, { holder: string; fencing: number; expiresAt: number }>> {
  const rows = await sql.all<{ name: string; holder: string; fencing: number; expires_at: number }>(`SELECT name, holder, fencing, expires_at FROM leases WHERE ${IN_JOBS}`, JOBS);
  return new Map(rows.map((r) => [r.name, { holder: r.holder, fencing: r.fencing, expiresAt: r.expires_at }]));
}

/** An uploaded output nothing refers to, stored long ago: garbage for the output collector. */
async function orphanOutput(sql: SqlExecutor, blobs: BlobStore, text: string): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify({ orphan: text }));
  const sha256 = blobs.put(bytes);
  await sql.run('INSERT INTO files (sha256, size, created_at, canonical_json, public) VALUES (?, ?, 0, 1, 0)', [sha256, bytes.length]);
  return sha256;
}

describe('background jobs whose lease was taken from under their holder', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTestCoordinator();
  });
  afterAll(async () => {
    await c?.dispose();
  });

  it('write nothing in a turn under the old lease; the new holder’s turn does each job’s work', async () => {
    // Alone, the coordinator took every job's lease as it started.
    const before = await jobLeases(c.store.sql);
    expect([...before.keys()].sort()).toEqual(JOBS);
    expect([...before.values()].every((l) => l.holder === c.instance)).toBe(true);

    // Another instance takes them all, as it would once they expired: a larger fencing number.
    await c.store.sql.run(`UPDATE leases SET holder = 'thief', fencing = fencing + 1, expires_at = ? WHERE ${IN_JOBS}`, [Date.now() + 3_600_000, ...JOBS]);
    const thief = new Leases(c.store.sql, 'thief');
    const fenceOf = (leases: Leases, holder: string, bump: number) => (job: string): Fence => (tx) => leases.holds(tx, { name: job, holder, fencing: before.get(job)!.fencing + bump, expiresAt: 0 });
    const oldFence = fenceOf(c.leases, c.instance, 0);
    const newFence = fenceOf(thief, 'thief', 1);

    // Work for every job, made after the theft so that the coordinator's own jobs cannot do it.
    const appId = await addPrimesApp(c);
    const projectId = (await c.store.catalog.appById(appId))!.projectId;
    await submitInputs(c, appId, [{ from: 1, to: 10 }, { from: 10, to: 20 }], { minQuorum: 1, targetNresults: 1 });
    const v = await TestVolunteer.connect(c.url);
    const left = await TestVolunteer.connect(c.url);
    volunteers.push(v, left);
    const [task] = await v.requestTasks(1);
    const [leftTask] = await left.requestTasks(1);
    const cancelled = await submitInputs(c, appId, [{ from: 1, to: 5 }, { from: 5, to: 10 }], { minQuorum: 1, targetNresults: 1 });
    const replicaId = await replicaOfTask(c, task!);
    await c.store.sql.run('UPDATE replicas SET deadline = 1 WHERE id = ?', [replicaId]); // its deadline passed
    await c.store.sql.run("UPDATE batches SET status = 'cancelled' WHERE id = ?", [cancelled]); // a cancellation cut short
    const hostId = (await c.store.sql.get<{ id: number }>('SELECT host_id AS id FROM replicas WHERE id = ?', [replicaId]))!.id;
    await c.store.sql.run('UPDATE hosts SET recheck_pending = 1, recheck_at = 0 WHERE id = ?', [hostId]); // caught, its re-check due
    // Lowered by an admin: each first chunk asks the coordinator's fence, which refuses now.
    await c.creditCaps.setCap(projectId, 1);
    await c.priorities.setMax(projectId, 0);
    const orphan = await orphanOutput(c.store.sql, c.blobs, 'fenced');
    // A submission whose instance died a long time ago (PostgreSQL: on SQLite only a start discards those).
    const begun = TEST_BACKEND === 'postgres' ? await c.submission.begin({ appId, name: 'left staged' }) : undefined;
    const staged = begun && 'app' in begun ? begun.batchId : undefined;
    if (staged !== undefined) await c.store.sql.run('UPDATE batches SET created_at = 0 WHERE id = ?', [staged]);
    // A host whose instance died a long time ago (its tasks held since), and a batch that
    // instance committed but made no replica of (PostgreSQL: on SQLite there is one instance).
    let leftReplica: number | undefined;
    let unreplicated: number | undefined;
    if (TEST_BACKEND === 'postgres') {
      await c.store.sql.run("INSERT INTO leases (name, holder, fencing, acquired_at, expires_at) VALUES ('instance:dead', 'dead', 1, 0, 1)");
      await c.store.sql.run("UPDATE hosts SET instance = 'dead' WHERE id = ?", [left.hostId]);
      leftReplica = await replicaOfTask(c, leftTask!);
      const stage = await c.submission.begin({ appId, name: 'no replicas', replication: { minQuorum: 1, targetNresults: 1 } });
      if (!('app' in stage)) throw new Error('not begun');
      await c.submission.addChunk(stage, [{ value: { input: { from: 1, to: 3 } }, where: 'line 1' }]);
      unreplicated = (await c.submission.commit(stage)).batchId;
      await c.store.sql.run("UPDATE batches SET instance = 'dead' WHERE id = ?", [unreplicated]);
    }

    const state = async () => ({
      'deadline-sweep': (await c.store.sql.get<{ status: string }>('SELECT status FROM replicas WHERE id = ?', [replicaId]))!.status,
      cancellations: (await c.store.reports.workunitCounts(cancelled)).active,
      'host-recheck': (await c.store.sql.get<{ p: number }>('SELECT recheck_pending AS p FROM hosts WHERE id = ?', [hostId]))!.p,
      'credit-correction': (await c.store.catalog.projectById(projectId))!.creditCorrectionMicro,
      'priority-lowering': (await c.store.catalog.projectById(projectId))!.priorityLowering,
      'output-collection': (await c.store.catalog.fileSize(orphan)) !== undefined && c.blobs.has(orphan),
      ...(staged !== undefined ? { 'abandoned-submissions': (await c.store.work.stagedBatches()).some((b) => b.id === staged) } : {}),
      ...(leftReplica !== undefined ? { 'orphaned-hosts': (await c.store.sql.get<{ status: string }>('SELECT status FROM replicas WHERE id = ?', [leftReplica]))!.status } : {}),
      ...(unreplicated !== undefined ? { 'orphaned-batches': (await c.store.work.batchesWithoutReplicas()).includes(unreplicated) } : {}),
    });
    const orphans = TEST_BACKEND === 'postgres';
    const pending = {
      'deadline-sweep': 'in_progress', cancellations: 2, 'host-recheck': 1, 'credit-correction': 1, 'priority-lowering': 0, 'output-collection': true,
      ...(orphans ? { 'abandoned-submissions': true, 'orphaned-hosts': 'in_progress', 'orphaned-batches': true } : {}),
    };
    expect(await state()).toEqual(pending);

    // The jobs' own turns, as a coordinator runs them.
    const turns = new Map<string, JobSpec['turn']>();
    // No host is online as far as these turns know.
    const edges = { onlineEverywhere: async () => new Set<number>(), onReplicasMade: () => undefined, upSince: 0 };
    addBackgroundJobs({ add: (name, spec) => turns.set(name, spec.turn) }, c, { transitionIntervalMs: 100, uploadGraceMs: 0, disconnectGraceMs: 1000 }, 1000, edges, createLogger('silent'));
    expect([...turns.keys()].sort()).toEqual(JOBS);

    for (const [job, turn] of turns) await turn(oldFence(job));
    expect(await state()).toEqual(pending);

    for (const [job, turn] of turns) await turn(newFence(job));
    expect(await state()).toEqual({
      'deadline-sweep': 'over', cancellations: 0, 'host-recheck': 0, 'credit-correction': null, 'priority-lowering': null, 'output-collection': false,
      ...(orphans ? { 'abandoned-submissions': false, 'orphaned-hosts': 'over', 'orphaned-batches': false } : {}),
    });
    if (leftReplica !== undefined) expect((await c.store.sql.get<{ outcome: string }>('SELECT outcome FROM replicas WHERE id = ?', [leftReplica]))!.outcome).toBe('no_reply');
    expect((await c.store.sql.get<{ outcome: string }>('SELECT outcome FROM replicas WHERE id = ?', [replicaId]))!.outcome).toBe('no_reply');
  });
});

const field = (p: CoordinatorProcess, msg: string, name: string) => logLines(p).find((l) => l.msg === msg)?.[name] as string;
const taken = (p: CoordinatorProcess) => logLines(p).filter((l) => l.msg === 'took a lease: this instance runs the job');

async function leasesHeld(metricsUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  return new Map([...text.matchAll(/^vg_lease_held\{job="([a-z-]+)"\} (\d)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe.skipIf(TEST_BACKEND !== 'postgres')('two coordinator processes on one PostgreSQL database', () => {
  const PASSWORD = 'leased-jobs-admin-password';
  const ARGS = [
    '--demo-workunits', '0', '--admin-password', PASSWORD, '--log-level', 'info', '--metrics-port', '0',
    // Leases that lapse 2 s after their holder dies; deadlines swept every 0.1 s; outputs nothing needs collected every second.
    '--lease-ttl-ms', '2000', '--transition-interval-ms', '100', '--upload-grace-ms', '0',
    '--http-rate-per-ip', '0', '--connect-rate-per-ip', '0', '--message-rate-per-socket', '0',
  ];
  let dataDir: string;
  let db: PostgresDatabase;
  const procs: CoordinatorProcess[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'vg-leased-'));
  });
  afterAll(async () => {
    for (const p of procs) await p.kill9();
    await db?.close();
    await dropTestDatabaseOf(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('run each job on one of them, and the survivor takes every job over when its holder is killed with SIGKILL, and does its work', { timeout: 120_000 }, async () => {
    // One data dir for both (the key and the files every instance shares), so one database.
    const a = await spawnCoordinator(dataDir, ARGS);
    procs.push(a);
    db = new PostgresDatabase({ connectionString: (await testDatabaseOf(dataDir)).url, max: 2 });
    const aName = field(a, 'coordinator listening', 'instance');
    expect(aName).toMatch(/^[^:]+:\d+:[0-9a-f]{8}$/);
    // a took every lease as it started, before it listened.
    expect(Object.fromEntries([...(await jobLeases(db))].map(([job, l]) => [job, [l.holder, l.fencing]]))).toEqual(Object.fromEntries(JOBS.map((job) => [job, [aName, 1]])));

    const b = await spawnCoordinator(dataDir, ARGS);
    procs.push(b);
    const bName = field(b, 'coordinator listening', 'instance');
    expect(bName).not.toBe(aName);
    // b tried for each lease before it listened, and got none: each job runs on a alone.
    expect(taken(b)).toEqual([]);
    expect(taken(a).map((l) => l.job).sort()).toEqual(JOBS);
    expect(Object.fromEntries(await leasesHeld(field(a, 'metrics served', 'url')))).toEqual(Object.fromEntries(JOBS.map((job) => [job, 1])));
    expect(Object.fromEntries(await leasesHeld(field(b, 'metrics served', 'url')))).toEqual(Object.fromEntries(JOBS.map((job) => [job, 0])));
    expect([...(await jobLeases(db)).values()].every((l) => l.holder === aName && l.fencing === 1)).toBe(true);

    await a.kill9();
    procs.splice(procs.indexOf(a), 1);

    // Work only the survivor can do now: a task whose deadline passes, an output nothing needs,
    // and a cancellation cut short (as if a had died in the middle of it).
    const admin = await ApiClient.withToken(b.url, 'admin', PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const { app } = await newApp(ada, 'leased');
    const submit = async (name: string, n: number, delayBoundMs: number) => {
      const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name, replication: { minQuorum: 1, targetNresults: 1, delayBoundMs }, workunits: Array.from({ length: n }, (_, i) => ({ input: i })) });
      expect(r.status).toBe(201);
      return r.body.batchId;
    };
    const late = await submit('late', 1, 1000);
    const v = await TestVolunteer.connect(b.url);
    volunteers.push(v);
    const [task] = await v.requestTasks(1);
    expect(task).toBeDefined();
    const cut = await submit('cut short', 2, 3_600_000);
    await db.run("UPDATE batches SET status = 'cancelled' WHERE id = ?", [cut]);
    const orphan = await orphanOutput(db, new BlobStore(join(dataDir, 'files')), 'survivor');

    // b takes every lease once a's lapsed, under the next fencing number, and says so.
    await waitFor('b to hold every lease', async () => [...(await jobLeases(db)).values()].every((l) => l.holder === bName && l.fencing === 2));
    await waitFor('b to log taking every lease', () => taken(b).length === JOBS.length);
    expect(Object.fromEntries(taken(b).map((l) => [l.job, [l.holder, l.fencing]]))).toEqual(Object.fromEntries(JOBS.map((job) => [job, [bName, 2]])));

    // And does the jobs' work.
    const replica = async () => (await db.get<{ status: string; outcome: string | null }>('SELECT r.status, r.outcome FROM replicas r WHERE r.task_id = ?', [task!.taskId]))!;
    await waitFor('the late task reissued by b', async () => (await replica()).outcome === 'no_reply');
    const replicasOfLate = await db.all<{ status: string }>('SELECT r.status FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?', [late]);
    expect(replicasOfLate.map((r) => r.status).sort()).toEqual(['over', 'unsent']);
    await waitFor('the output nothing needs removed by b', async () => (await db.get('SELECT 1 AS x FROM files WHERE sha256 = ?', [orphan])) === undefined);
    expect(new BlobStore(join(dataDir, 'files')).has(orphan)).toBe(false);
    await waitFor('the cancellation finished by b', async () => (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ? AND status = 'active'", [cut]))!.n === 0);
    expect(logLines(b).some((l) => l.msg === 'finishing a cancellation that was cut short' && l.batchId === cut)).toBe(true);

    // A clean stop gives every lease up at once, for the next instance to take without waiting.
    v.close();
    expect(await b.stop()).toBe(0);
    procs.splice(procs.indexOf(b), 1);
    expect([...(await jobLeases(db)).values()].every((l) => l.holder === bName && l.expiresAt === 0)).toBe(true);
  });
});
