// The cluster (issue 17): the throughput run on one SQLite coordinator, then on PostgreSQL with
// 1, 2, 4… coordinator instances (--cluster-sizes), all in this scenario so that the ratios
// compare figures of one run; then the largest cluster again with one instance killed with
// SIGKILL a third of the way through its batch, timing how long its volunteers take to get
// their next task from another instance. On a 2-core machine more instances cannot add
// throughput: the test is that they do not lose it (no contention collapse).
import { measureThroughput, type ThroughputMeasure } from '../throughput-run.js';
import { sleep, withCoordinator, type Figure, type Scenario } from '../scenario.js';
import { max, percentile, round } from '../stats.js';
import { cpuFigures } from './throughput.js';

export const DEFAULT_CLUSTER_SIZES = [1, 2, 4];
const KILL_AT = 1 / 3;

export const cluster: Scenario = {
  name: 'cluster',
  summary: 'throughput on SQLite, then PostgreSQL with 1, 2, 4 coordinators, then failover of a killed instance',
  async run(ctx) {
    const workunits = ctx.quick ? 3000 : 12_000;
    const timeoutMs = ctx.quick ? 180_000 : 400_000;
    const sqlite = await withCoordinator(ctx, 'cluster-sqlite', (c, r) => measureThroughput(ctx, c, r, { workunits, label: 'cl-sqlite', timeoutMs }), { backend: 'sqlite', coordinators: 1 });
    const figures: Figure[] = [
      { name: 'tasks/s, SQLite, 1 coordinator', value: sqlite.tasksPerSecond, unit: '/s', digits: 0 },
      { name: 'assignment p99, SQLite, 1 coordinator', value: sqlite.assignmentP99Ms, unit: 'ms', digits: 1 },
      ...cpuFigures(sqlite, ', SQLite'),
    ];
    const details: Record<string, unknown> = { workunits, sqlite: sqlite.details };
    const onPostgres = new Map<number, ThroughputMeasure>();
    for (const n of ctx.clusterSizes) {
      ctx.log(`  PostgreSQL, ${n} coordinator${n > 1 ? 's' : ''}`);
      const m = await withCoordinator(ctx, `cluster-pg${n}`, (c, r) => measureThroughput(ctx, c, r, { workunits, label: `cl-pg${n}`, timeoutMs }), { backend: 'postgres', coordinators: n });
      onPostgres.set(n, m);
      details[`postgres${n}`] = m.details;
      const where = `, PostgreSQL, ${n} coordinator${n > 1 ? 's' : ''}`;
      figures.push(
        { name: `tasks/s${where}`, value: m.tasksPerSecond, unit: '/s', digits: 0 },
        { name: `assignment p99${where}`, value: m.assignmentP99Ms, unit: 'ms', digits: 1 },
        ...cpuFigures(m, where),
      );
    }
    const one = onPostgres.get(1);
    if (one) figures.push({ name: 'PostgreSQL, 1 coordinator ÷ SQLite', value: (100 * one.tasksPerSecond) / sqlite.tasksPerSecond, unit: '%', target: { op: '>=', value: 50 }, digits: 1 });
    for (const [n, m] of onPostgres) {
      if (n > 1 && one) figures.push({ name: `PostgreSQL, ${n} coordinators ÷ 1`, value: (100 * m.tasksPerSecond) / one.tasksPerSecond, unit: '%', target: { op: '>=', value: 90 }, digits: 1 });
    }

    // Failover: the largest cluster (at least two), its last instance killed; researchers stay on the first.
    const size = Math.max(2, ...ctx.clusterSizes);
    ctx.log(`  failover: PostgreSQL, ${size} coordinators, one killed with SIGKILL at ${Math.round(KILL_AT * 100)}% of the batch`);
    let killedAt = 0;
    const failover = await withCoordinator(
      ctx,
      `cluster-failover${size}`,
      (c, r) =>
        measureThroughput(ctx, c, r, {
          workunits,
          label: 'cl-failover',
          timeoutMs,
          during: async (progress) => {
            while ((await progress()) < workunits * KILL_AT) await sleep(100);
            killedAt = Date.now();
            await c.kill9(size - 1);
          },
        }),
      { backend: 'postgres', coordinators: size },
    );
    const moved = failover.stats.failoverMs;
    figures.push(
      { name: `volunteers of the killed instance computing again, p99 (${moved.length} hosts)`, value: percentile(moved, 99), unit: 'ms', target: { op: '<=', value: 5000 }, digits: 0 },
      { name: 'tasks/s with one instance killed midway', value: failover.tasksPerSecond, unit: '/s', digits: 0 },
      { name: 'work units done after the kill', value: failover.workunitsDone, unit: `of ${workunits}`, target: { op: '>=', value: workunits }, digits: 0 },
    );
    details.failover = { ...failover.details, instances: size, killedAt, failoverP50Ms: percentile(moved, 50), failoverMaxMs: round(max(moved), 0), hostsMoved: moved.length };
    return {
      figures,
      details,
      notes: [
        `PostgreSQL is the machine's server (its settings as they are), each deployment on a fresh database; Redis is a redis-server of the benchmark's own without persistence (it carries pushes and limits, never durable state); PostgreSQL CPU counts the backends serving the database, not the server's shared WAL writer and checkpointer`,
        `every deployment runs on the same ${ctx.load.hosts} simulated hosts' load, spread over its instances; researchers' requests go to the first instance`,
      ],
    };
  },
};
