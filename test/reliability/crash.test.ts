// Crash: kill -9 the coordinator (a real child process, on a file-backed SQLite database or, in
// the postgres project, on PostgreSQL) again and again at random moments of a 2,000-unit batch at
// quorum 2, restarting it on the same port and data dir each time, while volunteer hosts keep
// working and report again whatever was never acknowledged. Nothing acknowledged may be lost,
// nothing finished or credited twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';
import type { BatchStatus, Submitted } from '../../protocol/api.js';
import { ApiClient } from '../helpers/api-client.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { DatabaseReader } from '../helpers/database-reader.js';
import { dropTestDatabaseOf, TEST_BACKEND } from '../helpers/postgres.js';
import {
  ackProblems,
  APP_MAIN,
  creditProblems,
  doneSnapshot,
  expectedOutput,
  fetchAndVerifyLedger,
  givenBackProblems,
  integrityProblems,
  receiptProblems,
  snapshotProblems,
  workunitProblems,
} from './db-checks.js';
import { counterProblemsIn } from '../helpers/batch-counters.js';
import { HostClient } from './host-client.js';
import { seeded } from './seeded-random.js';

const WORKUNITS = 2000;
const QUORUM = 2;
/** Kills during the batch: the first right after it is submitted (replicas still being made), the rest at random progress; one more hits the submission. */
const KILLS = 10;
const ADMIN_PASSWORD = 'crash-test-admin-password';
/**
 * The whole run's budget: on PostgreSQL the same kills and checks take longer (measured on two
 * shared cores: 64–106 s there, 26–39 s on SQLite; the coordinator processes used 33 s of CPU
 * against 20 s, and the server its own; the checks after each kill 0.1–0.4 s).
 */
