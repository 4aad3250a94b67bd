// The parent's handle on a fleet of simulated-volunteer processes: starts them, waits until
// every host is connected and authenticated, tells them to work and to stop, merges figures.
import type { ChildProcess } from 'node:child_process';
import { spawnTs, stopChild } from './children.js';
import { emptySimStats, type FromSim, type SimConfig, type SimStats, type WorkMode } from './sim-messages.js';

export interface FleetOptions {
  url: string;
  /** Every instance of a cluster: hosts are spread over them and fail over between them. */
  urls?: string[];
  /** The process to run: simulated volunteers (default) or bench/echo-clients.ts for the ceiling. */
  entry?: string;
  processes: number;
  hosts: number;
  namePrefix: string;
  connectConcurrency?: number;
  verifyEvery?: number;
  /** How long connecting everyone may take. */
  connectTimeoutMs?: number;
}

export interface FleetReady {
  connected: number;
  failed: number;
  connectMs: number;
  errors: string[];
  /** Sum of the processes' resident sets once connected. */
  clientRssBytes: number;
}

export class SimFleet {
  private constructor(
    private readonly procs: { child: ChildProcess; inbox: FromSim[]; waiters: (() => void)[] }[],
  ) {}

  static async start(o: FleetOptions): Promise<{ fleet: SimFleet; ready: FleetReady }> {
    const procs = Array.from({ length: o.processes }, (_, p) => {
      const hosts = Math.floor(o.hosts / o.processes) + (p < o.hosts % o.processes ? 1 : 0);
      const config: SimConfig = {
        url: o.url,
        ...(o.urls ? { urls: o.urls } : {}),
        hosts,
        connectConcurrency: o.connectConcurrency ?? 32,
        namePrefix: `${o.namePrefix}-p${p}`,
        verifyEvery: o.verifyEvery ?? 100,
      };
      const child = spawnTs(o.entry ?? 'bench/sim-volunteers.ts', [JSON.stringify(config)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // Thousands of sockets per process need more than the default heap on small machines.
        nodeArgs: ['--max-old-space-size=4096'],
      });
      const proc = { child, inbox: [] as FromSim[], waiters: [] as (() => void)[] };
      child.on('message', (m: FromSim) => {
        proc.inbox.push(m);
        for (const w of proc.waiters.splice(0)) w();
      });
      child.once('exit', () => {
        for (const w of proc.waiters.splice(0)) w();
      });
      return proc;
    });
    const fleet = new SimFleet(procs);
    try {
      const readies = await Promise.all(procs.map((_, i) => fleet.receive(i, 'ready', o.connectTimeoutMs ?? 120_000)));
      const ready: FleetReady = { connected: 0, failed: 0, connectMs: 0, errors: [], clientRssBytes: 0 };
      for (const r of readies) {
        ready.connected += r.connected;
        ready.failed += r.failed;
        ready.connectMs = Math.max(ready.connectMs, r.connectMs);
        ready.errors.push(...r.errors);
        ready.clientRssBytes += r.rssBytes;
      }
      return { fleet, ready };
    } catch (e) {
      await fleet.close();
      throw e;
    }
  }

  work(mode: WorkMode): void {
    for (const p of this.procs) p.child.send({ type: 'work', mode });
  }

  /** Stops every host after its current cycle; answers the merged figures. */
  async stop(): Promise<SimStats> {
    for (const p of this.procs) p.child.send({ type: 'stop' });
    const all = await Promise.all(this.procs.map((_, i) => this.receive(i, 'stats', 120_000)));
    return mergeStats(all.map((a) => a.stats));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.child.connected) p.child.send({ type: 'exit' });
        await stopChild(p.child, 5000);
      }),
    );
  }

  /** The next message of this type from process i (an 'error' message or an exit fails it). */
  private async receive<T extends FromSim['type']>(i: number, type: T, timeoutMs: number): Promise<Extract<FromSim, { type: T }>> {
    const p = this.procs[i]!;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const k = p.inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (k >= 0) {
        const m = p.inbox.splice(k, 1)[0]!;
        if (m.type === 'error') throw new Error(`simulated volunteers (process ${i}): ${m.message}`);
        return m as Extract<FromSim, { type: T }>;
      }
      if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`simulated volunteers (process ${i}) exited (${p.child.exitCode ?? p.child.signalCode}) before "${type}"`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`simulated volunteers (process ${i}): no "${type}" within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        p.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function mergeStats(all: SimStats[]): SimStats {
  const merged = emptySimStats();

  for (const s of all) {
    for (const key of ['requests', 'reports'] as const) {
      // push(...) of a long array overflows the stack: append in a loop.
      for (let k = 0; k < s[key].at.length; k++) {
        merged[key].at.push(s[key].at[k]!);
        merged[key].ms.push(s[key].ms[k]!);
        merged[key].n.push(s[key].n[k]!);
      }
    }
    merged.tasks += s.tasks;
    merged.accepted += s.accepted;
    merged.rejected += s.rejected;
    merged.empty += s.empty;
    merged.errors.push(...s.errors);
    merged.errorCount += s.errorCount;
    merged.cpuMs += s.cpuMs;
    for (const f of s.failoverMs) merged.failoverMs.push(f);
  }
  return merged;
}
