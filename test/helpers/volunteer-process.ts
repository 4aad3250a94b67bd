// The volunteer daemon as a separate process, as `npm run volunteer` runs it, with its
// structured log lines parsed so tests can wait for what it says it did.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from '../../common/json-lines.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export class VolunteerProcess {
  readonly lines: LogLine[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    onJsonLines(child.stdout!, (line) => this.lines.push(line as LogLine));
    child.stderr!.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static start(url: string, dataDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): VolunteerProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'volunteer-node', 'main.ts'), '--url', url, '--data-dir', dataDir, '--display', 'log', '--threads', '1', ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
    );
    return new VolunteerProcess(child, dataDir);
  }

  /** The companion (`volunteer-grid-volunteer status …`) as a separate process, on this daemon's data dir. */
  companion(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCompanion(this.dataDir, ...args);
  }

  logged(msg: string, match: (l: LogLine) => boolean = () => true): LogLine[] {
    return this.lines.filter((l) => l.msg === msg && match(l));
  }

  async waitForLog(msg: string, match: (l: LogLine) => boolean = () => true, timeoutMs = 30_000): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logged(msg, match)[0];
      if (found) return found;
      if (Date.now() > until || this.child.exitCode !== null) {
        throw new Error(`volunteer never logged "${msg}"${this.child.exitCode !== null ? ` (exited ${this.child.exitCode})` : ''}:\n${this.output.join('').slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: the daemon's graceful stop. Returns its exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** Runs the companion with `--data-dir dataDir`; resolves with its exit code and output. */
export function runCompanion(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'volunteer-node', 'main.ts'), ...args, '--data-dir', dataDir], { cwd: ROOT }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The companion's reply as JSON (`--json`); throws with what it said when it failed. */
export async function companionJson<T>(dataDir: string, ...args: string[]): Promise<T> {
  const r = await runCompanion(dataDir, ...args, '--json');
  if (r.code !== 0) throw new Error(`companion ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
