// One end-to-end throughput measurement, shared by the throughput and cluster scenarios: a
// batch of trivial work units at quorum 2 through the real API, from the start of its submission
// until its status says every work unit is done, with simulated hosts (spread over every
// instance) asking, computing and reporting as fast as the coordinators answer. Counts the CPU
// of every process: the coordinators, PostgreSQL's backends and Redis when there are any, and
// the simulated volunteers.
import { TRIVIAL_APP, trivialLine } from './apps.js';
import { serviceCpuDelta, type Deployment } from './deployment.js';
import { cpuDelta, MB } from './proc-stats.js';
import type { ResearchClient } from './research-client.js';
import type { ScenarioContext } from './scenario.js';
import { SimFleet } from './sim-fleet.js';
import type { SimStats } from './sim-messages.js';
import { percentile, round, sum } from './stats.js';

const QUORUM = { minQuorum: 2, targetNresults: 2 };
const WARM_UP_WORKUNITS = 1000;

export interface ThroughputOptions {
  workunits: number;
  /** Names the project, the hosts and the batch, so runs are told apart in logs. */
  label: string;
  timeoutMs: number;
  /** Work units done before measuring (default 1,000): JIT, statement caches, database pages. */
  warmUpWorkunits?: number;
  /** Called once the measured batch is under way (e.g. to kill an instance), with a way to read its progress. */
  during?: (progress: () => Promise<number>) => Promise<void>;
}

export interface ThroughputMeasure {
  e2eMs: number;
  submitMs: number;
  workunitsDone: number;
  tasks: number;
  tasksPerSecond: number;
  workunitsPerSecond: number;
  messagesPerSecond: number;
  assignmentP50Ms: number;
  assignmentP99Ms: number;
  /** CPU per validated task, ms, of each kind of process. */
  cpuMsPerTask: { coordinators: number; postgres: number; redis: number; volunteers: number };
  coordinatorCores: number;
  stats: SimStats;
  details: Record<string, unknown>;
}

export async function measureThroughput(ctx: ScenarioContext, coordinator: Deployment, research: ResearchClient, o: ThroughputOptions): Promise<ThroughputMeasure> {
  const appId = await research.createApp(`bench-${o.label}`, [{ name: 'main.js', content: TRIVIAL_APP }]);
  const { fleet, ready } = await SimFleet.start({ url: coordinator.url, urls: coordinator.urls, processes: ctx.load.processes, hosts: ctx.load.hosts, namePrefix: o.label });
  try {
    if (ready.failed > 0) throw new Error(`${ready.failed} hosts could not connect: ${ready.errors[0]}`);
    const mode = { kind: 'closed', count: ctx.load.tasksPerMessage } as const;

    // Warm-up: JIT, statement caches, database pages; not measured.
    fleet.work(mode);
    const warmUp = o.warmUpWorkunits ?? WARM_UP_WORKUNITS;
    const warm = await research.submit(appId, 'warm-up', warmUp, trivialLine, QUORUM);
    await research.waitDone(warm.batchId, o.timeoutMs);
    await fleet.stop();

    const before = coordinator.sample();
    const servicesBefore = coordinator.services();
    fleet.work(mode);
    const batch = await research.submit(appId, o.label, o.workunits, (i) => trivialLine(i + warmUp), QUORUM);
    const during = o.during?.(async () => (await research.status(batch.batchId)).workunits.done);
    const status = await research.waitDone(batch.batchId, o.timeoutMs);
    await during;
    const after = coordinator.sample();
    const servicesAfter = coordinator.services();
    const stats = await fleet.stop();

    const e2eMs = (status.finishedAt ?? Date.now()) - batch.startedAt;
    const tasks = status.replicas.success;
    const perTask = (ms: number) => ms / Math.max(1, tasks);
    const cpu = cpuDelta(before, after);
    const services = serviceCpuDelta(servicesBefore, servicesAfter);
    const nonEmpty = stats.requests.ms.filter((_, i) => stats.requests.n[i]! > 0);
    // Messages that carried work (idle hosts' empty asks at the start and end do not count).
    const messages = nonEmpty.length + stats.reports.at.length;
    return {
      e2eMs,
      submitMs: batch.answeredAt - batch.startedAt,
      workunitsDone: status.workunits.done,
      tasks,
      tasksPerSecond: (tasks * 1000) / e2eMs,
      workunitsPerSecond: (status.workunits.done * 1000) / e2eMs,
      messagesPerSecond: (messages * 1000) / e2eMs,
      assignmentP50Ms: percentile(nonEmpty, 50),
      assignmentP99Ms: percentile(nonEmpty, 99),
      cpuMsPerTask: { coordinators: perTask(cpu.cpuMs), postgres: perTask(services.postgresMs), redis: perTask(services.redisMs), volunteers: perTask(stats.cpuMs) },
      coordinatorCores: cpu.cores,
      stats,
      details: {
        backend: coordinator.options.backend,
        coordinators: coordinator.options.coordinators,
        workunits: o.workunits,
        hosts: ready.connected,
        processes: ctx.load.processes,
        tasksPerMessage: ctx.load.tasksPerMessage,
        e2eMs,
        submitMs: batch.answeredAt - batch.startedAt,
        status: { workunits: status.workunits, replicas: status.replicas },
        coordinator: { cpuMs: round(cpu.cpuMs, 0), wallMs: cpu.wallMs, rssMb: round(after.rssBytes / MB), peakRssMb: round(after.peakRssBytes / MB) },
        postgresCpuMs: round(services.postgresMs, 0),
        redisCpuMs: round(services.redisMs, 0),
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
      },
    };
  } finally {
    await fleet.close();
  }
}
