// What an instance killed with SIGKILL leaves behind in the database, taken up by another one
// without waiting for a restart: the tasks of hosts it had that never came back (its disconnect
// grace timers died with it). Real coordinator processes on one PostgreSQL database and one
// Redis (test/helpers/cluster.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { ApiClient, newApp, newResearcher, type Submitted } from '../helpers/api-client.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { skipRedisTests } from '../helpers/redis.js';
import { TEST_ADMIN_PASSWORD, waitFor } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const skip = (await skipPostgresTests('orphans')) || (await skipRedisTests('orphans'));
const GRACE_MS = 3_000;
const LEASE_TTL_MS = 2_000;
const HOUR = 3_600_000;

/** The coordinator's structured log lines so far. */
function logLines(p: CoordinatorProcess): Record<string, unknown>[] {
  return p.output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

describe.skipIf(skip)('an instance killed with SIGKILL', () => {
  let cluster: TestCluster | undefined;
  let db: PostgresDatabase | undefined;
  const volunteers: TestVolunteer[] = [];
  afterEach(async () => {
    volunteers.splice(0).forEach((v) => v.close());
    await db?.close();
    await cluster?.close();
    db = cluster = undefined;
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
    expect(logLines(b).filter((l) => l.msg === 'gave up the tasks of a host whose instance is gone').map((l) => [l.hostId, l.tasks])).toEqual([[gone.hostId, 2]]);
    // Reissued: each of those work units has a new replica for someone else.
    expect((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM replicas WHERE status = 'unsent'"))!.n).toBe(2);

    // The host that came back keeps its tasks, however many turns the job takes meanwhile.
    await waitFor('another grace period', () => Date.now() - killedAt > 2 * GRACE_MS + LEASE_TTL_MS);
    expect(await states(db, backTasks)).toEqual(['in_progress/null', 'in_progress/null']);
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
});
