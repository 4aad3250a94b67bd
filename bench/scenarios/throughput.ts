// Maximum throughput, end to end: a batch of trivial work units at quorum 2, from the start of
// its submission through the API until its status says every work unit is done, with hosts
// asking, computing and reporting as fast as the coordinator answers.
import { TRIVIAL_APP, trivialLine } from '../apps.js';
import { cpuDelta, MB } from '../proc-stats.js';
import { SimFleet } from '../sim-fleet.js';
import { percentile, round, sum } from '../stats.js';
import { withCoordinator, type Scenario } from '../scenario.js';

const QUORUM = { minQuorum: 2, targetNresults: 2 };

export const throughput: Scenario = {
  name: 'throughput',
  summary: 'validated work units and tasks per second end to end (submission → canonical result), quorum 2',
  async run(ctx) {
    const workunits = ctx.quick ? 4000 : 30_000;
    return withCoordinator(ctx, 'throughput', async (coordinator, research) => {
      const appId = await research.createApp('bench-trivial', [{ name: 'main.js', content: TRIVIAL_APP }]);
      const { fleet, ready } = await SimFleet.start({ url: coordinator.url, processes: ctx.load.processes, hosts: ctx.load.hosts, namePrefix: 'tp' });
      try {
        if (ready.failed > 0) throw new Error(`${ready.failed} hosts could not connect: ${ready.errors[0]}`);
        const mode = { kind: 'closed', count: ctx.load.tasksPerMessage } as const;

        // Warm-up: JIT, statement caches, SQLite pages; not measured.
        fleet.work(mode);
        const warm = await research.submit(appId, 'warm-up', 1000, trivialLine, QUORUM);
        await research.waitDone(warm.batchId, 120_000);
        await fleet.stop();

        const before = coordinator.sample();
        fleet.work(mode);
        const batch = await research.submit(appId, 'throughput', workunits, (i) => trivialLine(i + 1000), QUORUM);
        const status = await research.waitDone(batch.batchId, ctx.quick ? 120_000 : 300_000);
        const after = coordinator.sample();
        const stats = await fleet.stop();

        const end = status.finishedAt ?? Date.now();
        const e2eMs = end - batch.startedAt;
        const done = status.workunits.done;
        const tasks = status.replicas.success;
        const cpu = cpuDelta(before, after);
        const nonEmpty = stats.requests.ms.filter((_, i) => stats.requests.n[i]! > 0);
        // Messages that carried work (idle hosts' empty asks at the start and end do not count).
        const messages = nonEmpty.length + stats.reports.at.length;
        const messagesPerSecond = (messages * 1000) / e2eMs;
        const tasksPerSecond = (tasks * 1000) / e2eMs;
        ctx.shared.maxTasksPerSecond = tasksPerSecond;
        const volunteersCpuMsPerTask = stats.cpuMs / Math.max(1, tasks);
        ctx.shared.throughputCpuMsPerTask = { coordinator: cpu.cpuMs / Math.max(1, tasks), volunteers: volunteersCpuMsPerTask };
        const ceiling = ctx.shared.ceilingRoundTripsPerSecond;
        const taskCeiling = ctx.shared.ceilingTasksPerSecond;
        return {
          figures: [
            { name: 'work units/s (validated)', value: (done * 1000) / e2eMs, unit: '/s', target: { op: '>=', value: 1000 }, digits: 0 },
            { name: 'tasks/s (validated)', value: tasksPerSecond, unit: '/s', target: { op: '>=', value: 2000 }, digits: 0 },
            { name: 'coordinator CPU per task', value: cpu.cpuMs / Math.max(1, tasks), unit: 'ms', digits: 3 },
            { name: 'coordinator CPU', value: cpu.cores, unit: 'cores', digits: 2 },
            { name: 'simulated volunteers CPU per task', value: volunteersCpuMsPerTask, unit: 'ms', digits: 3 },
            { name: 'messages/s', value: messagesPerSecond, unit: '/s', digits: 0 },
            ...(taskCeiling ? [{ name: 'tasks/s ÷ ceiling (same messages)', value: (100 * tasksPerSecond) / taskCeiling, unit: '%', digits: 1 }] : []),
            ...(ceiling ? [{ name: 'messages/s ÷ empty round trips/s', value: (100 * messagesPerSecond) / ceiling, unit: '%', digits: 1 }] : []),
            { name: 'assignment p50 at full load', value: percentile(nonEmpty, 50), unit: 'ms', digits: 1 },
            { name: 'assignment p99 at full load', value: percentile(nonEmpty, 99), unit: 'ms', digits: 1 },
          ],
          notes: [
            `hosts ask for ${ctx.load.tasksPerMessage} tasks per tasks.request and report as many per results.report (--tasks-per-message)`,
            'the batch is followed over /admin as the admin UI does: its status pushes (at most 2/s) are part of the load',
          ],
          details: {
            workunits,
            hosts: ready.connected,
            processes: ctx.load.processes,
            tasksPerMessage: ctx.load.tasksPerMessage,
            e2eMs,
            submitMs: batch.answeredAt - batch.startedAt,
            status: { workunits: status.workunits, replicas: status.replicas },
            coordinator: { cpuMs: round(cpu.cpuMs, 0), wallMs: cpu.wallMs, rssMb: round(after.rssBytes / MB), peakRssMb: round(after.peakRssBytes / MB) },
            requests: stats.requests.at.length,
            emptyRequests: stats.empty,
            tasksPerNonEmptyRequest: round(sum(stats.requests.n) / Math.max(1, nonEmpty.length)),
            reports: stats.reports.at.length,
            reportP50Ms: round(percentile(stats.reports.ms, 50), 2),
            reportP99Ms: round(percentile(stats.reports.ms, 99), 2),
            rejectedResults: stats.rejected,
            errors: stats.errorCount,
            firstErrors: stats.errors,
            simulatedVolunteersCpuMs: round(stats.cpuMs, 0),
            ceilingRoundTripsPerSecond: ceiling ?? null,
            ceilingTasksPerSecond: taskCeiling ?? null,
          },
        };
      } finally {
        await fleet.close();
      }
    });
  },
};
