// The PostgreSQL schema is SQLite's: the same tables, columns, nullability, keys and indexes
// (with the differences schema.ts names), the same counters kept by triggers, and a migration
// that several instances may start at once.
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../coordinator/store/database.js';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../coordinator/store/postgres/migrate.js';
import { POSTGRES_BASELINE_VERSION } from '../../coordinator/store/postgres/schema.js';
import { MIGRATIONS } from '../../coordinator/store/migrations.js';
import { counterProblemsIn } from '../../coordinator/ops/recount.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { ConstraintError, type SqlDatabase, type SqlExecutor } from '../../coordinator/store/sql/sql.js';
import { SqliteDatabase } from '../../coordinator/store/sql/sqlite-database.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';

const skip = await skipPostgresTests('PostgreSQL schema');

/** Columns only the PostgreSQL schema has, and why (schema.ts). */
const POSTGRES_ONLY = new Set(['batch_counts.slot', 'batch_finished.slot']);

describe.skipIf(skip)('the PostgreSQL schema', () => {
  let database: TestDatabase;
  let pg: PostgresDatabase;
  let sqliteRaw: Database.Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    pg = new PostgresDatabase({ connectionString: database.url, max: 4 });
    sqliteRaw = openDatabase(':memory:');
  });
  afterAll(async () => {
    sqliteRaw?.close();
    await pg?.close();
    await database?.drop();
  });

  it('is migrated once when four instances start on an empty database at the same time', async () => {
    const instances = Array.from({ length: 4 }, () => new PostgresDatabase({ connectionString: database.url, max: 1 }));
    try {
      const applied = await Promise.all(instances.map((db) => migratePostgres(db)));
      const versions = [POSTGRES_BASELINE_VERSION, ...POSTGRES_MIGRATIONS.map((m) => m.version)];
      expect(applied.flat()).toEqual(versions);
      expect(await migratePostgres(pg)).toEqual([]);
      expect((await pg.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version)).toEqual(versions);
    } finally {
      await Promise.all(instances.map((db) => db.close()));
    }
  });

  it('has every SQLite migration: the baseline, then the same numbers', () => {
    const sqlite = MIGRATIONS.map((m) => m.version).filter((v) => v > POSTGRES_BASELINE_VERSION);
    expect(POSTGRES_MIGRATIONS.map((m) => m.version)).toEqual(sqlite);
  });

  it('has the tables, columns, nullability and indexes SQLite has', async () => {
    const sqliteColumns = new Map<string, boolean>();
    const tables = sqliteRaw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[];
    for (const { name } of tables) {
      for (const c of sqliteRaw.prepare(`PRAGMA table_info(${name})`).all() as { name: string; notnull: number; pk: number }[]) {
        // SQLite's INTEGER PRIMARY KEY may be NULL on insert (it picks the id); both refuse NULL after.
        sqliteColumns.set(`${name}.${c.name}`, c.notnull === 1 || c.pk > 0);
      }
    }
    const pgColumns = new Map<string, boolean>();
    for (const c of await pg.all<{ t: string; c: string; nullable: string }>(
      "SELECT table_name AS t, column_name AS c, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = 'public'",
    )) {
      pgColumns.set(`${c.t}.${c.c}`, c.nullable === 'NO');
    }
    for (const key of POSTGRES_ONLY) expect(pgColumns.delete(key), key).toBe(true);
    expect(Object.fromEntries([...pgColumns].sort())).toEqual(Object.fromEntries([...sqliteColumns].sort()));

    const sqliteIndexes = (sqliteRaw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
    const pgIndexes = (await pg.all<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'")).map((r) => r.name);
    for (const name of sqliteIndexes) expect(pgIndexes, name).toContain(name);
  });

  it('keeps the ledger append-only, refused as a constraint on both', async () => {
    const sqlite = new SqliteDatabase(sqliteRaw);
    for (const db of [sqlite, pg] as SqlDatabase[]) {
      await seed(db);
      await db.run(
        "INSERT INTO credit_ledger (replica_id, workunit_id, host_id, host_key, user_id, amount, granted_at, prev_hash, entry_hash, signature) VALUES (10, 1, 1, 'k', 1, 1, 0, 'p', ?, 's')",
        [`e-${db.dialect}`],
      );
      await expect(db.run('UPDATE credit_ledger SET amount = 2')).rejects.toBeInstanceOf(ConstraintError);
      await expect(db.run('DELETE FROM credit_ledger')).rejects.toBeInstanceOf(ConstraintError);
    }
  });

  it('moves the counts once a statement: one write of a batch’s slot and of each host, however many replicas it changed', async () => {
    const fresh = await createTestDatabase();
    const db = new PostgresDatabase({ connectionString: fresh.url, max: 2 });
    try {
      await migratePostgres(db);
      await seed(db);
      // This transaction's own writes to a table so far (PostgreSQL counts them as it goes).
      const writes = async (tx: SqlExecutor, table: string) =>
        Number((await tx.get<{ n: string }>(`SELECT n_tup_ins + n_tup_upd AS n FROM pg_stat_xact_user_tables WHERE relname = '${table}'`))!.n);
      await db.transaction(async (tx) => {
        const before = { counts: await writes(tx, 'batch_counts'), hosts: await writes(tx, 'hosts') };
        // Twelve replicas of one batch sent to two hosts, then judged, in two statements.
        await tx.run("UPDATE replicas SET status = 'in_progress', host_id = (id % 2) + 1, sent_at = 2000");
        await tx.run("UPDATE replicas SET status = 'over', outcome = 'success', validate_state = 'valid', received_at = 3000");
        // A statement that moves no count writes nothing.
        await tx.run('UPDATE replicas SET cpu_time_ms = 5');
        expect(await writes(tx, 'batch_counts')).toBe(before.counts + 2);
        // Sent moves no host count; judged moves both hosts' once.
        expect(await writes(tx, 'hosts')).toBe(before.hosts + 2);
      });
      const hosts = await db.all<{ id: number; nValid: string }>('SELECT id, n_valid AS "nValid" FROM hosts ORDER BY id');
      expect(hosts.map((h) => Number(h.nValid))).toEqual([6, 6]);
      expect(await counterProblemsIn(db)).toEqual([]);
    } finally {
      await db.close();
      await fresh.drop();
    }
  });

  it('keeps batch and host counts as SQLite does, through the same statements, equal to a recount', async () => {
    const sqlite = new SqliteDatabase(openDatabase(':memory:'));
    const fresh = await createTestDatabase();
    const postgres = new PostgresDatabase({ connectionString: fresh.url, max: 3 });
    try {
      await migratePostgres(postgres);
      const seen: unknown[] = [];
      for (const db of [sqlite, postgres] as SqlDatabase[]) {
        await seed(db);
        await play(db);
        const counts = await db.get(`SELECT sum(active) AS active, sum(done) AS done, sum(failed) AS failed, sum(cancelled) AS cancelled,
            sum(r_unsent) AS unsent, sum(r_in_progress) AS inProgress, sum(r_success) AS success, sum(r_client_error) AS clientError,
            sum(r_no_reply) AS noReply, sum(r_not_needed) AS notNeeded, sum(r_new_host) AS newHost, max(last_finished_at) AS lastFinishedAt
          FROM batch_counts WHERE batch_id = 1`);
        const recount = await db.get(`SELECT
            (SELECT count(*) FROM workunits WHERE batch_id = 1 AND status = 'active') AS active,
            (SELECT count(*) FROM workunits WHERE batch_id = 1 AND status = 'done') AS done,
            (SELECT count(*) FROM workunits WHERE batch_id = 1 AND status = 'failed') AS failed,
            (SELECT count(*) FROM workunits WHERE batch_id = 1 AND status = 'cancelled') AS cancelled,
            (SELECT count(*) FROM replicas WHERE status = 'unsent') AS unsent,
            (SELECT count(*) FROM replicas WHERE status = 'in_progress') AS inProgress,
            (SELECT count(*) FROM replicas WHERE status = 'over' AND outcome = 'success') AS success,
            (SELECT count(*) FROM replicas WHERE status = 'over' AND outcome = 'client_error') AS clientError,
            (SELECT count(*) FROM replicas WHERE status = 'over' AND outcome = 'no_reply') AS noReply,
            (SELECT count(*) FROM replicas WHERE status = 'over' AND outcome = 'not_needed') AS notNeeded,
            (SELECT count(*) FROM replicas WHERE status = 'in_progress' AND new_host = 1) AS newHost,
            (SELECT max(finished_at) FROM workunits WHERE batch_id = 1) AS lastFinishedAt`);
        expect(counts, db.dialect).toEqual(recount);
        // admin verify's recount, through the contract: it sums the slots, and finds nothing on either.
        expect(await counterProblemsIn(db), db.dialect).toEqual([]);
        const finished = await db.all('SELECT second, sum(done) AS done, sum(failed) AS failed FROM batch_finished WHERE batch_id = 1 GROUP BY second HAVING sum(done) + sum(failed) > 0 ORDER BY second');
        const hosts = await db.all(`SELECT h.id, h.n_valid AS nValid, h.n_invalid AS nInvalid, h.n_error AS nError,
            (SELECT count(*) FROM replicas r WHERE r.host_id = h.id AND r.validate_state = 'valid') AS valid,
            (SELECT count(*) FROM replicas r WHERE r.host_id = h.id AND r.validate_state = 'invalid') AS invalid,
            (SELECT count(*) FROM replicas r WHERE r.host_id = h.id AND r.outcome = 'client_error') AS error
          FROM hosts h ORDER BY h.id`);
        for (const h of hosts as { nValid: number; valid: number; nInvalid: number; invalid: number; nError: number; error: number }[]) {
          expect([h.nValid, h.nInvalid, h.nError]).toEqual([h.valid, h.invalid, h.error]);
        }
        seen.push({ counts, finished, hosts });
        // …and finds a count that drifted, in whichever slot.
        await db.run('UPDATE batch_counts SET done = done + 1 WHERE batch_id = 1');
        expect(await counterProblemsIn(db), db.dialect).toEqual([expect.stringMatching(/^batch 1: done kept \d+, counted 1$/)]);
      }
      expect(seen[1]).toEqual(seen[0]);
    } finally {
      await sqlite.close();
      await postgres.close();
      await fresh.drop();
    }
  });
});

