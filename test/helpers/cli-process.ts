// The CLI as a separate process (as an operator runs it): exit code and what it printed.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'cli', 'bin.mjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A CLI process still running: what it printed so far, line by line with when it came. */
export interface RunningCli {
  child: ReturnType<typeof spawn>;
  /** Lines of stdout and stderr as they came, with the time (Date.now()) each arrived. */
  lines: { at: number; stream: 'stdout' | 'stderr'; line: string }[];
  exited: Promise<CliRun>;
  kill(): void;
}

/** Starts the CLI and returns at once (for long commands such as `wait`, followed while they run). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: RunningCli['lines'] = [];
  const out = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream].on('data', (c: Buffer) => {
      out[stream] += c.toString();
      const parts = (partial + c.toString()).split('\n');
      partial = parts.pop()!;
      for (const line of parts) lines.push({ at: Date.now(), stream, line });
    });
  }
  const exited = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, ...out }));
  });
  return { child, lines, exited, kill: () => child.kill('SIGKILL') };
}
