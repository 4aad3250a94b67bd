// A real PostgreSQL server for tests: a fresh database per suite, dropped after. The server is
// the machine's (127.0.0.1:5432, trust auth) or VG_TEST_POSTGRES_URL; nothing else in it is
// touched. Under CI=true a missing server fails the suite; elsewhere the suite is skipped and
// says how to start one.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import pg from 'pg';

/** Which database test coordinators use: VG_TEST_BACKEND=postgres (the postgres test project) or SQLite. */
export const TEST_BACKEND: 'sqlite' | 'postgres' = process.env.VG_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';

/** A database on the server the tests may create others from. */
export const POSTGRES_ADMIN_URL = process.env.VG_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<string | null> | undefined;

/** Null when the server answers, else why not. */
export function postgresProblem(): Promise<string | null> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (error) {
      return `PostgreSQL at ${redact(POSTGRES_ADMIN_URL)} does not answer (${(error as Error).message})`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

/**
 * Whether a suite that needs PostgreSQL should be skipped: only outside CI, with a message. In
 * CI (CI=true) it runs, and fails if the server is missing.
 */
export async function skipPostgresTests(suite: string): Promise<boolean> {
  const problem = await postgresProblem();
  if (!problem || process.env.CI === 'true') return false;
  console.warn(
    `[${suite}] skipped: ${problem}. Start one with \`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\` ` +
      '(Debian: `apt-get install -y postgresql`), or set VG_TEST_POSTGRES_URL to a server where this user may create databases',
  );
  return true;
}

export interface TestDatabase {
  url: string;
  name: string;
  /** Drops the database, ending whatever is still connected to it. */
  drop(): Promise<void>;
}

/**
 * A new, empty database named for this process and a random suffix, on the machine's server or
 * the one `adminUrl` names (a server of the test's own: test/helpers/postgres-server.ts).
 */
export async function createTestDatabase(adminUrl = POSTGRES_ADMIN_URL): Promise<TestDatabase> {
  const name = `vg_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * On PostgreSQL, each data dir's own database, as SQLite's file lies in it: made the first time
 * a coordinator starts on the data dir (in this process or as a child), found again when one
 * starts on it again, dropped with dropTestDatabaseOf when the test removes the data dir.
 */
const ofDataDir = new Map<string, Promise<TestDatabase>>();

export function testDatabaseOf(dataDir: string): Promise<TestDatabase> {
  const key = resolve(dataDir);
  let database = ofDataDir.get(key);
  if (!database) {
    database = createTestDatabase();
    ofDataDir.set(key, database);
    // A failed creation is not remembered: the next start tries again.
    database.catch(() => ofDataDir.delete(key));
  }
  return database;
}

/** The data dir's database if one was made for it, else undefined (it is on SQLite). */
export function existingTestDatabaseOf(dataDir: string): Promise<TestDatabase> | undefined {
  return ofDataDir.get(resolve(dataDir));
}

/** Drops the data dir's database, if it has one (whatever is still connected is ended). */
export async function dropTestDatabaseOf(dataDir: string): Promise<void> {
  const key = resolve(dataDir);
  const database = ofDataDir.get(key);
  if (!database) return;
  ofDataDir.delete(key);
  await (await database.catch(() => undefined))?.drop();
}

async function admin(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
