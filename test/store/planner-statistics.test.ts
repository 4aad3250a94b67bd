// After a batch's replicas are made, PostgreSQL's planner is told at once what the work queue
// holds (ANALYZE), rather than planning from statistics autovacuum took when the queue was
// nearly empty: the queue is then read in order by its index, not whole and sorted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { PlannerStatistics } from '../../coordinator/store/postgres/planner-statistics.js';
import { Store } from '../../coordinator/store/store.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';

const skip = await skipPostgresTests('planner statistics on PostgreSQL');
const T = 1_796_622_510_507;
// The scheduler's queue of regular work (WorkStore.candidates), a page of it.
const QUEUE = `EXPLAIN SELECT r.id FROM replicas r JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id
  JOIN projects p ON p.id = a.project_id JOIN batches b ON b.id = w.batch_id
  WHERE r.status = 'unsent' AND r.kind <> 'sentinel' AND p.status <> 'paused' ORDER BY r.priority DESC, r.id LIMIT 68 OFFSET 0`;

describe.skipIf(skip)('the planner’s statistics on PostgreSQL', () => {
  let database: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = await Store.openPostgres(database.url);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  const plan = async () => (await store.sql.all<Record<string, string>>(QUEUE)).map((r) => Object.values(r)[0]).join('\n');
  const workunits = async (from: number, to: number) => {
    await store.sql.run(
      `INSERT INTO workunits (id, batch_id, app_id, seq, input_hash, min_quorum, target_nresults, max_error_results, max_total_results,
         max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at)
       SELECT g, 1, 1, g, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 'seed', ${T} FROM generate_series(${from}, ${to}) AS g`,
    );
    await store.sql.run(
      `INSERT INTO replicas (workunit_id, priority, status, created_at, kind) SELECT w.id, 0, 'unsent', ${T}, 'regular'
       FROM workunits w, generate_series(1, 2) AS n WHERE w.id BETWEEN ${from} AND ${to}`,
    );
  };

  it('refreshes them after replicas are made, so the queue is read in order from its index', async () => {
    await store.sql.run(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ${T})`);
    await store.sql.run(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ${T})`);
    await store.sql.run(`INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', ${T})`);
    // Autovacuum kept out of this database's two tables: the test plays its part.
    await store.sql.run('ALTER TABLE workunits SET (autovacuum_enabled = false)');
    await store.sql.run('ALTER TABLE replicas SET (autovacuum_enabled = false)');
    // Autovacuum's last look: a batch done but for one work unit, two replicas in the queue.
    await workunits(1, 2_000);
    await store.sql.run("UPDATE replicas SET status = 'over', outcome = 'success' WHERE workunit_id < 2000");
    await store.sql.run('ANALYZE workunits, replicas');
    // A batch arrives: 10,000 replicas. The planner still believes in two, and sorts them all.
    await workunits(2_001, 7_000);
    expect(await plan()).toMatch(/Sort/);

    const statistics = new PlannerStatistics(store.sql, createLogger('silent'));
    statistics.changed();
    // A second change at once is let pass, to be refreshed after the interval (not waited for here).
    statistics.changed();
    await statistics.close();
    const after = await plan();
    expect(after).toMatch(/Index Scan using replicas_unsent on replicas r/);
    expect(after).not.toMatch(/Sort/);
  });

  it('does nothing on SQLite', async () => {
    const sqlite = Store.open(':memory:');
    try {
      const statistics = new PlannerStatistics(sqlite.sql, createLogger('silent'));
      statistics.changed();
      await statistics.close();
    } finally {
      await sqlite.close();
    }
  });
});
