// The real coordinator as a child process, as `npm start` runs it: file-backed SQLite in a
// fresh temp dir, production settings except the per-address rate limits (every simulated
// volunteer shares 127.0.0.1, so a per-address limit would measure the limiter, not the
// coordinator).
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exited, ROOT, removeDir, spawnTs, stopChild, tempDir } from './children.js';
import { sampleProcess, type ProcSample } from './proc-stats.js';

export const ADMIN_PASSWORD = 'bench-admin-password-1';

/** The flags that differ from production, and why: printed with the results. */
export const NON_PRODUCTION_FLAGS = ['--http-rate-per-ip', '0', '--connect-rate-per-ip', '0', '--message-rate-per-socket', '0', '--connections-per-ip', '0'];
export const NON_PRODUCTION_REASON = 'per-address rate and connection limits off: every simulated volunteer connects from 127.0.0.1';

export interface CoordinatorOptions {
  /** Write a V8 CPU profile into this folder when the coordinator exits. */
  cpuProfileDir?: string;
  extraArgs?: string[];
  /** A data dir the caller owns and removes (instances of a cluster share one: the key, the files). Else a temp dir of its own. */
  dataDir?: string;
  /** Default 0: any free port. */
  port?: number;
}

export class CoordinatorProcess {
  private constructor(
    readonly url: string,
    readonly child: ChildProcess,
    readonly dataDir: string,
    private readonly output: string[],
    private readonly ownsDataDir: boolean,
  ) {}

  static async start(opts: CoordinatorOptions = {}): Promise<CoordinatorProcess> {
    const dataDir = opts.dataDir ?? tempDir('coordinator');
    const child = spawnTs(
      'coordinator/main.ts',
      ['--port', String(opts.port ?? 0), '--host', '127.0.0.1', '--data-dir', dataDir, '--demo-workunits', '0', '--log-level', 'warn', ...NON_PRODUCTION_FLAGS, ...(opts.extraArgs ?? [])],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, VG_ADMIN_PASSWORD: ADMIN_PASSWORD },
        nodeArgs: opts.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir] : [],
      },
    );
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.splice(0, output.length - 200);
    };
    child.stderr!.on('data', keep);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the coordinator did not start within 60 s:\n${output.join('')}`)), 60_000);
        let seen = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          keep(chunk);
          seen += chunk.toString();
          const match = /coordinator running at (\S+)/.exec(seen);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the coordinator exited with ${code} while starting:\n${output.join('')}`));
        });
      });
      return new CoordinatorProcess(url, child, dataDir, output, !opts.dataDir);
    } catch (e) {
      await stopChild(child);
      if (!opts.dataDir) removeDir(dataDir);
      throw e;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  sample(): ProcSample {
    return sampleProcess(this.pid);
  }

  /** Warnings and errors it logged (it runs at --log-level warn), last ones first. */
  problems(): string[] {
    return this.output
      .join('')
      .split('\n')
      .filter((l) => /"level":"(warn|error)"/.test(l))
      .reverse();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (so a CPU profile gets written), then removes its data dir if it made it. */
  async stop(): Promise<void> {
    await stopChild(this.child, 20_000);
    if (this.ownsDataDir) removeDir(this.dataDir);
  }

  /** SIGKILL: the instance dies as a crashed machine's would, with no hand-over. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    const gone = exited(this.child);
    this.child.kill('SIGKILL');
    await gone;
  }
}

/**
 * How the coordinator sets SQLite's `synchronous` pragma, read from its source: it is a
 * per-connection setting, so no other connection can ask the running coordinator.
 */
export function durabilitySetting(): string {
  try {
    const source = readFileSync(join(ROOT, 'coordinator', 'store', 'database.ts'), 'utf8');
    const sync = /synchronous\s*=\s*(\w+)/i.exec(source)?.[1] ?? 'unknown';
    const journal = /journal_mode\s*=\s*(\w+)/i.exec(source)?.[1] ?? 'unknown';
    return `journal_mode=${journal}, synchronous=${sync}`;
  } catch {
    return 'unknown (coordinator/store/database.ts not readable)';
  }
}
