// The peer: the job queue a Node user would pick instead of the coordinator, BullMQ on Redis,
// doing the same logical work as the throughput scenario (issue 21) — as many work units, two
// jobs per unit run by different workers, the trivial app's output, as many workers in as many
// processes each holding as many jobs at once, and a validator that records a canonical result
// when the two agree. Plain jobs and parent/child flows, each on a Redis that fsyncs every write
// and on one that keeps nothing; the throughput run of the same invocation is the comparison.
import { createRequire } from 'node:module';
import { runPeer, type PeerRun } from '../peer/peer-run.js';
import type { Variant } from '../peer/peer-jobs.js';
import { redisServerProblem, redisServerVersion, type Durability } from '../peer/redis-server.js';
import type { Figure, Scenario } from '../scenario.js';
import { round } from '../stats.js';

const VARIANTS: { variant: Variant; durability: Durability; label: string }[] = [
  { variant: 'plain', durability: 'fsync-always', label: 'plain, AOF always' },
  { variant: 'flow', durability: 'fsync-always', label: 'flow, AOF always' },
  { variant: 'plain', durability: 'none', label: 'plain, no AOF' },
  { variant: 'flow', durability: 'none', label: 'flow, no AOF' },
];

export const bullmqVersion = (): string => {
  try {
    return (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

/** What the peer does and does not do that the coordinator does: said with every result. */
export const PEER_DIFFERENCES = [
  'no signatures (tasks, results, credit), no host identity or authentication, no credit ledger, no quotas, deadlines or reissue (only BullMQ\'s stalled-job check), no adaptive replication, sentinels or checks, no batch status kept by the store',
  'the two jobs of a unit go to different workers because they sit in two queues served by disjoint halves of the workers, not by a rule the queue enforces; the validator also refuses a pair from one worker',
  '"AOF always" is redis-server with appendfsync always (every acknowledged write on disk, as the coordinator\'s synchronous=FULL); "no AOF" keeps nothing on disk. Jobs are kept after completion, as the coordinator keeps its replicas',
];

export const peer: Scenario = {
  name: 'peer',
  summary: 'BullMQ on Redis doing the throughput scenario\'s work (plain jobs and flows, AOF always and none), against the coordinator in the same run',
  needs: ['throughput'],
  async run(ctx) {
    const problem = redisServerProblem();
    if (problem) throw new Error(`the peer scenario starts its own redis-server: ${problem} (Debian: apt-get install -y redis-server; or set VG_REDIS_SERVER)`);
    const units = ctx.quick ? 4000 : 30_000;
    const coordinatorTasksPerSecond = ctx.shared.maxTasksPerSecond ?? NaN;
    const coordinatorCpu = ctx.shared.throughputCpuMsPerTask;
    const figures: Figure[] = [
      { name: 'coordinator tasks/s (this run\'s throughput scenario)', value: coordinatorTasksPerSecond, unit: '/s', digits: 0 },
      { name: 'coordinator: CPU per task, coordinator + simulated volunteers', value: coordinatorCpu ? coordinatorCpu.coordinator + coordinatorCpu.volunteers : NaN, unit: 'ms', digits: 3 },
    ];
    const details: Record<string, unknown> = { units, bullmq: bullmqVersion(), redisServer: redisServerVersion(), driver: 'node-redis' };
    for (const v of VARIANTS) {
      const r: PeerRun = await runPeer({
        variant: v.variant,
        durability: v.durability,
        units,
        warmUpUnits: 1000,
        processes: ctx.load.processes,
        workers: ctx.load.hosts,
        concurrency: ctx.load.tasksPerMessage,
        timeoutMs: ctx.quick ? 120_000 : 300_000,
        log: ctx.log,
      });
      if (r.done.canonical !== units) throw new Error(`${v.label}: ${r.done.canonical} canonical results for ${units} work units (${r.done.disagreed} disagreed, ${r.done.sameWorker} from one worker)`);
      const tasksPerSecond = (r.tasks * 1000) / r.e2eMs;
      const perTask = (ms: number) => ms / Math.max(1, r.tasks);
      const all = r.cpuMs.redis + r.cpuMs.workers + r.cpuMs.driver;
      figures.push(
        { name: `${v.label}: tasks/s (validated)`, value: tasksPerSecond, unit: '/s', digits: 0 },
        { name: `${v.label}: coordinator ÷ peer, tasks/s`, value: coordinatorTasksPerSecond / tasksPerSecond, unit: '×', digits: 2 },
        { name: `${v.label}: CPU per task, redis-server`, value: perTask(r.cpuMs.redis), unit: 'ms', digits: 3 },
        { name: `${v.label}: CPU per task, workers`, value: perTask(r.cpuMs.workers), unit: 'ms', digits: 3 },
        { name: `${v.label}: CPU per task, producer + validator`, value: perTask(r.cpuMs.driver), unit: 'ms', digits: 3 },
        { name: `${v.label}: CPU per task, every process`, value: perTask(all), unit: 'ms', digits: 3 },
      );
      const jobsPerWorker = Object.values(r.perWorker);
      details[v.label] = {
        e2eMs: r.e2eMs,
        addMs: r.addMs,
        canonical: r.done.canonical,
        cpuMs: Object.fromEntries(Object.entries(r.cpuMs).map(([k, ms]) => [k, round(ms, 0)])),
        cores: round(all / r.wallMs, 2),
        jobsPerWorker: { min: Math.min(...jobsPerWorker), max: Math.max(...jobsPerWorker) },
      };
      ctx.log(`  ${v.label}: ${Math.round(tasksPerSecond)} tasks/s, ${perTask(all).toFixed(3)} ms CPU per task over every process`);
    }
    return {
      figures,
      details,
      notes: [
        `BullMQ ${bullmqVersion()} (node-redis driver) on a redis-server ${redisServerVersion()} of its own per variant (free port, temp dir); ${ctx.load.hosts} Workers of ${ctx.load.tasksPerMessage} jobs at once in ${ctx.load.processes} processes, as the throughput scenario's hosts and tasks per message; plain: Queue.addBulk into two replica queues, the validator reads completions from QueueEvents; flow: FlowProducer.addBulk of a parent per unit with the two jobs as children, the parent's Worker is the validator`,
        ...PEER_DIFFERENCES,
      ],
    };
  },
};
