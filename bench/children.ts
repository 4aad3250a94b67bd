// Every child process and temp dir the benchmark makes, so that all of them go away at the end,
// on failure and on Ctrl-C too: a benchmark must never leave a coordinator or 10,000 sockets behind.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

/**
 * A TypeScript entry run by Node through tsx's loader (not the `tsx` CLI, which would put a
 * second process between us and the program: /proc figures must be the program's own).
 */
export function spawnTs(file: string, args: string[], opts: SpawnOptions & { nodeArgs?: string[] } = {}): ChildProcess {
  const { nodeArgs = [], ...rest } = opts;
  return spawnTracked(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, file), ...args], { cwd: ROOT, ...rest });
}

/** Any other program (e.g. the peer scenario's redis-server), stopped with the rest. */
export function spawnTracked(command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, opts);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** SIGTERM, then SIGKILL if it has not gone within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `vg-bench-${prefix}-`));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Stops every child still running and removes every temp dir. */
export async function cleanUpAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, 3000)));
  for (const dir of [...dirs]) removeDir(dir);
}

/** Last resort when the process is leaving anyway: no time for graceful stops. */
function killAllNow(): void {
  for (const c of children) c.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

process.once('exit', killAllNow);

/**
 * Ctrl-C and SIGTERM stop every child and leave. Only a program's entry installs this: a test
 * importing these helpers runs in a test runner's process, whose signals are the runner's.
 */
export function stopChildrenOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every child process\n`);
      void cleanUpAll().finally(() => process.exit(130));
    });
  }
}
