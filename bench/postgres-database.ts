// A fresh PostgreSQL database for one benchmark deployment, on the machine's server
// (VG_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres), dropped after.
// Nothing else on the server is touched. Its CPU is that of the server processes serving this
// database (its backends), read from /proc: the server's shared processes (WAL writer,
// checkpointer) also serve other databases, so they are left out and said to be.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { sampleProcess } from './proc-stats.js';

export const POSTGRES_ADMIN_URL = process.env.VG_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** CPU ms of each live backend of one database, by pid. */
export type BackendCpu = Map<number, number>;

export class BenchDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
  ) {}

  static async create(): Promise<BenchDatabase> {
    const name = `vg_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
    try {
      await admin(`CREATE DATABASE ${name}`);
    } catch (e) {
      throw new Error(`PostgreSQL at ${POSTGRES_ADMIN_URL} could not create a database (${(e as Error).message}): start one, or set VG_BENCH_POSTGRES_URL to a server where this user may create databases`);
    }
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return new BenchDatabase(name, url.toString());
  }

  /** CPU of the backends serving this database now. */
  sample(): BackendCpu {
    const out: BackendCpu = new Map();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // A backend's title: "postgres: 15/main: user database 127.0.0.1(port) state".
        const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
        if (title.startsWith('postgres:') && title.includes(` ${this.name} `)) out.set(Number(entry), sampleProcess(Number(entry)).cpuMs);
      } catch {
        // Gone between the listing and the read.
      }
    }
    return out;
  }

  async drop(): Promise<void> {
    await admin(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

/** CPU the backends used between two samples (a backend that ended in between is not counted: pools keep theirs). */
export function backendCpuDelta(before: BackendCpu, after: BackendCpu): number {
  let ms = 0;
  for (const [pid, cpu] of after) ms += cpu - (before.get(pid) ?? 0);
  return ms;
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
