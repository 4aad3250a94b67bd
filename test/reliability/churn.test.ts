// Churn: volunteers join and leave at random (seeded) during a batch at quorum 2 — some vanish
// mid-task for good, some come back late (same key) with their results, some drop out briefly,
// some join late, one stays connected and never answers. Every work unit completes correctly;
// the tasks of vanished hosts are reissued after the grace period (or, for the silent one, the
// deadline); late results count while their work unit is open and are refused once it is done.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../../protocol/messages.js';
import { DatabaseReader } from '../helpers/database-reader.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { ackProblems, APP_MAIN, creditProblems, fetchAndVerifyLedger, integrityProblems, workunitProblems } from './db-checks.js';
import { counterProblemsIn } from '../helpers/batch-counters.js';
import { HostClient, type ResultAckRecord } from './host-client.js';
import { seeded } from './seeded-random.js';

const WORKUNITS = 400;
const QUORUM = 2;
const GRACE_MS = 500;
const DEADLINE_MS = 4000;
// How late the grace timer may fire on a loaded machine before the checks below that tell the
// grace period from the deadline apart say nothing (and are skipped, with a warning).
const STALL_SLACK_MS = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let coordinator: TestCoordinator | undefined;
let reader: DatabaseReader | undefined;
let appDir: string | undefined;
const hosts: HostClient[] = [];
let shutDown = false;

afterAll(async () => {
  shutDown = true;
  hosts.forEach((h) => h.disconnect());
  await reader?.close();
  await coordinator?.dispose();
  if (appDir) rmSync(appDir, { recursive: true, force: true });
});

interface Departure {
  host: HostClient;
  tasks: Task[];
  leftAt: number;
}