/** A project, app, batch and two hosts, by the same statements on both backends. */
async function seed(db: SqlDatabase): Promise<void> {
  await db.run("INSERT INTO users (id, name, created_at) VALUES (1, 'u', 0), (2, 'v', 0)");
  await db.run("INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at, last_seen_at) VALUES (1, 'h1', 1, 'node', 'node', '{}', '{}', 0, 0), (2, 'h2', 2, 'node', 'node', '{}', '{}', 0, 0)");
  await db.run("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)");
  await db.run("INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{}', 0)");
  await db.run("INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', 1000)");
  for (let w = 1; w <= 6; w++) {
    await db.run(
      `INSERT INTO workunits (id, batch_id, app_id, input_hash, min_quorum, target_nresults, max_error_results, max_total_results, max_success_results,
        delay_bound_ms, fpops_est, priority, rng_seed, created_at) VALUES (?, 1, 1, 'i', 2, 2, 3, 4, 3, 1000, 1, 0, 's', 1000)`,
      [w],
    );
    for (let r = 0; r < 2; r++) await db.run("INSERT INTO replicas (id, workunit_id, priority, status, created_at) VALUES (?, ?, 0, 'unsent', 1000)", [w * 10 + r, w]);
  }
}

/** The life of a batch: sends, results, validation, a failure, a cancel, a deletion. */
async function play(db: SqlDatabase): Promise<void> {
  await db.run("UPDATE replicas SET status = 'in_progress', host_id = (id % 2) + 1, sent_at = 2000, new_host = (id % 2) WHERE workunit_id <= 5");
  await db.run("UPDATE replicas SET status = 'over', outcome = 'success', validate_state = 'pending', received_at = 3000 WHERE workunit_id <= 3");
  await db.run("UPDATE replicas SET validate_state = 'valid' WHERE workunit_id <= 2");
  await db.run("UPDATE replicas SET validate_state = 'invalid' WHERE workunit_id = 3 AND host_id = 1");
  await db.run("UPDATE workunits SET status = 'done', finished_at = 3500 WHERE id <= 2");
  await db.run("UPDATE replicas SET status = 'over', outcome = 'client_error' WHERE workunit_id = 4");
  await db.run("UPDATE workunits SET status = 'failed', finished_at = 7200, error_reason = 'e' WHERE id = 4");
  await db.run("UPDATE replicas SET status = 'over', outcome = 'no_reply' WHERE workunit_id = 5 AND host_id = 2");
  await db.run("UPDATE replicas SET host_id = 1 WHERE workunit_id = 5 AND host_id = 2");
  await db.run("UPDATE replicas SET status = 'over', outcome = 'not_needed' WHERE workunit_id = 6");
  await db.run("UPDATE workunits SET status = 'cancelled', finished_at = 8000 WHERE id = 6");
  await db.run("UPDATE workunits SET status = 'active', finished_at = NULL WHERE id = 2");
  await db.run('DELETE FROM replicas WHERE id = 61');
  await db.run("INSERT INTO replicas (id, workunit_id, priority, status, created_at, host_id, outcome, validate_state) VALUES (99, 1, 0, 'over', 1000, 2, 'success', 'valid')");
  // A finished work unit whose finish moves to another second, and one taken away finished.
  await db.run('UPDATE workunits SET finished_at = 9100 WHERE id = 1');
  await db.run('DELETE FROM replicas WHERE workunit_id = 4');
  await db.run('DELETE FROM workunits WHERE id = 4');
  // A change that moves no count, and one that moves a host's only.
  await db.run('UPDATE replicas SET new_host = 1 WHERE id = 30');
  await db.run("UPDATE replicas SET validate_state = 'valid' WHERE id = 31");
}
