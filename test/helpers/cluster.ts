// Several coordinator processes as one cluster: one fresh PostgreSQL database, one Redis (under a
// prefix of their own), one data dir (the key and the stored files they share), each on a port
// chosen beforehand so that every instance can list them all (--cluster-urls).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient, Submitted } from './api-client.js';
import { spawnCoordinator, type CoordinatorProcess } from './coordinator-process.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { connectRedis, deleteKeys, REDIS_URL } from './redis.js';
import { TEST_ADMIN_PASSWORD } from './test-coordinator.js';

export interface TestCluster {
  urls: string[];
  instances: CoordinatorProcess[];
  database: TestDatabase;
  dataDir: string;
  /** Starts instance `index` again (after it was killed or stopped), on its port, with its arguments; it replaces the old one in `instances`. */
  restart(index: number): Promise<CoordinatorProcess>;
  /** Kills what still runs, drops the database, removes the data dir and the instances' Redis keys. */
  close(): Promise<void>;
}

/** Ports free now (a moment later another process may take one: rare enough on loopback). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface ClusterOptions {
  /** The PostgreSQL server to make the database on (a URL to a database there one may create others from); default the machine's. */
  postgresAdminUrl?: string;
}

/** `n` instances listing each other, with the test admin password, no demo and no limits in the way of test clients. */
export async function startCluster(n: number, extraArgs: string[] = [], options: ClusterOptions = {}): Promise<TestCluster> {
  const database = await createTestDatabase(options.postgresAdminUrl);
  const dataDir = mkdtempSync(join(tmpdir(), 'vg-cluster-'));
  const urls = (await freePorts(n)).map((p) => `http://127.0.0.1:${p}`);
  const prefix = `vg-test-${randomBytes(4).toString('hex')}`;
  const args = (url: string) => [
    '--port', new URL(url).port,
    '--database-url', database.url,
    '--redis-url', REDIS_URL,
    '--redis-prefix', prefix,
    '--cluster-urls', urls.join(','),
    '--admin-password', TEST_ADMIN_PASSWORD,
    '--demo-workunits', '0',
    '--transition-interval-ms', '200',
    // New hosts from one address: no quota or rate limit in the way.
    '--new-host-tasks', '256', '--new-host-share', '1',
    '--http-rate-per-ip', '0', '--connect-rate-per-ip', '0', '--message-rate-per-socket', '0', '--message-rate-per-host', '0',
    ...extraArgs,
  ];
  const instances: CoordinatorProcess[] = [];
  const restart = async (index: number) => {
    const old = instances[index];
    if (old && old.child.exitCode === null && old.child.signalCode === null) throw new Error(`instance ${index} is still running`);
    const started = await spawnCoordinator(dataDir, args(urls[index]!));
    instances[index] = started;
    return started;
  };
  const close = async () => {
    await Promise.all(instances.map((c) => (c.child.exitCode === null && c.child.signalCode === null ? c.kill9() : undefined)));
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
    // What the instances kept in Redis under their prefix (login counts and the like).
    const redis = await connectRedis().catch(() => undefined);
    if (redis) await deleteKeys(redis, prefix).finally(() => redis.quit());
  };
  try {
    // The first alone (it makes the key every instance shares), then the others together.
    instances.push(await spawnCoordinator(dataDir, args(urls[0]!)));
    const rest = await Promise.allSettled(urls.slice(1).map((u) => spawnCoordinator(dataDir, args(u))));
    for (const r of rest) if (r.status === 'fulfilled') instances.push(r.value);
    const failed = rest.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (e) {
    await close();
    throw e;
  }
  return { urls, instances, database, dataDir, restart, close };
}

/** An app that loops `loops` times on its input's seed: long enough to be killed in the middle of. */
export function loopApp(loops: number): { source: string; output: (seed: number) => { x: number } } {
  return {
    source: `export default async function run(input) {
  let x = input.seed;
  for (let i = 0; i < ${loops}; i++) x = (x * 31 + i) % 1000003;
  return { x };
}
`,
    output: (seed) => {
      let x = seed;
      for (let i = 0; i < loops; i++) x = (x * 31 + i) % 1000003;
      return { x };
    },
  };
}

/** A project with that app, and a batch of `workunits` seeds 0, 1, 2…; the batch's id. */
export async function submitLoopBatch(researcher: ApiClient, source: string, workunits: number, replication: { minQuorum: number; targetNresults: number }): Promise<number> {
  const project = await researcher.post<{ id: number }>('/projects', { name: `loop ${randomBytes(3).toString('hex')}` });
  const app = await researcher.post<{ id: number }>(`/projects/${project.body.id}/apps`, { name: 'loop' });
  const version = await researcher.upload(`/apps/${app.body.id}/versions`, [{ name: 'main.js', content: source }]);
  if (version.status !== 201) throw new Error(`app version: HTTP ${version.status} ${version.text}`);
  const batch = await researcher.post<Submitted>(`/apps/${app.body.id}/batches`, {
    name: 'loop',
    replication,
    workunits: Array.from({ length: workunits }, (_, i) => ({ input: { seed: i } })),
  });
  if (batch.status !== 201) throw new Error(`batch: HTTP ${batch.status} ${batch.text}`);
  return batch.body.batchId;
}
