// Singleton jobs under leases on a real PostgreSQL: one holder at a time, however many race; the
// job moves to another instance when its holder is killed with SIGKILL; a holder that lost its
// lease writes nothing more. And on SQLite, the one process always holds.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeasedJob } from '../../coordinator/cluster/leased-job.js';
import { Leases } from '../../coordinator/cluster/leases.js';
import { createLogger } from '../../common/log.js';
import { migratePostgres } from '../../coordinator/store/postgres/migrate.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { Store } from '../../coordinator/store/store.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { recordTurn, TURNS_TABLE } from '../helpers/lease-turns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const skip = await skipPostgresTests('leases on PostgreSQL');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('leases on PostgreSQL', () => {
  let database: TestDatabase;
  let db: PostgresDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new PostgresDatabase({ connectionString: database.url, max: 8 });
    await migratePostgres(db);
    await db.run(TURNS_TABLE);
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('goes to exactly one of eight instances racing for it, and to another only once it expired', async () => {
    const instances = Array.from({ length: 8 }, (_, i) => new Leases(db, `instance-${i}`));
    const won = (await Promise.all(instances.map((l) => l.acquire('race', 60_000)))).filter((l) => l !== undefined);
    expect(won).toHaveLength(1);
    expect(won[0]!.fencing).toBe(1);
    const holder = instances.find((l) => l.holder === won[0]!.holder)!;
    const other = instances.find((l) => l !== holder)!;
    expect(await other.acquire('race', 60_000)).toBeUndefined();
    // The holder renews; taking it again as the holder keeps its number.
    expect((await holder.renew(won[0]!, 60_000))?.fencing).toBe(1);
    expect((await holder.acquire('race', 60_000))?.fencing).toBe(1);

    // Expired (a tiny ttl): the next instance takes it with a larger number, and the old holder
    // can neither renew it nor write under it.
    const short = (await holder.acquire('short', 50))!;
    await sleep(120);
    const taken = (await other.acquire('short', 60_000))!;
    expect(taken.fencing).toBe(short.fencing + 1);
    expect(await holder.renew(short, 60_000)).toBeUndefined();
    expect(await recordTurn(db, holder, short)).toBe(false);
    expect(await recordTurn(db, other, taken)).toBe(true);
  });

  // Its own waits bound it (30 s for the holder process to start, 20 s for the job to move); a
  // loaded machine starts a process slowly, so the test's limit is above their sum.
  it('moves its job to another instance when the holder process is killed with SIGKILL', { timeout: 90_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'lease-holder.ts'), database.url, 'doomed', 'sweeper'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      for (let i = 0; i < 300 && !/turn 1\n/.test(out); i++) await sleep(100);
      expect(out).toMatch(/turn 1\n/);

      const survivor = new Leases(db, 'survivor');
      const log = createLogger('silent');
      const turns: number[] = [];
      const job = new LeasedJob(survivor, 'sweeper', {
        ttlMs: 3_000,
        intervalMs: 100,
        log,
        turn: async (lease) => {
          if (await recordTurn(db, survivor, lease)) turns.push(lease.fencing);
        },
      });
      job.start();
      await sleep(600);
      expect(job.held).toBe(false);
      expect(turns).toEqual([]);

      child.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      for (let i = 0; i < 200 && turns.length === 0; i++) await sleep(100);
      expect(turns[0]).toBe(2);
      // It waited out the dead holder's lease, and not much longer (3 s lease, 0.1 s turns).
      console.log(`leased job moved ${Date.now() - killedAt} ms after the holder was killed`);
      await job.stop();

      const rows = await db.all<{ holder: string; fencing: number }>("SELECT holder, fencing FROM lease_turns WHERE holder IN ('doomed', 'survivor') ORDER BY id");
      const holders = rows.map((r) => r.holder);
      // Every turn of the dead holder came before every turn of the survivor, under a smaller number.
      expect(holders.lastIndexOf('doomed')).toBeLessThan(holders.indexOf('survivor'));
      expect(new Set(rows.filter((r) => r.holder === 'doomed').map((r) => r.fencing))).toEqual(new Set([1]));
      expect(new Set(rows.filter((r) => r.holder === 'survivor').map((r) => r.fencing))).toEqual(new Set([2]));
      // A clean stop gives the lease up at once.
      expect((await new Leases(db, 'next').acquire('sweeper', 1_000))?.fencing).toBe(3);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('leases on SQLite', () => {
  it('are always the one process’s, through the same statements', async () => {
    const store = Store.open(':memory:');
    try {
      let t = 1_000;
      const leases = new Leases(store.sql, 'only', () => t);
      const lease = (await leases.acquire('sweeper', 1_000))!;
      expect(lease).toMatchObject({ fencing: 1, expiresAt: 2_000 });
      t = 1_500;
      expect(await leases.renew(lease, 1_000)).toMatchObject({ expiresAt: 2_500 });
      expect(await store.sql.transaction((tx) => leases.holds(tx, lease))).toBe(true);
      t = 3_000;
      expect(await store.sql.transaction((tx) => leases.holds(tx, lease))).toBe(false);
      expect(await new Leases(store.sql, 'another', () => t).acquire('sweeper', 1_000)).toMatchObject({ fencing: 2 });
    } finally {
      await store.close();
    }
  });
});
