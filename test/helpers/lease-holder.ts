// A separate process that runs a leased job against PostgreSQL and records each turn, for the
// tests that kill it: `node --import tsx lease-holder.ts <database url> <holder> <job>`.
import { LeasedJob } from '../../coordinator/cluster/leased-job.js';
import { Leases } from '../../coordinator/cluster/leases.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { createLogger } from '../../common/log.js';
import { recordTurn } from './lease-turns.js';

const [url, holder, job] = process.argv.slice(2) as [string, string, string];
const db = new PostgresDatabase({ connectionString: url, max: 2 });
const leases = new Leases(db, holder);
const leased = new LeasedJob(leases, job, {
  ttlMs: 3_000,
  intervalMs: 100,
  log: createLogger('silent'),
  turn: async (lease) => {
    if (await recordTurn(db, leases, lease)) process.stdout.write(`turn ${lease.fencing}\n`);
  },
});
leased.start();
process.stdout.write('started\n');
