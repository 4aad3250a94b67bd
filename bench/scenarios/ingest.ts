// A million work units submitted through the API (streamed NDJSON) while a few volunteers
// keep computing another batch: how long the submission takes, and how the volunteers fare
// meanwhile (and while the replicas of the new batch are being made afterwards).
import { TRIVIAL_APP, trivialLine } from '../apps.js';
import { cpuDelta, MB } from '../proc-stats.js';
import { SimFleet } from '../sim-fleet.js';
import { max, overlapping, percentile, round, sum, within } from '../stats.js';
import type { Samples } from '../sim-messages.js';
import { sleep, withCoordinator, type Figure, type Scenario } from '../scenario.js';

const HOSTS = 4;
const TASKS_PER_SECOND = 200;
const TASKS_PER_REQUEST = 8;

export const ingest: Scenario = {
  name: 'ingest',
  summary: `1,000,000 work units submitted through the API while ${HOSTS} volunteers keep computing (${TASKS_PER_SECOND} tasks/s)`,
  async run(ctx) {
    const workunits = ctx.quick ? 100_000 : 1_000_000;
    const replicaWaitMs = ctx.quick ? 30_000 : 90_000;
    return withCoordinator(ctx, 'ingest', async (coordinator, research) => {
      const appId = await research.createApp('bench-ingest', [{ name: 'main.js', content: TRIVIAL_APP }]);
      // Work for the volunteers, with room to spare; at a higher priority, so they keep to it.
      const backgroundUnits = 40_000;
      const background = await research.submit(appId, 'background', backgroundUnits, trivialLine, { minQuorum: 2, targetNresults: 2, priority: 10 });
      await research.waitReplicas(background.batchId, 2 * backgroundUnits, 60_000);
      const { fleet, ready } = await SimFleet.start({ url: coordinator.url, processes: 1, hosts: HOSTS, namePrefix: 'ingest' });
      try {
        if (ready.failed > 0) throw new Error(`${ready.failed} hosts could not connect: ${ready.errors[0]}`);
        fleet.work({ kind: 'paced', count: TASKS_PER_REQUEST, tasksPerSecondPerHost: TASKS_PER_SECOND / HOSTS });
        await sleep(3000);
        const calmFrom = Date.now() - 2000;
        const before = coordinator.sample();
        ctx.log(`  submitting ${workunits.toLocaleString('en-US')} work units…`);
        const batch = await research.submit(appId, 'million', workunits, (i) => trivialLine(i + backgroundUnits), { minQuorum: 2, targetNresults: 2 });
        const submitted = coordinator.sample();
        let replicasMs: number | undefined;
        let replicaProblem: string | undefined;
        try {
          // Not by polling the batch's status: on a batch this size each status costs the
          // coordinator a long query, which would stall the volunteers we are measuring.
          const last = await research.workunitAt(batch.batchId, workunits - 1);
          await research.waitWorkunitReplicas(last, 2, replicaWaitMs);
          replicasMs = Date.now() - batch.answeredAt;
        } catch (e) {
          replicaProblem = (e as Error).message;
        }
        const replicasEnd = Date.now();
        const after = coordinator.sample();
        const stats = await fleet.stop();
        // What one status of a batch this size costs (the admin UI and `grid wait` ask for it).
        const s0 = Date.now();
        await research.status(batch.batchId);
        const statusMs = Date.now() - s0;

        const submitMs = batch.answeredAt - batch.startedAt;
        const phase = (from: number, to: number) => served(stats.requests, stats.reports, from, to);
        const calm = phase(calmFrom, batch.startedAt);
        const during = phase(batch.startedAt, batch.answeredAt);
        const making = phase(batch.answeredAt, replicasEnd);
        const figures: Figure[] = [
          { name: 'submit time', value: submitMs / 1000, unit: 's', target: { op: '<=', value: 60 }, digits: 1 },
          { name: 'submitted work units/s', value: (workunits * 1000) / submitMs, unit: '/s', digits: 0 },
          { name: 'volunteers during ingest', value: during.tasksPerSecond, unit: 'tasks/s', digits: 0 },
          { name: 'worst assignment during ingest', value: during.maxMs, unit: 'ms', digits: 0 },
          { name: 'assignment p99 during ingest', value: during.p99Ms, unit: 'ms', digits: 0 },
          { name: 'replicas made after', value: replicasMs === undefined ? NaN : replicasMs / 1000, unit: 's', digits: 1 },
          { name: 'volunteers while replicas are made', value: making.tasksPerSecond, unit: 'tasks/s', digits: 0 },
          { name: 'worst assignment while replicas are made', value: making.maxMs, unit: 'ms', digits: 0 },
          { name: 'one status of this batch', value: statusMs, unit: 'ms', digits: 0 },
        ];
        return {
          figures,
          details: {
            workunits,
            submitMs,
            volunteers: { hosts: HOSTS, pacedAtTasksPerSecond: TASKS_PER_SECOND, beforeIngest: calm, duringIngest: during, whileReplicasAreMade: making },
            batchStatusMs: statusMs,
            replicas: replicaProblem ?? `all ${2 * workunits} made ${replicasMs} ms after the submission was acknowledged`,
            coordinator: {
              cpuDuringSubmitMs: round(cpuDelta(before, submitted).cpuMs, 0),
              cpuMakingReplicasMs: round(cpuDelta(submitted, after).cpuMs, 0),
              rssAfterMb: round(after.rssBytes / MB),
              peakRssMb: round(after.peakRssBytes / MB),
            },
            errors: stats.errorCount,
            firstErrors: stats.errors,
          },
          notes: [
            ...(ctx.quick ? [`quick run: ${workunits.toLocaleString('en-US')} work units, not 1,000,000`] : []),
            ...(replicaProblem ? [replicaProblem] : []),
          ],
        };
      } finally {
        await fleet.close();
      }
    });
  },
};

/** How the volunteers were served in a time window. */
function served(requests: Samples, reports: Samples, from: number, to: number) {
  // A request that was waiting when the window opened counts too: it may be the slowest.
  const req = overlapping(requests, from, to);
  const ms = req.ms.filter((_, i) => req.n[i]! > 0);
  return {
    seconds: round((to - from) / 1000, 1),
    tasksPerSecond: round((sum(within(reports, from, to).n) * 1000) / Math.max(1, to - from), 0),
    requests: req.at.length,
    p50Ms: round(percentile(ms, 50), 1),
    p99Ms: round(percentile(ms, 99), 1),
    maxMs: round(max(ms), 1),
  };
}