describe('volunteer churn', () => {
  it('completes a batch while volunteers vanish, return late and join late', async () => {
    const started = Date.now();
    const rnd = seeded('churn');
    // Checks on, as in production: done work units sent again under churn too.
    coordinator = await startTestCoordinator({ disconnectGraceMs: GRACE_MS, transitionIntervalMs: 100, checkRate: 0.05 });
    const c = coordinator;
    appDir = mkdtempSync(join(tmpdir(), 'vg-churn-apps-'));
    const dir = appDir;
    // The test's own connection: on SQLite the coordinator's file read-only, on PostgreSQL its database.
    reader = await DatabaseReader.open(c.dataDir);
    const db = reader;

    const projectId = await c.apps.createProject({ name: 'churn' });
    const app = await c.apps.createApp(projectId, { name: 'affine' });
    await c.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: Buffer.from(APP_MAIN) }] });
    const { batchId } = await c.submission.submitBatch({
      appId: app.id,
      name: 'churn',
      replication: { minQuorum: QUORUM, targetNresults: QUORUM, delayBoundMs: DEADLINE_MS },
      workunits: Array.from({ length: WORKUNITS }, (_, x) => ({ input: { x } })),
    });

    let n = 0;
    const host = async (role: string) => {
      const { accountKey } = await c.registry.createAccount({ name: `${role}-${++n}`, ...(n % 3 === 0 ? {} : { team: n % 3 === 1 ? 'red' : 'blue' }) });
      const h = new HostClient({ name: `${role}-${n}`, accountKey, appDir: dir });
      hosts.push(h);
      return h;
    };

    // Watched every 20 ms: when each task was first seen given up ("no reply", by the grace period
    // or a deadline; the time the read came back, never before it was so), which work units are
    // done, and the tasks of those (a task names no work unit). The pacing checks below run in plain
    // callbacks: they read the last look.
    const noReplyAt = new Map<number, number>();
    let doneWorkunits = new Set<number>();
    let doneTasks = new Set<number>();
    const look = () =>
      db.read(async (sql) => {
        const noReply = await sql.all<{ id: number }>("SELECT task_id AS id FROM replicas WHERE outcome = 'no_reply' AND task_id IS NOT NULL");
        const done = await sql.all<{ id: number }>("SELECT id FROM workunits WHERE batch_id = ? AND status = 'done'", [batchId]);
        const tasks = await sql.all<{ taskId: number }>(
          "SELECT r.task_id AS taskId FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ? AND w.status = 'done' AND r.task_id IS NOT NULL",
          [batchId],
        );
        const at = Date.now();
        for (const { id } of noReply) if (!noReplyAt.has(id)) noReplyAt.set(id, at);
        doneWorkunits = new Set(done.map((w) => w.id));
        doneTasks = new Set(tasks.map((t) => t.taskId));
      });
    let watching = true;
    await look();

    const doneCount = () => doneWorkunits.size;
    const progress = () => doneCount() / WORKUNITS;
    const allDone = () => doneCount() === WORKUNITS;
    const failures: unknown[] = [];
    const stop = () => allDone() || shutDown || failures.length > 0;
    const until = async (what: string, check: () => boolean, timeoutMs = 30_000) => {
      const end = Date.now() + timeoutMs;
      while (!check()) {
        if (failures.length > 0 || shutDown) throw new Error(`gave up waiting for ${what}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    };
    const joinAt = async (share: number) => (await until(`${Math.round(share * 100)}% of the batch`, () => progress() >= share));
    const pace = () => rnd.int(2, 15);
    const role = (p: Promise<void>) => p.catch((e: unknown) => void failures.push(e));
    // A failed look stops everyone (stop() sees the failure) instead of leaving them on a stale one.
    const monitor = role((async () => {
      while (watching) {
        await look();
        await sleep(20);
      }
    })());
    const workUntilDone = (h: HostClient) => h.work({ stop, batch: 4, computeDelayMs: pace });

    /** Takes a few tasks, computes `computed` of them, and disconnects. */
    const takeAndLeave = async (h: HostClient, computed: 'all' | 'some'): Promise<Departure> => {
      await h.connect(c.url);
      const tasks = await h.requestTasks(rnd.int(2, 4));
      h.held.push(...tasks);
      const k = computed === 'all' ? tasks.length : rnd.int(0, tasks.length - 1);
      for (let i = 0; i < k; i++) h.pending.push(await h.compute(h.held.shift()!));
      h.disconnect();
      return { host: h, tasks, leftAt: Date.now() };
    };

    // Steady volunteers, there from start to end.
    const steady = await Promise.all([0, 1, 2].map(async () => (await host('steady'))));
    const steadyRuns = steady.map((h) => role((async () => {
      await h.connect(c.url);
      await workUntilDone(h);
    })()));

    // Flaky ones drop their connection now and then, mid-task, and are back within the grace period.
    const flaky = await Promise.all([0, 1].map(async () => (await host('flaky'))));
    const flakyAway: number[] = [];
    const flakyRuns = flaky.map((h) => role((async () => {
      while (!stop()) {
        await h.connect(c.url);
        const until = Date.now() + rnd.int(200, 1200);
        await h.work({ stop: () => stop() || Date.now() > until, batch: 4, computeDelayMs: pace });
        if (stop()) break;
        h.disconnect();
        const away = rnd.int(20, 150);
        flakyAway.push(away);
        await sleep(away);
      }
    })()));

    // Vanishers leave mid-task and never come back.
    const vanished: Departure[] = [];
    const vanisherRuns = [0, 1, 2].map(() => role((async () => {
      const h = await host('vanisher');
      await joinAt(rnd.between(0, 0.4));
      vanished.push(await takeAndLeave(h, 'some'));
    })()));

    // Returners: back after the grace period while their work units are still open, back after
    // those are done, or back within the grace period; each reports what it computed.
    const lateOpen: { departure: Departure; acks: ResultAckRecord[] }[] = [];
    const lateOpenRuns = [0, 1].map(() => role((async () => {
      const h = await host('late-open');
      await joinAt(rnd.between(0, 0.2));
      const d = await takeAndLeave(h, 'all');
      await until('its tasks to be reissued', () => d.tasks.every((t) => noReplyAt.has(t.taskId)));
      await h.connect(c.url);
      const before = h.acks.length;
      await h.report(h.pending);
      lateOpen.push({ departure: d, acks: h.acks.slice(before) });
      await workUntilDone(h);
    })()));
    let lateFinished: { departure: Departure; acks: ResultAckRecord[] } | undefined;
    const lateFinishedRun = role((async () => {
      const h = await host('late-finished');
      await joinAt(rnd.between(0, 0.2));
      const d = await takeAndLeave(h, 'all');
      await until('its work units to finish', () => d.tasks.every((t) => doneTasks.has(t.taskId)), 45_000);
      await h.connect(c.url);
      await h.report(h.pending);
      lateFinished = { departure: d, acks: [...h.acks] };
      h.disconnect();
    })());
    let withinGrace: Departure | undefined;
    let withinGraceBackAt = 0;
    const withinGraceRun = role((async () => {
      const h = await host('within-grace');
      await joinAt(rnd.between(0.1, 0.4));
      withinGrace = await takeAndLeave(h, 'all');
      await sleep(rnd.int(20, 150));
      await h.connect(c.url);
      withinGraceBackAt = Date.now();
      await workUntilDone(h);
    })());

    // A silent host: stays connected, takes tasks and never answers until the batch is done.
    let silent: { departure: Departure; acks: ResultAckRecord[] } | undefined;
    const silentRun = role((async () => {
      const h = await host('silent');
      await h.connect(c.url);
      const tasks = await h.requestTasks(3);
      for (const t of tasks) h.pending.push(await h.compute(t));
      await until('the batch to finish', () => allDone(), 45_000);
      await h.report(h.pending);
      silent = { departure: { host: h, tasks, leftAt: Date.now() }, acks: [...h.acks] };
      h.disconnect();
    })());

    // Late joiners: new hosts once the batch is well under way.
    const lateJoinRuns = [0, 1].map(() => role((async () => {
      const h = await host('late-joiner');
      await joinAt(rnd.between(0.4, 0.7));
      await h.connect(c.url);
      await workUntilDone(h);
    })()));

    const everyone = [...steadyRuns, ...flakyRuns, ...vanisherRuns, ...lateOpenRuns, lateFinishedRun, withinGraceRun, silentRun, ...lateJoinRuns];
    await Promise.race([Promise.all(everyone), until('the batch to finish', allDone, 45_000).catch((e: unknown) => void failures.push(e))]);
    await Promise.all(everyone);
    watching = false;
    await monitor;
    expect(failures).toEqual([]);
    hosts.forEach((h) => h.disconnect());

    // Every work unit completed with the right canonical output. What follows reads one snapshot
    // of the database: the checks, and the rows the acknowledgements are compared with.
    expect((await c.store.reports.workunitCounts(batchId))).toMatchObject({ done: WORKUNITS, active: 0, failed: 0 });
    type Row = { id: number; wu: number; kind: string; status: string; outcome: string | null; v: string | null; hostId: number };
    const seen = await db.read(async (sql) => ({
      workunitProblems: await workunitProblems(sql),
      integrityProblems: await integrityProblems(sql),
      creditProblems: await creditProblems(sql),
      counterProblems: await counterProblemsIn(sql),
      ackProblems: await ackProblems(sql, hosts.flatMap((h) => h.acks)),
      replicas: await sql.all<Row & { taskId: number | null }>('SELECT id, task_id AS taskId, workunit_id AS wu, kind, status, outcome, validate_state AS v, host_id AS hostId FROM replicas ORDER BY id'),
      workunits: await sql.all<{ id: number; status: string; at: number | null }>('SELECT id, status, finished_at AS at FROM workunits'),
      credited: await sql.all<{ id: number; n: number }>('SELECT replica_id AS id, COUNT(*) AS n FROM credit_ledger GROUP BY replica_id'),
    }));
    expect(seen.workunitProblems).toEqual([]);
    expect(seen.integrityProblems).toEqual([]);

    const replicas = new Map(seen.replicas.map((r) => [r.taskId, r]));
    const replica = (id: number) => replicas.get(id)!;
    const finishedAt = new Map(seen.workunits.map(({ id, ...w }) => [id, w]));
    const credited = new Map(seen.credited.map((r) => [r.id, r.n]));
    // A task given up is made again; a check given up leaves nothing to redo (its work unit is done).
    const reissued = (t: Task) => {
      const r = replica(t.taskId);
      return r.kind === 'check' || seen.replicas.some((o) => o.wu === r.wu && o.id > r.id);
    };

    // Vanished hosts' unfinished tasks: given up after the grace period, well before their
    // deadline, and reissued.
    // (A task that was already near its deadline when its host left says nothing of the grace.)
    let reissuedByGrace = 0;
    let tooLateToTell = 0;
    for (const d of vanished) {
      for (const t of d.tasks) {
        const at = noReplyAt.get(t.taskId);
        expect(at, `task ${t.taskId} of a vanished host was never given up`).toBeDefined();
        expect(at! - d.leftAt).toBeGreaterThanOrEqual(GRACE_MS);
        expect(reissued(t), `task ${t.taskId} was not reissued`).toBe(true);
        if (d.leftAt + GRACE_MS + STALL_SLACK_MS < t.deadline) {
          expect(at!).toBeLessThan(t.deadline);
          reissuedByGrace++;
        } else tooLateToTell++;
      }
    }
    if (tooLateToTell > 0) console.warn(`${tooLateToTell} tasks of vanished hosts were near their deadline when their host left: the machine was slow; not counted`);
    // The silent host's tasks: given up at their deadline (it was online: no grace period), reissued.
    expect(silent).toBeDefined();
    for (const t of silent!.departure.tasks) {
      const at = noReplyAt.get(t.taskId);
      expect(at, `task ${t.taskId} of the silent host was never given up`).toBeDefined();
      expect(at!).toBeGreaterThanOrEqual(t.deadline);
      expect(reissued(t), `task ${t.taskId} was not reissued`).toBe(true);
    }
    // A host back within the grace period kept its tasks.
    // (Only if it really was back in time: a machine stalled for the whole grace period says nothing.)
    // Its tasks may still pass their deadline before it reports them, if the machine is slow.
    if (withinGraceBackAt - withinGrace!.leftAt < GRACE_MS) {
      for (const t of withinGrace!.tasks) {
        const at = noReplyAt.get(t.taskId);
        expect(at === undefined || at >= t.deadline, `task ${t.taskId} of a host back within the grace was given up at ${at}, before its deadline ${t.deadline}`).toBe(true);
      }
    } else {
      console.warn(`the within-grace host came back after ${withinGraceBackAt - withinGrace!.leftAt} ms: the machine stalled; check skipped`);
    }

    // Every acknowledgement agrees with when its work unit finished: accepted while open (and
    // then counted: valid and credited), refused as finished only once it was done.
    const acks = hosts.flatMap((h) => h.acks);
    expect(seen.ackProblems).toEqual([]);
    const inconsistent: string[] = [];
    for (const a of acks) {
      const r = replica(a.taskId);
      const wu = finishedAt.get(r.wu)!;
      if (a.status === 'accepted') {
        // A check is a done work unit sent again: its results come after the finish by design.
        if (wu.at !== null && wu.at < a.sentAt && r.kind !== 'check') inconsistent.push(`task ${a.taskId} accepted at ${a.sentAt}+, its work unit finished at ${wu.at}`);
        if (r.v !== 'valid' || (credited.get(r.id) ?? 0) !== 1) inconsistent.push(`accepted task ${a.taskId} was not counted: ${r.v}`);
      } else if (a.code === 'workunit_finished' || a.code === 'aborted') {
        if (wu.status !== 'done' || wu.at === null || wu.at > a.ackedAt) inconsistent.push(`task ${a.taskId} refused (${a.code}) at ${a.ackedAt}, its work unit: ${JSON.stringify(wu)}`);
      } else inconsistent.push(`task ${a.taskId}: ${a.status} ${a.code ?? ''}`);
    }
    expect(inconsistent).toEqual([]);

    // Late results: those back after the grace period, while open, were accepted and counted…
    const lateAccepted = lateOpen.flatMap((l) => l.acks).filter((a) => a.status === 'accepted');
    expect(lateAccepted.length).toBeGreaterThan(0);
    for (const a of lateAccepted) expect(noReplyAt.get(a.taskId)!).toBeLessThan(a.sentAt);
    // …those after their work units finished were refused as such (a check, a done work unit
    // sent again, takes its result whenever it comes).
    const refusal = (t: Task) => (replica(t.taskId).kind === 'check' ? undefined : 'workunit_finished');
    expect(lateFinished!.acks.map((a) => a.code)).toEqual(lateFinished!.departure.tasks.map(refusal));
    expect(silent!.acks.map((a) => a.code)).toEqual(silent!.departure.tasks.map(refusal));

    // Credit: one ledger row per valid replica, totals are the ledger's sums, the chain verifies.
    expect(seen.creditProblems).toEqual([]);
    expect(seen.counterProblems).toEqual([]);
    const ledger = await fetchAndVerifyLedger(c.url, steady[0]!.coordinatorKey!);
    expect(ledger.problem).toBeUndefined();
    expect(ledger.entries.length).toBe(seen.replicas.filter((r) => r.v === 'valid').length);

    const byOutcome = new Map<string | null, number>();
    for (const r of seen.replicas) byOutcome.set(r.outcome, (byOutcome.get(r.outcome) ?? 0) + 1);
    const outcomes = [...byOutcome].map(([outcome, n]) => ({ outcome, n })).sort((x, y) => (x.outcome ?? '').localeCompare(y.outcome ?? ''));
    const count = (s: string) => acks.filter((a) => (a.code ?? a.status) === s).length;
    console.log(
      `[churn] seed ${rnd.seed}: ${hosts.length} hosts, ${hosts.reduce((k, h) => k + h.connections, 0)} connections ` +
        `(flaky absences ${flakyAway.join(', ')} ms); ${reissuedByGrace} tasks reissued after the grace period, ${silent!.departure.tasks.length} at the deadline; ` +
        `${lateAccepted.length} late results accepted while open, ${count('workunit_finished')} refused as finished, ${count('aborted')} as aborted; ` +
        `${count('accepted')} accepted in all; replicas ${outcomes.map((o) => `${o.outcome}: ${o.n}`).join(', ')}; ${Date.now() - started} ms`,
    );
  }, 90_000);
});
