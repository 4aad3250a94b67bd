// The ceiling: what this machine's Socket.IO does with no application behind it, driven by the
// same processes and connections as the throughput run. Twice: empty request/ack round trips,
// and the throughput run's very messages (tasks.request for N, results.report of N, at their
// real sizes), whose task rate is what a coordinator that cost nothing would reach.
import { spawnTs, stopChild } from '../children.js';
import { sampleProcess } from '../proc-stats.js';
import { SimFleet } from '../sim-fleet.js';
import { percentile, round, sum, within } from '../stats.js';
import { sleep, type Scenario, type ScenarioContext } from '../scenario.js';

export const ceiling: Scenario = {
  name: 'ceiling',
  summary: 'Socket.IO alone on this machine: empty request/ack round trips, and the throughput run\'s messages with nothing behind them',
  async run(ctx) {
    const server = spawnTs('bench/echo-server.ts', [], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let seen = '';
        server.stdout!.on('data', (c: Buffer) => {
          seen += c.toString();
          const m = /running at (\S+)/.exec(seen);
          if (m) resolve(m[1]!);
        });
        server.once('exit', (code) => reject(new Error(`the echo server exited with ${code}`)));
      });
      const { fleet, ready } = await SimFleet.start({ url, entry: 'bench/echo-clients.ts', processes: ctx.load.processes, hosts: ctx.load.hosts, namePrefix: 'echo' });
      try {
        if (ready.failed > 0) throw new Error(`${ready.failed} echo clients could not connect: ${ready.errors[0]}`);
        const empty = await phase(ctx, fleet, server.pid!, 0);
        const shaped = await phase(ctx, fleet, server.pid!, ctx.load.tasksPerMessage);
        ctx.shared.ceilingRoundTripsPerSecond = empty.messagesPerSecond;
        ctx.shared.ceilingTasksPerSecond = shaped.tasksPerSecond;
        return {
          figures: [
            { name: 'round trips/s, empty messages', value: empty.messagesPerSecond, unit: '/s', digits: 0 },
            { name: 'round trip p50, empty messages', value: empty.p50Ms, unit: 'ms', digits: 2 },
            { name: `round trips/s, ${ctx.load.tasksPerMessage}-task messages`, value: shaped.messagesPerSecond, unit: '/s', digits: 0 },
            { name: 'tasks/s those messages carry', value: shaped.tasksPerSecond, unit: '/s', digits: 0 },
          ],
          details: { processes: ctx.load.processes, connections: ready.connected, empty, shaped },
        };
      } finally {
        await fleet.close();
      }
    } finally {
      await stopChild(server);
    }
  },
};

async function phase(ctx: ScenarioContext, fleet: SimFleet, serverPid: number, count: number) {
  fleet.work({ kind: 'closed', count });
  await sleep(1000);
  const from = Date.now();
  const cpu0 = sampleProcess(serverPid);
  await sleep(ctx.quick ? 3000 : 5000);
  const to = Date.now();
  const cpu1 = sampleProcess(serverPid);
  const stats = await fleet.stop();
  const requests = within(stats.requests, from, to);
  const reports = within(stats.reports, from, to);
  const all = [...requests.ms, ...reports.ms];
  return {
    measureMs: to - from,
    messagesPerSecond: round(((requests.at.length + reports.at.length) * 1000) / (to - from), 0),
    tasksPerSecond: round((sum(reports.n) * 1000) / (to - from), 0),
    p50Ms: round(percentile(all, 50), 2),
    p99Ms: round(percentile(all, 99), 2),
    serverCores: round((cpu1.cpuMs - cpu0.cpuMs) / (to - from), 2),
    clientCpuMs: round(stats.cpuMs, 0),
    errors: stats.errorCount,
  };
}
