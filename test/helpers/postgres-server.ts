// A PostgreSQL server of the test's own, for tests that stop, kill or restart it: `initdb` into a
// temp dir, `postgres` as a child process on a free loopback port (the machine's shared server
// on 5432 is never touched: other tests and developers use it). PostgreSQL refuses to run as
// root: then initdb and the server run as the `postgres` OS user (setpriv, which execs, so the
// child's pid is the server's and signals reach it), in a dir chowned to it. The binaries come
// from VG_POSTGRES_BIN, else the newest /usr/lib/postgresql/*/bin, else the PATH.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePorts } from './cluster.js';

/** Where initdb and postgres are, or undefined when there are none. */
function binDir(): string | undefined {
  if (process.env.VG_POSTGRES_BIN) return process.env.VG_POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (newest) return join(root, newest, 'bin');
  return spawnSync('initdb', ['--version']).error ? undefined : '';
}

const bin = (name: string) => {
  const dir = binDir();
  return dir ? join(dir, name) : name;
};

const asRoot = process.getuid?.() === 0;

/** The OS user the server runs as when the tests run as root. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** A command line, as the postgres OS user when we are root. */
function command(program: string, args: string[]): [string, string[]] {
  return asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', program, ...args]] : [program, args];
}

/** Null when a server of our own can be made here, else why not. */
export function postgresServerProblem(): string | null {
  if (binDir() === undefined) return 'initdb was not found (not in /usr/lib/postgresql/*/bin, VG_POSTGRES_BIN or the PATH)';
  if (asRoot && !postgresUser()) return 'running as root, and there is no `postgres` OS user to run the server as';
  const [program, args] = command(bin('initdb'), ['--version']);
  const r = spawnSync(program, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `${program} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`;
  return null;
}

/**
 * For suites that start a PostgreSQL of their own: true when they should be skipped, having said
 * why and how to install it. Under CI=true a missing server binary fails them instead.
 */
export function skipPostgresServerTests(suite: string, problem: string | null): boolean {
  if (!problem || process.env.CI === 'true') return false;
  console.warn(`[${suite}] skipped: ${problem}. Install PostgreSQL's server binaries (Debian: \`apt-get install -y postgresql\`), or set VG_POSTGRES_BIN to the folder holding initdb and postgres`);
  return true;
}

export class PostgresServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The server's log, the last lines (for failures). */
  readonly output: string[] = [];
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    process.once('exit', this.killOnExit);
  }

  /** initdb (trust authentication, user `postgres`), then the server; resolves once it answers. */
  static async start(): Promise<PostgresServer> {
    const dir = mkdtempSync(join(tmpdir(), 'vg-pg-'));
    const user = asRoot ? postgresUser() : undefined;
    if (user) chownSync(dir, user.uid, user.gid);
    const data = join(dir, 'data');
    const [program, args] = command(bin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    const init = spawnSync(program, args, { encoding: 'utf8', cwd: dir });
    if (init.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`initdb failed (${init.status}): ${init.error?.message ?? ''}${init.stderr}`);
    }
    const [port] = await freePorts(1);
    const server = new PostgresServer(dir, port!);
    try {
      await server.begin();
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  /** A database's URL on this server (as user postgres, trust). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Stops the server (`fast`: SIGINT, what `pg_ctl stop -m fast` sends: clients are disconnected,
   * transactions rolled back, a clean checkpoint; `immediate`: SIGQUIT, a crash that recovery
   * makes good at the next start) and starts it again on the same port. Resolves with how long
   * it did not answer, from the signal to its first answer.
   */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<number> {
    const started = Date.now();
    this.child?.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await this.exited;
    await this.begin();
    return Date.now() - started;
  }

  /** Stops the server (fast) and removes its files. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child!.kill('SIGINT');
      const killed = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(killed);
    }
    process.off('exit', this.killOnExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async begin(): Promise<void> {
    const [program, args] = command(bin('postgres'), [
      '-D', join(this.dir, 'data'),
      '-p', String(this.port),
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${this.dir}`,
      // A test server: nothing here must survive the machine crashing, only the server.
      '-c', 'fsync=off',
      '-c', 'full_page_writes=off',
      '-c', 'max_connections=200',
    ]);
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('error', (e) => this.output.push(`${program}: ${e.message}\n`));
    for (const until = Date.now() + 30_000; ; ) {
      if (!this.running) throw new Error(`postgres exited:\n${this.output.join('')}`);
      const client = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 1_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (e) {
        if (Date.now() > until) throw new Error(`postgres did not answer on port ${this.port}: ${(e as Error).message}\n${this.output.join('')}`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }
}
