// What a scenario runs against: one coordinator on its embedded SQLite file, as `npm start`
// runs it, or N coordinator instances on one fresh PostgreSQL database and a Redis of the
// benchmark's own, sharing one data dir (the key, the files) and listing each other
// (--cluster-urls), as docs/deploy.md's cluster runs them. Its samples add up every instance.
import { CoordinatorProcess } from './coordinator-process.js';
import { removeDir, tempDir } from './children.js';
import { RedisServer } from './peer/redis-server.js';
import { freePorts } from './ports.js';
import { backendCpuDelta, BenchDatabase, type BackendCpu } from './postgres-database.js';
import type { ProcSample } from './proc-stats.js';

export type Backend = 'sqlite' | 'postgres';

export interface DeploymentOptions {
  backend: Backend;
  /** Instances; more than one needs PostgreSQL. */
  coordinators: number;
  /** Each instance writes a V8 CPU profile into this folder. */
  cpuProfileDir?: string;
}

/** CPU of the services behind the coordinators at one moment. */
export interface ServiceSample {
  postgres: BackendCpu;
  redisCpuMs: number;
}

export class Deployment {
  private constructor(
    readonly options: DeploymentOptions,
    readonly instances: CoordinatorProcess[],
    private readonly database: BenchDatabase | undefined,
    private readonly redis: RedisServer | undefined,
    private readonly sharedDataDir: string | undefined,
  ) {}

  static async start(o: DeploymentOptions): Promise<Deployment> {
    if (o.coordinators < 1) throw new Error('a deployment needs at least one coordinator');
    if (o.backend === 'sqlite') {
      if (o.coordinators > 1) throw new Error('several coordinators need --backend postgres: instances share one PostgreSQL database, never one SQLite file');
      const c = await CoordinatorProcess.start(o.cpuProfileDir ? { cpuProfileDir: o.cpuProfileDir } : {});
      return new Deployment(o, [c], undefined, undefined, undefined);
    }
    const database = await BenchDatabase.create();
    let redis: RedisServer | undefined;
    const dataDir = tempDir('cluster');
    const instances: CoordinatorProcess[] = [];
    try {
      // Redis carries pushes and shared limits, never durable state: it keeps nothing on disk.
      redis = await RedisServer.start('none');
      const ports = await freePorts(o.coordinators);
      const urls = ports.map((p) => `http://127.0.0.1:${p}`);
      const start = (i: number) =>
        CoordinatorProcess.start({
          dataDir,
          port: ports[i]!,
          ...(o.cpuProfileDir ? { cpuProfileDir: o.cpuProfileDir } : {}),
          extraArgs: ['--database-url', database.url, '--redis-url', redis!.url, '--cluster-urls', urls.join(',')],
        });
      // The first alone: it makes the key (and the schema) the others then find.
      instances.push(await start(0));
      instances.push(...(await Promise.all(ports.slice(1).map((_, i) => start(i + 1)))));
      return new Deployment(o, instances, database, redis, dataDir);
    } catch (e) {
      await Promise.all(instances.map((c) => c.stop()));
      await redis?.stop();
      await database.drop().catch(() => undefined);
      removeDir(dataDir);
      throw e;
    }
  }

  get urls(): string[] {
    return this.instances.map((c) => c.url);
  }

  /** The first instance: where researchers' requests go. */
  get url(): string {
    return this.instances[0]!.url;
  }

  /** Every instance's CPU and memory added up (peak: the largest). Instances killed on purpose count what they used until then. */
  sample(): ProcSample {
    const live = this.instances.filter((c) => c.running).map((c) => c.sample());
    return {
      cpuMs: live.reduce((s, x) => s + x.cpuMs, 0),
      childrenCpuMs: live.reduce((s, x) => s + x.childrenCpuMs, 0),
      rssBytes: live.reduce((s, x) => s + x.rssBytes, 0),
      peakRssBytes: Math.max(0, ...live.map((x) => x.peakRssBytes)),
      at: Date.now(),
    };
  }

  /** PostgreSQL's backends for this database and the Redis server; empty on SQLite. */
  services(): ServiceSample {
    return { postgres: this.database?.sample() ?? new Map(), redisCpuMs: this.redis?.running ? this.redis.sample().cpuMs : 0 };
  }

  /** Whether every instance not killed on purpose still runs. */
  get running(): boolean {
    return this.instances.every((c) => c.running || this.killed.has(c));
  }

  problems(): string[] {
    return this.instances.flatMap((c) => c.problems());
  }

  private readonly killed = new Set<CoordinatorProcess>();

  /** SIGKILL one instance, as a lost machine. */
  async kill9(i: number): Promise<void> {
    const c = this.instances[i]!;
    this.killed.add(c);
    await c.kill9();
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((c) => c.stop()));
    await this.redis?.stop();
    await this.database?.drop().catch(() => undefined);
    if (this.sharedDataDir) removeDir(this.sharedDataDir);
  }
}

/** CPU ms of PostgreSQL's backends and of Redis between two samples. */
export function serviceCpuDelta(before: ServiceSample, after: ServiceSample): { postgresMs: number; redisMs: number } {
  return { postgresMs: backendCpuDelta(before.postgres, after.postgres), redisMs: after.redisCpuMs - before.redisCpuMs };
}
