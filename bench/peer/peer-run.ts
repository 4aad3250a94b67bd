// One run of the peer: its own redis-server, the producer-and-validator process, the worker
// processes; a warm-up phase, then the measured phase, with every process's CPU sampled around
// it. Everything it starts is stopped however it ends.
import { cpuDelta, type ProcSample } from '../proc-stats.js';
import { IpcChild } from './ipc-child.js';
import type { DriverConfig, PhaseDone, WorkersConfig } from './peer-messages.js';
import { REPLICA_QUEUES, type Variant } from './peer-jobs.js';
import { RedisServer, type Durability } from './redis-server.js';

export interface PeerOptions {
  variant: Variant;
  durability: Durability;
  units: number;
  warmUpUnits: number;
  /** Worker processes, and BullMQ Workers over all of them (the throughput scenario's hosts). */
  processes: number;
  workers: number;
  /** Jobs each Worker runs at once (the throughput scenario's tasks per message). */
  concurrency: number;
  /** How long the measured phase may take. */
  timeoutMs: number;
  /** Called with the server before it is stopped, e.g. for a test to read what was recorded. */
  inspect?: (server: RedisServer) => Promise<void>;
  log?: (line: string) => void;
}

export interface PeerRun {
  units: number;
  /** Jobs whose results made canonical results: two per unit decided. */
  tasks: number;
  e2eMs: number;
  addMs: number;
  done: PhaseDone;
  cpuMs: { redis: number; workers: number; driver: number };
  wallMs: number;
  /** Jobs each Worker ran in the measured phase. */
  perWorker: Record<string, number>;
}

export const MEASURED_PHASE = 'measured';
export const WARM_UP_PHASE = 'warmup';

export async function runPeer(o: PeerOptions): Promise<PeerRun> {
  const log = o.log ?? (() => undefined);
  const server = await RedisServer.start(o.durability);
  const children: IpcChild[] = [];
  try {
    const driverConfig: DriverConfig = {
      port: server.port,
      variant: o.variant,
      validatorConcurrency: o.concurrency,
      // About five events per job (added, waiting, active, completed, the odd drained): room for every one of a run.
      eventsMaxLen: 8 * (o.units + o.warmUpUnits) + 10_000,
      unitsPerBulk: 1000,
    };
    const driver = new IpcChild('peer producer/validator', 'bench/peer/peer-driver.ts', driverConfig);
    children.push(driver);
    const workerProcs = Array.from({ length: o.processes }, (_, p) => {
      const config: WorkersConfig = { port: server.port, concurrency: o.concurrency, workers: [] };
      // Workers spread over processes as hosts are; within each, alternately on one replica queue
      // and the other (counted within the process: by global number, with two processes, each
      // process would serve one queue only).
      for (let w = p; w < o.workers; w += o.processes) {
        config.workers.push({ name: `w${w}`, queue: REPLICA_QUEUES[config.workers.length % REPLICA_QUEUES.length]! });
      }
      return new IpcChild(`peer workers (process ${p})`, 'bench/peer/peer-workers.ts', config);
    });
    children.push(...workerProcs);
    await Promise.all(children.map((c) => c.receive('ready', 60_000)));
    // Raced against the validator's answers; once a race is over, a later failure (an exit at
    // the end) is nobody's business.
    const workerFailures = workerProcs.map((w) => w.failure());
    for (const f of workerFailures) f.catch(() => undefined);
    log(`peer ${o.variant}, durability ${o.durability}: redis-server on port ${server.port}, ${o.workers} workers × ${o.concurrency} in ${o.processes} processes`);

    if (o.warmUpUnits > 0) {
      driver.send({ type: 'run', phase: WARM_UP_PHASE, units: o.warmUpUnits });
      await Promise.race([driver.receive('done', 120_000), ...workerFailures]);
    }
    const counts = async () => {
      const all: Record<string, number> = {};
      for (const w of workerProcs) {
        w.send({ type: 'counts' });
        Object.assign(all, (await w.receive('counts', 10_000)).processed);
      }
      return all;
    };
    const countsBefore = await counts();
    const before = sampleAll(server, driver, workerProcs);
    driver.send({ type: 'run', phase: MEASURED_PHASE, units: o.units });
    const done = await Promise.race([driver.receive('done', o.timeoutMs), ...workerFailures]);
    const after = sampleAll(server, driver, workerProcs);
    const countsAfter = await counts();
    if (!server.running) throw new Error(`redis-server died during the run:\n${server.log()}`);
    await o.inspect?.(server);

    const d = (k: 'redis' | 'driver') => cpuDelta(before[k], after[k]).cpuMs;
    const workersCpu = workerProcs.reduce((t, _, i) => t + cpuDelta(before.workers[i]!, after.workers[i]!).cpuMs, 0);
    return {
      units: o.units,
      tasks: 2 * done.canonical,
      e2eMs: done.finishedAt - done.startedAt,
      addMs: done.addedAt - done.startedAt,
      done,
      cpuMs: { redis: d('redis'), driver: d('driver'), workers: workersCpu },
      wallMs: after.redis.at - before.redis.at,
      perWorker: Object.fromEntries(Object.entries(countsAfter).map(([k, v]) => [k, v - (countsBefore[k] ?? 0)])),
    };
  } finally {
    await Promise.all(children.map((c) => c.close()));
    await server.stop();
  }
}

function sampleAll(server: RedisServer, driver: IpcChild, workers: IpcChild[]): { redis: ProcSample; driver: ProcSample; workers: ProcSample[] } {
  return { redis: server.sample(), driver: driver.sample(), workers: workers.map((w) => w.sample()) };
}
