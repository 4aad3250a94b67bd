// Debian's HAProxy for the cluster-behind-a-load-balancer test, run in the foreground on loopback
// with a config of the test's own. Never installed by a test: `apt-get install -y haproxy` (CI's
// .ci/run does).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { untilListening } from './nginx.js';

const BINARY = '/usr/sbin/haproxy';

/** Skipped with a visible message outside CI when HAProxy is missing; under CI=true it runs (and fails). */
export function skipHaproxyTests(suite: string): boolean {
  if (existsSync(BINARY) || process.env.CI === 'true') return false;
  console.warn(`[${suite}] skipped: no HAProxy at ${BINARY}: install it with \`apt-get install -y haproxy\``);
  return true;
}

export interface Haproxy {
  child: ChildProcess;
  /** What it printed: its log goes to stdout. */
  output: string[];
  stop(): Promise<void>;
}

/** Checks `config`, then runs it (in dir) until every port in `listening` accepts connections. */
export async function startHaproxy(dir: string, config: string, listening: number[]): Promise<Haproxy> {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn(BINARY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await untilListening('haproxy', child, listening, () => output.join(''));
  return {
    child,
    output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(late);
    },
  };
}
