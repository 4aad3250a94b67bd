// What an instance killed with SIGKILL leaves behind in the database, taken up by another one
// without waiting for a restart: the tasks of hosts it had that never came back (its disconnect
// grace timers died with it), and the replicas of a batch it was making. Real coordinator
// processes on one PostgreSQL database and one Redis (test/helpers/cluster.ts).
import { request } from 'node:http';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { ApiClient, newApp, newResearcher, type Submitted } from '../helpers/api-client.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { logLines, spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { skipRedisTests } from '../helpers/redis.js';
import { TEST_ADMIN_PASSWORD, waitFor } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const skip = (await skipPostgresTests('orphans')) || (await skipRedisTests('orphans'));
const GRACE_MS = 3_000;
const LEASE_TTL_MS = 2_000;
const HOUR = 3_600_000;

describe.skipIf(skip)('an instance killed with SIGKILL', () => {
  let cluster: TestCluster | undefined;
  let db: PostgresDatabase | undefined;
  let locker: pg.Client | undefined;
  const volunteers: TestVolunteer[] = [];
  afterEach(async () => {
    volunteers.splice(0).forEach((v) => v.close());
    await locker?.end().catch(() => undefined);
    await db?.close();
    await cluster?.close();
    locker = db = cluster = undefined;
  });

  /** A batch of `n` work units whose tasks nothing but giving their host up reissues in time; resolves once its replicas are made. */
  async function submitHeld(ada: ApiClient, appId: number, db: PostgresDatabase, n: number): Promise<void> {
    // Deadlines and hold timeouts an hour away.
    const r = await ada.post<Submitted>(`/apps/${appId}/batches`, { name: 'held', replication: { minQuorum: 1, targetNresults: 1, delayBoundMs: HOUR }, workunits: Array.from({ length: n }, (_, i) => ({ input: i })) });
    expect(r.status).toBe(201);
    await waitFor('the replicas', async () => (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM replicas WHERE status = 'unsent'"))!.n === n);
  }

  const states = async (db: PostgresDatabase, taskIds: number[]) =>
    (await db.all<{ status: string; outcome: string | null }>(`SELECT status, outcome FROM replicas WHERE task_id IN (${taskIds.map(() => '?').join(', ')}) ORDER BY id`, taskIds)).map((x) => `${x.status}/${x.outcome}`);

  async function start(args: string[], instances = 2): Promise<{ a: CoordinatorProcess; b: CoordinatorProcess; ada: ApiClient; appId: number; db: PostgresDatabase }> {
    cluster = await startCluster(instances, ['--lease-ttl-ms', String(LEASE_TTL_MS), ...args]);
    const [a, b] = cluster.instances as [CoordinatorProcess, CoordinatorProcess];
    db = new PostgresDatabase({ connectionString: cluster.database.url, max: 2 });
    const admin = await ApiClient.withToken(a.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const { app } = await newApp(ada, 'orphans');
    return { a, b, ada, appId: app.id, db };
  }

  it('has another instance give up the tasks of its hosts that never came back, after the grace period; a host that came back keeps its own', { timeout: 90_000 }, async () => {
    const { a, b, ada, appId, db } = await start(['--disconnect-grace-ms', String(GRACE_MS)]);
    await submitHeld(ada, appId, db, 4);

    const gone = await TestVolunteer.connect(a.url);
    const back = await TestVolunteer.connect(a.url);
    volunteers.push(gone, back);
    const goneTasks = (await gone.requestTasks(2)).map((t) => t.taskId);
    const backTasks = (await back.requestTasks(2)).map((t) => t.taskId);
    expect([goneTasks.length, backTasks.length]).toEqual([2, 2]);

    // a dies with both hosts on it; one never comes back, the other is back on b at once.
    await a.kill9();
    const killedAt = Date.now();
    gone.close();
    back.close();
    const backOnB = await TestVolunteer.connect(b.url, { seed: back.seed });
    volunteers.push(backOnB);
    expect(backOnB.hostId).toBe(back.hostId);

    await waitFor('the tasks of the host that never came back given up by b', async () => (await states(db, goneTasks)).every((s) => s === 'over/no_reply'), 30_000);
    const tookMs = Date.now() - killedAt;
    // Not before its grace period (counted from a's death at the earliest), and well before any deadline.
    expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS);
    expect(tookMs).toBeLessThan(GRACE_MS + 4 * LEASE_TTL_MS);
    // Logged after the commit: it may reach the test's pipe a moment after the database changed.
    const gaveUp = () => logLines(b).filter((l) => l.msg === 'gave up the tasks of a host whose instance is gone').map((l) => [l.hostId, l.tasks]);
    await waitFor('b to log it', () => gaveUp().length > 0);
    expect(gaveUp()).toEqual([[gone.hostId, 2]]);
    // Reissued: each of those work units has a new replica for someone else.
    expect((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM replicas WHERE status = 'unsent'"))!.n).toBe(2);

    // The host that came back keeps its tasks, however many turns the job takes meanwhile, and
    // names b; the one given up, holding nothing now, names no instance any more.
    await waitFor('another grace period', () => Date.now() - killedAt > 2 * GRACE_MS + LEASE_TTL_MS);
    expect(await states(db, backTasks)).toEqual(['in_progress/null', 'in_progress/null']);
    const instanceOf = async (hostId: number) => (await db.get<{ instance: string | null }>('SELECT instance FROM hosts WHERE id = ?', [hostId]))!.instance;
    expect(await instanceOf(gone.hostId)).toBeNull();
    expect(await instanceOf(back.hostId)).toBe(logLines(b).find((l) => l.msg === 'coordinator listening')?.instance);
  });

  it('gives the hosts of an instance that died while no other ran their grace period from when one starts', { timeout: 90_000 }, async () => {
    const grace = 6_000;
    const { a, ada, appId, db } = await start(['--disconnect-grace-ms', String(grace)], 1);
    await submitHeld(ada, appId, db, 4);
    const gone = await TestVolunteer.connect(a.url);
    const back = await TestVolunteer.connect(a.url);
    volunteers.push(gone, back);
    const goneTasks = (await gone.requestTasks(2)).map((t) => t.taskId);
    const backTasks = (await back.requestTasks(2)).map((t) => t.taskId);

    // The only instance dies, and stays down longer than its lease and the grace period: its
    // hosts have had nowhere to come back to.
    await a.kill9();
    const killedAt = Date.now();
    gone.close();
    back.close();
    await waitFor('the lease and the grace period to pass', () => Date.now() - killedAt > grace + LEASE_TTL_MS + 500);
    const again = await spawnCoordinator(cluster!.dataDir, [
      '--database-url', cluster!.database.url, '--admin-password', TEST_ADMIN_PASSWORD, '--demo-workunits', '0',
      '--disconnect-grace-ms', String(grace), '--lease-ttl-ms', String(LEASE_TTL_MS), '--transition-interval-ms', '200',
    ]);
    cluster!.instances.push(again);
    const startedAt = Date.now();
    const backAgain = await TestVolunteer.connect(again.url, { seed: back.seed });
    volunteers.push(backAgain);

    // A grace period from the start, as a start has always given: one host is back within it and
    // keeps its tasks, the other's are given up once it is over.
    await waitFor('the tasks of the host that never came back given up', async () => (await states(db, goneTasks)).every((s) => s === 'over/no_reply'), 30_000);
    expect(Date.now() - startedAt).toBeGreaterThan(grace / 2);
    expect(await states(db, backTasks)).toEqual(['in_progress/null', 'in_progress/null']);
  });

  it('has another instance make the replicas of a batch it was making, none twice', { timeout: 180_000 }, async () => {
    // The body comes in bursts the test paces (no slow-client cut-off in the way).
    const { a, b, ada, appId, db } = await start(['--body-timeout-ms', '0']);
    // 2,000 work units a chunk (INGEST_CHUNK) in and out: streamed as NDJSON, so the test knows
    // which work units a's second chunk of replicas needs, and holds one of them before a commits.
    const N = 4001;
    const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${from + i}\n`).join('');
    const req = request(`${a.url}/api/v1/apps/${appId}/batches?name=killed&minQuorum=1&targetNresults=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${ada.token}` },
    });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.once('error', reject);
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
    const workunits = async (batchId: number) => (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ?', [batchId]))!.n;
    // The line after the 2,000th closes the first chunk.
    req.write(lines(0, 2001));
    let batchId = 0;
    await waitFor('the first chunk in', async () => {
      batchId = (await db.get<{ id: number }>("SELECT id FROM batches WHERE name = 'killed'"))?.id ?? 0;
      return batchId > 0 && (await workunits(batchId)) === 2000;
    });
    req.write(lines(2001, 4001));
    await waitFor('the second chunk in', async () => (await workunits(batchId)) === 4000);

    // The first work unit of the second chunk, held: a's replicas for it wait (their foreign key).
    locker = new pg.Client({ connectionString: cluster!.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    // (Found first, then locked alone: FOR UPDATE under an OFFSET locks the rows skipped too.)
    const ids = (await db.all<{ id: number }>('SELECT id FROM workunits WHERE batch_id = ? ORDER BY id LIMIT 2001', [batchId])).map((w) => Number(w.id));
    const firstChunkEnd = ids[1999]!;
    expect((await locker.query('SELECT id FROM workunits WHERE id = $1 FOR UPDATE', [ids[2000]])).rowCount).toBe(1);
    req.end(lines(4001, N));
    const submitted = await response;
    expect(submitted.status).toBe(201);
    expect(JSON.parse(submitted.body)).toMatchObject({ batchId, created: true, workunits: N });
    await waitFor('a’s first chunk of replicas made', async () => Number((await db.get<{ t: number }>('SELECT replicas_through AS t FROM batches WHERE id = ?', [batchId]))!.t) === firstChunkEnd);
    await waitFor('a’s second chunk waiting for the held work unit', async () =>
      (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))!.n >= 1);

    // a dies in the middle of its second chunk; the work unit is let go.
    await a.kill9();
    await locker.query('ROLLBACK');

    const perWorkunit = async () =>
      db.all<{ n: number }>('SELECT COUNT(r.id) AS n FROM workunits w LEFT JOIN replicas r ON r.workunit_id = w.id WHERE w.batch_id = ? GROUP BY w.id', [batchId]);
    await waitFor('b to make the rest', async () => (await perWorkunit()).every((x) => Number(x.n) > 0), 30_000);
    // Each work unit has its two replicas: none made twice, by a before it died or by b after.
    const counts = (await perWorkunit()).map((x) => Number(x.n));
    expect(counts.length).toBe(N);
    expect(counts.every((n) => n === 2)).toBe(true);
    await waitFor('b to log it', () => logLines(b).some((l) => l.msg === 'made the replicas of a batch whose instance is gone' && l.batchId === batchId));
  });
});
