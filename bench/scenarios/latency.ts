// Assignment latency (tasks.request sent → tasks received) at half load: hosts run paced
// request-compute-report cycles. "Half load" is half the target (1,000 tasks/s); when the
// throughput run of the same run reached less than the target, also at half of what it reached.
import { TRIVIAL_APP, trivialLine } from '../apps.js';
import { cpuDelta } from '../proc-stats.js';
import type { Deployment } from '../deployment.js';
import { SimFleet } from '../sim-fleet.js';
import { max, percentile, round, sum, within } from '../stats.js';
import { sleep, withCoordinator, type Figure, type Scenario } from '../scenario.js';

/** The throughput target (tasks/s); the latency target holds at half of it. */
const TARGET_TASKS_PER_SECOND = 2000;
/** Per request at most; fewer when --tasks-per-message says so. */
const TASKS_PER_REQUEST = 16;
const WARM_MS = 3000;

interface Pace {
  /** Figure names end with it, so they stay the same from run to run. */
  label: string;
  tasksPerSecond: number;
}

export const latency: Scenario = {
  name: 'latency',
  summary: 'assignment latency p50/p99 at half load (paced hosts)',
  async run(ctx) {
    const reached = ctx.shared.maxTasksPerSecond;
    const paces: Pace[] = [{ label: 'half the target', tasksPerSecond: TARGET_TASKS_PER_SECOND / 2 }];
    if (reached !== undefined && reached < TARGET_TASKS_PER_SECOND) paces.push({ label: 'half the max reached', tasksPerSecond: reached / 2 });
    const perRequest = Math.min(TASKS_PER_REQUEST, ctx.load.tasksPerMessage);
    const measureMs = ctx.quick ? 8000 : 20_000;
    const tasks = sum(paces.map((p) => p.tasksPerSecond * ((WARM_MS + measureMs) / 1000)));
    const workunits = Math.ceil((tasks * 1.5) / 2) + 500;
    return withCoordinator(ctx, 'latency', async (coordinator, research) => {
      const appId = await research.createApp('bench-latency', [{ name: 'main.js', content: TRIVIAL_APP }]);
      const batch = await research.submit(appId, 'latency', workunits, trivialLine, { minQuorum: 2, targetNresults: 2 });
      // Replicas are made after the submission is acknowledged; measure once they all exist.
      await research.waitReplicas(batch.batchId, 2 * workunits, 60_000);
      const { fleet, ready } = await SimFleet.start({ url: coordinator.url, urls: coordinator.urls, processes: ctx.load.processes, hosts: ctx.load.hosts, namePrefix: 'lat' });
      try {
        if (ready.failed > 0) throw new Error(`${ready.failed} hosts could not connect: ${ready.errors[0]}`);
        const figures: Figure[] = [];
        const details: Record<string, unknown> = { hosts: ready.connected, tasksPerRequest: perRequest, workunits };
        for (const pace of paces) {
          const m = await measure(fleet, coordinator, pace, perRequest, ready.connected, measureMs);
          figures.push(
            { name: `paced load, ${pace.label}`, value: m.achieved, unit: 'tasks/s', digits: 0 },
            { name: `assignment p50, ${pace.label}`, value: m.p50, unit: 'ms', digits: 1 },
            { name: `assignment p99, ${pace.label}`, value: m.p99, unit: 'ms', target: { op: '<=', value: 50 }, digits: 1 },
            { name: `coordinator CPU, ${pace.label}`, value: m.cores, unit: 'cores', digits: 2 },
          );
          details[pace.label] = { pacedAtTasksPerSecond: round(pace.tasksPerSecond, 0), ...m.details };
        }
        return { figures, details };
      } finally {
        await fleet.close();
      }
    });
  },
};

async function measure(fleet: SimFleet, coordinator: Deployment, pace: Pace, perRequest: number, hosts: number, measureMs: number) {
  fleet.work({ kind: 'paced', count: perRequest, tasksPerSecondPerHost: pace.tasksPerSecond / hosts });
  await sleep(WARM_MS);
  const from = Date.now();
  const before = coordinator.sample();
  await sleep(measureMs);
  const to = Date.now();
  const after = coordinator.sample();
  const stats = await fleet.stop();
  const requests = within(stats.requests, from, to);
  const reports = within(stats.reports, from, to);
  const served = requests.ms.filter((_, i) => requests.n[i]! > 0);
  return {
    achieved: (sum(reports.n) * 1000) / (to - from),
    p50: percentile(served, 50),
    p99: percentile(served, 99),
    cores: cpuDelta(before, after).cores,
    details: {
      measureMs: to - from,
      requests: requests.at.length,
      emptyRequests: requests.n.filter((n) => n === 0).length,
      maxMs: round(max(served), 1),
      p90Ms: round(percentile(served, 90), 1),
      p999Ms: round(percentile(served, 99.9), 1),
      reportP50Ms: round(percentile(reports.ms, 50), 1),
      reportP99Ms: round(percentile(reports.ms, 99), 1),
      errors: stats.errorCount,
      firstErrors: stats.errors,
    },
  };
}