const TIMEOUT_MS = TEST_BACKEND === 'postgres' ? 240_000 : 150_000;
const ARGS = [
  '--demo-workunits', '0',
  // The counts below are exact (one task per host and work unit): no checks of done work units,
  // which restart.test.ts and the churn and cheater tests cover across crashes and churn.
  '--check-rate', '0',
  '--transition-interval-ms', '200',
  '--admin-password', ADMIN_PASSWORD,
  '--http-rate-per-ip', '0',
  '--connect-rate-per-ip', '0',
  '--message-rate-per-socket', '0',
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tempDirs: string[] = [];
let proc: CoordinatorProcess | undefined;
let hosts: HostClient[] = [];
let shutDown = false;

afterAll(async () => {
  shutDown = true;
  hosts.forEach((h) => h.disconnect());
  if (proc) await proc.kill9(); // a no-op if it has exited
  for (const d of tempDirs) {
    rmSync(d, { recursive: true, force: true });
    await dropTestDatabaseOf(d);
  }
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** One snapshot of the data dir's database (SQLite's file, or its PostgreSQL database), read on a connection of the test's own. */
async function readDb<T>(dataDir: string, fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
  const reader = await DatabaseReader.open(dataDir);
  try {
    return await reader.read(fn);
  } finally {
    await reader.close();
  }
}

async function waitUntil(what: string, check: () => boolean, timeoutMs: number, failed: () => unknown): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    const f = failed();
    if (f) throw f;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** What a batch that does not finish is waiting for: its open work units and the hosts' state. */
async function describeStuck(dataDir: string, hs: HostClient[]): Promise<string> {
  const rows = await readDb(dataDir, (sql) =>
    sql.all<{ workunit: number; id: number; status: string; outcome: string | null; host: number | null; v: string | null }>(
      `SELECT r.workunit_id AS workunit, r.id, r.status, r.outcome, r.host_id AS host, r.validate_state AS v FROM replicas r
       WHERE r.workunit_id IN (SELECT id FROM workunits WHERE status = 'active' ORDER BY id LIMIT 20) ORDER BY r.workunit_id, r.id`,
    ),
  );
  const open = new Map<number, unknown[]>();
  for (const { workunit, ...replica } of rows) open.set(workunit, [...(open.get(workunit) ?? []), replica]);
  const state = hs.map((h) => `${h.opts.name} host ${h.hostId}: connected ${h.connected}, held ${h.held.map((t) => t.taskId)}, pending ${h.pending.map((r) => r.taskId)}`);
  return `open work units: ${JSON.stringify([...open].map(([id, replicas]) => ({ id, replicas })), null, 1)}\n${state.join('\n')}`;
}

describe('coordinator crashes', () => {
  it(`loses nothing acknowledged over ${KILLS + 1} kill -9s around a ${WORKUNITS}-unit batch`, async () => {
    const started = Date.now();
    const rnd = seeded('crash');
    const dataDir = tempDir('vg-crash-');
    const appDir = tempDir('vg-crash-apps-');

    proc = await spawnCoordinator(dataDir, ARGS);
    const url = proc.url;
    const restartArgs = [...ARGS, '--port', new URL(url).port];
    const coordinatorKey = ((await (await fetch(`${url}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string }).coordinatorKey;

    // A researcher's project with a trivial app, and volunteers in two teams.
    const admin = await ApiClient.withToken(url, 'admin', ADMIN_PASSWORD);
    const project = await admin.post<{ id: number }>('/projects', { name: 'crash' });
    const app = await admin.post<{ id: number }>(`/projects/${project.body.id}/apps`, { name: 'affine' });
    expect(app.status, app.text).toBe(201);
    const version = await admin.upload(`/apps/${app.body.id}/versions`, [{ name: 'main.js', content: APP_MAIN }]);
    expect(version.status, version.text).toBe(201);
    const account = async (name: string, team: string) => {
      const r = await fetch(`${url}/api/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, team }) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { accountKey: string }).accountKey;
    };
    const [ada, bob, cy] = [await account('ada', 'red'), await account('bob', 'blue'), await account('cy', 'red')];
    hosts = [
      new HostClient({ name: 'ada-1', accountKey: ada, appDir }),
      new HostClient({ name: 'ada-2', accountKey: ada, appDir }),
      new HostClient({ name: 'bob-1', accountKey: bob, appDir }),
      new HostClient({ name: 'bob-2', accountKey: bob, appDir }),
      new HostClient({ name: 'cy-1', accountKey: cy, appDir }),
      new HostClient({ name: 'anonymous', appDir }),
    ];

    // Kill 0 hits the submission itself; the researcher submits again with the same client key
    // and gets one batch, the one acknowledged if the first reply made it out.
    const batch = {
      name: 'crash',
      clientKey: 'crash-batch',
      replication: { minQuorum: QUORUM, targetNresults: QUORUM },
      workunits: Array.from({ length: WORKUNITS }, (_, x) => ({ input: { x } })),
    };
    const crashLog: string[] = [];
    const firstTry = admin.post<Submitted>(`/apps/${app.body.id}/batches`, batch).catch(() => undefined);
    await sleep(rnd.between(0, 500));
    await proc.kill9();
    const firstReply = await firstTry;
    proc = await spawnCoordinator(dataDir, restartArgs);
    const discarded = proc.output.join('').includes('discarded a batch whose submission never finished');
    crashLog.push(`kill during the submission (reply ${firstReply ? firstReply.status : 'lost'}${discarded ? ', staged batch discarded' : ''}), ${Date.now() - started} ms`);
    // As docs/api.md says to: a submission a crash cut short may still count as in progress
    // (409) until the coordinator clears it — at once on SQLite, once its lease lapses on PostgreSQL.
    let submitted = await admin.post<Submitted>(`/apps/${app.body.id}/batches`, batch);
    for (const until = Date.now() + 60_000; submitted.status === 409 && Date.now() < until; ) {
      await sleep(1_000);
      submitted = await admin.post<Submitted>(`/apps/${app.body.id}/batches`, batch);
    }
    if (firstReply?.status === 201) {
      expect(submitted.status, submitted.text).toBe(200);
      expect(submitted.body.batchId).toBe(firstReply.body.batchId);
    } else expect([200, 201], submitted.text).toContain(submitted.status);
    expect(submitted.body.workunits).toBe(WORKUNITS);
    const batchId = submitted.body.batchId;
    expect(await readDb(dataDir, (sql) => sql.all('SELECT id FROM batches'))).toEqual([{ id: batchId }]);

    // Progress as the researcher sees it; unanswered while the coordinator is down.
    let done = 0;
    let finished = false;
    const failures: unknown[] = [];
    const poller = (async () => {
      while (!finished && !shutDown) {
        try {
          const s = await admin.get<BatchStatus>(`/batches/${batchId}`);
          if (s.status === 200) done = s.body.workunits.done;
        } catch {
          // down: try again
        }
        if (done === WORKUNITS) finished = true;
        await sleep(200);
      }
    })();

    // Each host works, and after a crash reconnects (same key) and reports what is pending.
    const stop = () => finished || shutDown || failures.length > 0;
    const supervise = async (h: HostClient) => {
      while (!stop()) {
        if (!h.connected) {
          try {
            await h.connect(url);
          } catch (e) {
            if (/changed/.test(String(e))) throw e;
            await sleep(100);
            continue;
          }
        }
        await h.work({ stop, batch: 8, random: () => rnd.next(), giveBackRate: 0.05 });
      }
      h.disconnect();
    };
    const working = hosts.map((h) => supervise(h).catch((e: unknown) => void failures.push(e)));
    const failed = () => failures[0];

    const allAcks = () => hosts.flatMap((h) => h.acks);
    const accepted = () => hosts.reduce((n, h) => n + h.acks.filter((a) => a.status === 'accepted').length, 0);
    const points = [0, ...Array.from({ length: KILLS - 1 }, () => rnd.between(0.05, 0.9)).sort((a, b) => a - b)];
    const snapshots: Map<number, string>[] = [];

    for (const point of points) {
      if (point === 0) await sleep(rnd.between(0, 400));
      else {
        await waitUntil(`${Math.round(point * 100)}% of the results`, () => accepted() >= point * WORKUNITS * QUORUM, 60_000, failed);
        await sleep(rnd.between(0, 250));
      }
      expect(finished, 'the batch finished before every kill').toBe(false);
      await proc.kill9();
      crashLog.push(`kill at ${accepted()} accepted results, ${Date.now() - started} ms`);

      // The dead coordinator's database, as it was left: whole, and holding everything acknowledged.
      await readDb(dataDir, async (sql) => {
        expect(await integrityProblems(sql)).toEqual([]);
        expect(await ackProblems(sql, allAcks())).toEqual([]);
        expect(await givenBackProblems(sql, hosts.flatMap((h) => h.givenBack))).toEqual([]);
        expect(await creditProblems(sql)).toEqual([]);
        expect(await counterProblemsIn(sql)).toEqual([]);
        expect(await workunitProblems(sql)).toEqual([]);
        expect((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ?', [batchId]))!.n).toBe(WORKUNITS);
        const snap = await doneSnapshot(sql);
        if (snapshots.length > 0) expect(snapshotProblems(snapshots[snapshots.length - 1]!, snap)).toEqual([]);
        snapshots.push(snap);
      });

      proc = await spawnCoordinator(dataDir, restartArgs);
      expect(proc.url).toBe(url);
    }

    await waitUntil('the batch to complete', () => finished, 60_000, failed).catch(async (e: unknown) => {
      const p = proc!;
      await p.kill9();
      console.log(await describeStuck(dataDir, hosts), p.output.join('').split('\n').filter((l) => /warn|error/.test(l)).slice(-20).join('\n'));
      throw e;
    });
    await Promise.all(working);
    expect(failures).toEqual([]);
    await poller;

    // The public ledger verifies with the key the coordinator had from the start.
    const ledger = await fetchAndVerifyLedger(url, coordinatorKey);
    expect(ledger.problem).toBeUndefined();
    expect(ledger.entries).toHaveLength(WORKUNITS * QUORUM);

    // The researcher's download: each work unit once, with the right output.
    const results = await admin.get<string>(`/batches/${batchId}/results`);
    expect(results.status).toBe(200);
    const lines = results.text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: unknown });
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: WORKUNITS }, (_, i) => i));
    expect(lines.filter((l) => l.status !== 'done' || JSON.stringify(l.output) !== JSON.stringify(expectedOutput({ x: l.seq })))).toEqual([]);

    expect(await proc.stop()).toBe(0);

    const acks = allAcks();
    await readDb(dataDir, async (sql) => {
      expect(await integrityProblems(sql)).toEqual([]);
      expect(await sql.all('SELECT status, COUNT(*) AS n FROM workunits GROUP BY status')).toEqual([{ status: 'done', n: WORKUNITS }]);
      expect(await workunitProblems(sql)).toEqual([]);
      // Every acknowledged result is there as reported; given-back tasks stayed given back.
      expect(await ackProblems(sql, acks)).toEqual([]);
      expect(await givenBackProblems(sql, hosts.flatMap((h) => h.givenBack))).toEqual([]);
      // Done once: what was done at any crash is still done the same way.
      const final = await doneSnapshot(sql);
      for (const s of snapshots) expect(snapshotProblems(s, final)).toEqual([]);
      // Credit once: one ledger row per valid replica, totals are the ledger's sums.
      expect(await sql.get("SELECT COUNT(*) AS n FROM replicas WHERE validate_state = 'valid'")).toEqual({ n: WORKUNITS * QUORUM });
      expect(await sql.get('SELECT COUNT(*) AS n, COUNT(DISTINCT replica_id) AS d FROM credit_ledger')).toEqual({ n: WORKUNITS * QUORUM, d: WORKUNITS * QUORUM });
      expect(await creditProblems(sql)).toEqual([]);
      expect(await receiptProblems(sql, hosts.flatMap((h) => h.receipts))).toEqual([]);
      expect((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM teams WHERE total_credit_micro > 0'))!.n).toBe(2);
    });

    // Every result was accepted once (or, when that reply was lost, recognised as a duplicate
    // when reported again); nothing was refused.
    const acceptedIds = acks.filter((a) => a.status === 'accepted').map((a) => a.taskId);
    expect(new Set(acceptedIds).size).toBe(acceptedIds.length);
    expect(new Set(acks.map((a) => a.taskId)).size).toBe(WORKUNITS * QUORUM);
    expect(acks.filter((a) => a.status === 'rejected')).toEqual([]);

    const count = (s: string) => acks.filter((a) => a.status === s).length;
    console.log(
      `[crash] seed ${rnd.seed}: ${crashLog.length} kill -9s and restarts; ${acks.length} result acks (${count('accepted')} accepted, ` +
        `${count('duplicate')} duplicates after lost replies), ${hosts.flatMap((h) => h.givenBack).filter((g) => g.status === 'given_back').length} given back, ` +
        `${hosts.reduce((n, h) => n + h.receipts.length, 0)} credit receipts pushed, ${hosts.reduce((n, h) => n + h.connections, 0)} connections; ` +
        `${Date.now() - started} ms\n  ${crashLog.join('\n  ')}`,
    );
  }, TIMEOUT_MS);
});
