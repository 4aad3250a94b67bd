// Many volunteers connected at once: every host its own key and connection, authenticated
// (hello, auth), then idle. Memory per volunteer = growth of the coordinator's resident set / N.
import { MB } from '../proc-stats.js';
import { SimFleet } from '../sim-fleet.js';
import { round } from '../stats.js';
import { sleep, withCoordinator, type Scenario } from '../scenario.js';

export const connections: Scenario = {
  name: 'connections',
  summary: 'volunteers connected and authenticated at once; coordinator memory per volunteer',
  async run(ctx) {
    const hosts = ctx.quick ? 1000 : 10_000;
    return withCoordinator(ctx, 'connections', async (coordinator) => {
      // A few connections first, so the code paths (and their memory) are loaded before "before".
      const warm = await SimFleet.start({ url: coordinator.url, processes: 1, hosts: 20, namePrefix: 'warm' });
      await warm.fleet.close();
      await sleep(1000);
      const before = coordinator.sample();
      const processes = Math.max(2, Math.ceil(hosts / 2500));
      ctx.log(`  connecting ${hosts.toLocaleString('en-US')} volunteers from ${processes} processes…`);
      const { fleet, ready } = await SimFleet.start({
        url: coordinator.url,
        processes,
        hosts,
        namePrefix: 'conn',
        connectConcurrency: 25,
        connectTimeoutMs: 600_000,
      });
      try {
        const connectedAt = coordinator.sample();
        // Let buffers and timers of the handshakes settle before reading memory.
        await sleep(3000);
        const after = coordinator.sample();
        const grown = after.rssBytes - before.rssBytes;
        return {
          figures: [
            { name: 'connected volunteers', value: ready.connected, unit: '', target: { op: '>=', value: hosts }, digits: 0 },
            { name: 'coordinator RSS', value: after.rssBytes / MB, unit: 'MB', target: { op: '<=', value: 1024 }, digits: 0 },
            { name: 'memory per volunteer', value: grown / Math.max(1, ready.connected) / 1024, unit: 'KB', digits: 1 },
            { name: 'connect + auth rate', value: (ready.connected * 1000) / Math.max(1, ready.connectMs), unit: '/s', digits: 0 },
            { name: 'coordinator CPU per connect', value: (connectedAt.cpuMs - before.cpuMs) / Math.max(1, ready.connected), unit: 'ms', digits: 2 },
          ],
          details: {
            asked: hosts,
            failed: ready.failed,
            firstErrors: ready.errors,
            processes,
            connectMs: ready.connectMs,
            rssBeforeMb: round(before.rssBytes / MB),
            rssAfterMb: round(after.rssBytes / MB),
            peakRssMb: round(after.peakRssBytes / MB),
            clientProcessesRssMb: round(ready.clientRssBytes / MB),
          },
          notes: hosts < 10_000 ? [`quick run: ${hosts} volunteers, not 10,000`] : [],
        };
      } finally {
        await fleet.close();
      }
    });
  },
};
