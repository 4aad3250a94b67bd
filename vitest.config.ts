import { defineConfig } from 'vitest/config';
import pg from 'pg';

/**
 * Suites that run a second time with every test coordinator on PostgreSQL (a fresh database
 * each, dropped after: test/helpers/test-coordinator.ts). The rest read SQLite's file directly
 * to check what they test, and run on SQLite only until they read through the store instead.
 */
const ON_POSTGRES = [
  'test/integration/app-log.test.ts',
  'test/integration/blocked-batches.test.ts',
  'test/integration/files-dir.test.ts',
  'test/integration/held-writes.test.ts',
  'test/integration/ledger-pages.test.ts',
  'test/integration/page-headers.test.ts',
  'test/integration/protocol-v3.test.ts',
  'test/integration/rate-limits.test.ts',
  'test/integration/stuck-work.test.ts',
  'test/integration/uploads.test.ts',
  'test/integration/verdicts.test.ts',
  'test/api/client-address.test.ts',
  'test/api/credit.test.ts',
  'test/api/live.test.ts',
  'test/api/login-throttle.test.ts',
  'test/api/origins.test.ts',
  'test/api/repair.test.ts',
  'test/ops/metrics.test.ts',
  'test/ops/readiness.test.ts',
  'test/reliability/crash.test.ts',
  'test/reliability/churn.test.ts',
  'test/reliability/cheaters.test.ts',
  'test/security/fuzz.test.ts',
  // Cluster suites that need the postgres project (they skip themselves on the sqlite one).
  'test/cluster/volunteer-failover.test.ts',
  'test/web/page-failover.test.ts',
  'test/cluster/leased-jobs.test.ts',
];

const POSTGRES_URL = process.env.VG_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Null when PostgreSQL answers, else why not. */
async function postgresProblem(): Promise<string | null> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const problem = await postgresProblem();
// Under CI a missing server is a failure (the suites run, and fail); elsewhere they are left out, saying so.
const onPostgres = !problem || process.env.CI === 'true';
if (!onPostgres) {
  console.warn(
    `[postgres project] skipped: PostgreSQL at ${POSTGRES_URL} does not answer (${problem}). Start one with ` +
      '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (Debian: `apt-get install -y postgresql`), ' +
      'or set VG_TEST_POSTGRES_URL to a server where this user may create databases',
  );
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites start real coordinators and child processes; two cores here.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      ...(onPostgres ? [{ extends: true as const, test: { name: 'postgres', include: ON_POSTGRES, env: { VG_TEST_BACKEND: 'postgres' } } }] : []),
    ],
  },
});
