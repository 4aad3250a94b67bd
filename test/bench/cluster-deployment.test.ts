// The benchmark's cluster deployment at a tiny size: two coordinator instances on a fresh
// PostgreSQL database and a redis-server of the benchmark's own, simulated hosts spread over
// both; one instance killed with SIGKILL midway. Whatever the speed, the batch must complete,
// the killed instance's hosts must fail over (each timed once, when it next gets a task), and everything must go away
// afterwards. No timing is checked here.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUpAll } from '../../bench/children.js';
import type { ScenarioContext } from '../../bench/scenario.js';
import { withCoordinator } from '../../bench/scenario.js';
import { redisServerProblem } from '../../bench/peer/redis-server.js';
import { measureThroughput } from '../../bench/throughput-run.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { skipRedisServerTests } from '../helpers/redis.js';

const skip = skipRedisServerTests('benchmark cluster deployment', redisServerProblem()) || (await skipPostgresTests('benchmark cluster deployment'));
const HOSTS = 8;

const ctx: ScenarioContext = {
  quick: true,
  load: { hosts: HOSTS, processes: 2, tasksPerMessage: 4 },
  deployment: { backend: 'postgres', coordinators: 2 },
  clusterSizes: [2],
  run: 1,
  shared: {},
  log: () => undefined,
};

describe.skipIf(skip)('benchmark: a cluster deployment with one instance killed', () => {
  afterAll(() => cleanUpAll());

  it('completes the batch, and the killed instance’s hosts compute again on the other', async () => {
    const workunits = 200;
    const m = await withCoordinator(ctx, 'test', (c, r) =>
      measureThroughput(ctx, c, r, {
        workunits,
        label: 'bt',
        timeoutMs: 180_000,
        warmUpWorkunits: 20,
        during: async (progress) => {
          while ((await progress()) < workunits / 3) await new Promise((resolve) => setTimeout(resolve, 50));
          await c.kill9(1);
        },
      }),
    );
    expect(m.workunitsDone).toBe(workunits);
    // Hosts are spread round-robin: half of them were on the killed instance, and each is timed
    // once it gets a task from the other (one that got none before the batch ended is not).
    expect(m.stats.failoverMs.length).toBeGreaterThan(0);
    expect(m.stats.failoverMs.length).toBeLessThanOrEqual(HOSTS / 2);
    expect(m.details.backend).toBe('postgres');
    expect(m.cpuMsPerTask.postgres).toBeGreaterThan(0);
  }, 300_000);
});
