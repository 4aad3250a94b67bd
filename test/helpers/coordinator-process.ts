// The coordinator as a separate process (as `npm start` runs it), for crash tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_BACKEND, testDatabaseOf } from './postgres.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CoordinatorProcess {
  url: string;
  child: ChildProcess;
  output: string[];
  /** SIGKILL: no chance to flush or close anything. */
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * `args` come last, so they may set what is given here (no shutdown drain, unless asked for).
 * On PostgreSQL (the postgres test project) the coordinator keeps its database in the data dir's
 * own (testDatabaseOf): made at the first start on the data dir, the same at every restart; the
 * test drops it with dropTestDatabaseOf when it removes the data dir.
 */
export async function spawnCoordinator(dataDir: string, args: string[] = []): Promise<CoordinatorProcess> {
  const database = TEST_BACKEND === 'postgres' && !args.includes('--database-url') ? ['--database-url', (await testDatabaseOf(dataDir)).url] : [];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'coordinator', 'main.ts'), '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--shutdown-drain-ms', '0', ...database, ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start:\n${output.join('')}`)), 30_000);
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output.push(chunk.toString());
      buffered += chunk.toString();
      const match = /"msg":"coordinator listening","url":"([^"]+)"/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`coordinator exited with ${code}:\n${output.join('')}`)));
  });
  return {
    url,
    child,
    output,
    exited,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The coordinator's structured log lines so far. */
export function logLines(p: CoordinatorProcess): Record<string, unknown>[] {
  return p.output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}
