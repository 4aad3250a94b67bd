// A redis-server of the benchmark's own: a child process on a free loopback port with its data in
// a temp dir, configured for one run and killed afterwards. The machine's shared Redis
// (127.0.0.1:6379) is never touched: other engineers' tests use it, and a benchmark that set
// `appendfsync always` there, or flushed it, would change what they measure.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createClient } from 'redis';
import { exited, removeDir, spawnTracked, tempDir } from '../children.js';
import { freePorts } from '../ports.js';
import { sampleProcess, type ProcSample } from '../proc-stats.js';

/** The binary: VG_REDIS_SERVER, else `redis-server` on the PATH (Debian puts it in /usr/bin). */
export const REDIS_SERVER = process.env.VG_REDIS_SERVER ?? 'redis-server';

export type Durability =
  /** AOF with an fsync before every reply: an acknowledged job is on disk, as the coordinator's `synchronous=FULL`. */
  | 'fsync-always'
  /** In memory only: no AOF, no snapshots. */
  | 'none';

/** Null when the binary runs, else why not (for tests that skip or fail on it). */
export function redisServerProblem(): string | null {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  if (r.error) return `${REDIS_SERVER} cannot run (${r.error.message})`;
  if (r.status !== 0) return `${REDIS_SERVER} --version exited with ${r.status}: ${r.stderr.trim()}`;
  return null;
}

export function redisServerVersion(): string {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return /v=(\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

function durabilityArgs(d: Durability): string[] {
  // No RDB snapshots in either: a BGSAVE forked in the middle of a run would be measured as
  // noise, and durability is the AOF's job. AOF rewrites keep Redis's defaults (a rewrite is
  // part of what `appendonly yes` costs in production); their forked CPU is counted, since
  // sampleProcess includes the children Redis waited for.
  return d === 'fsync-always' ? ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'] : ['--save', '', '--appendonly', 'no'];
}

export class RedisServer {
  private constructor(
    readonly port: number,
    readonly durability: Durability,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: string[],
  ) {}

  static async start(durability: Durability): Promise<RedisServer> {
    // Another process may take the port between our probe and Redis's bind: try a few.
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = (await freePorts(1))[0]!;
      const dir = tempDir('redis');
      const child = spawnTracked(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', dir, '--logfile', '', '--daemonize', 'no', ...durabilityArgs(durability)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const output: string[] = [];
      const keep = (chunk: Buffer) => {
        output.push(chunk.toString());
        if (output.length > 50) output.splice(0, output.length - 50);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      // A binary that cannot run (ENOENT) says so here rather than as an uncaught 'error' event.
      child.once('error', (e) => output.push(`${REDIS_SERVER}: ${e.message}\n`));
      const server = new RedisServer(port, durability, child, dir, output);
      try {
        await server.waitUntilAnswering(10_000);
        return server;
      } catch (e) {
        lastError = e as Error;
        await server.stop();
      }
    }
    throw lastError ?? new Error('redis-server did not start');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Its CPU with that of the children it forked and reaped (AOF rewrites). */
  sample(): ProcSample {
    const s = sampleProcess(this.pid);
    return { ...s, cpuMs: s.cpuMs + s.childrenCpuMs };
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What it logged last, for error messages. */
  log(): string {
    return this.output.join('').trim().split('\n').slice(-10).join('\n');
  }

  /** SIGKILL (nothing it holds is kept), then its temp dir goes. */
  async stop(): Promise<void> {
    if (this.running) {
      const gone = exited(this.child);
      this.child.kill('SIGKILL');
      await gone;
    }
    removeDir(this.dir);
  }

  private async waitUntilAnswering(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`redis-server exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.log()}`);
      const client = createClient({ url: this.url, socket: { connectTimeout: 1000, reconnectStrategy: false } });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.ping();
        return;
      } catch {
        if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not answer within ${timeoutMs} ms:\n${this.log()}`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        if (client.isOpen) await client.quit().catch(() => undefined);
      }
    }
  }
}
