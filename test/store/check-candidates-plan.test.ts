// The scheduler's search for a done work unit to send again as a check (WorkStore.checkCandidates)
// reads a few rows for each work unit it looks at, however many results have been judged since
// PostgreSQL's planner last took its statistics. Planned from statistics taken while the batch
// was still open, its three NOT EXISTS became anti-joins that read a partial index whole for each
// work unit (replicas_host_valid: every valid replica of every host, for each of 30 work units):
// 11 ms a call in the benchmark, about a third of PostgreSQL's time, and growing with the batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../coordinator/store/store.js';
import { CHECK_CANDIDATES_SQL } from '../../coordinator/store/work-store.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';

const skip = await skipPostgresTests('the check search’s plan on PostgreSQL');
const T = 1_796_622_510_507;
const UNITS = 3_000;

interface PlanNode {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows every scan of the plan read, over all its loops (those it kept and those it filtered out). */
function rowsRead(node: PlanNode): number {
  const own = node['Node Type'].includes('Scan')
    ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops']
    : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child), 0);
}

describe.skipIf(skip)('the check search’s plan on PostgreSQL', () => {
  let database: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = await Store.openPostgres(database.url);
    const run = (sql: string) => store.sql.run(sql);
    await run(`INSERT INTO users (id, name, created_at) SELECT g, 'u' || g, ${T} FROM generate_series(1, 12) AS g`);
    await run(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at, last_seen_at)
      SELECT g, 'h' || g, g, 'node', 'node', '{}', '{}', ${T}, ${T} FROM generate_series(1, 12) AS g`);
    await run(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ${T})`);
    await run(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ${T})`);
    await run(`INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', ${T})`);
    // Autovacuum kept out: the statistics stay those of an open batch, as they are until it next looks.
    for (const table of ['workunits', 'replicas']) await run(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
    await run(`INSERT INTO workunits (id, batch_id, app_id, seq, input_hash, min_quorum, target_nresults, max_error_results,
        max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at)
      SELECT g, 1, 1, g, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 'seed', ${T} FROM generate_series(1, ${UNITS}) AS g`);
    // Two replicas a work unit, on hosts 2..12 (never host 1, the one asking), all still unsent.
    await run(`INSERT INTO replicas (id, workunit_id, priority, status, created_at, kind)
      SELECT w.id * 2 - 2 + n, w.id, 0, 'unsent', ${T}, 'regular' FROM workunits w, generate_series(1, 2) AS n`);
    await run('ANALYZE workunits, replicas');
    // The batch is then computed and judged: every work unit done, both its replicas valid.
    await run(`UPDATE replicas SET status = 'over', outcome = 'success', validate_state = 'valid', host_id = 2 + (id % 11),
      sent_at = ${T}, received_at = ${T}`);
    await run(`UPDATE workunits SET status = 'done', canonical_replica_id = id * 2 - 1, finished_at = ${T}`);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('reads a few rows a work unit, not every valid replica for each', async () => {
    const params = { host: 1, from: 1, scan: 256, limit: 4 };
    const found = await store.sql.all<{ workunitId: number }>(CHECK_CANDIDATES_SQL, params);
    expect(found.map((c) => c.workunitId)).toEqual([1, 2, 3, 4]);

    const [row] = await store.sql.all<Record<string, PlanNode[] | string>>(`EXPLAIN (ANALYZE, FORMAT JSON) ${CHECK_CANDIDATES_SQL}`, params);
    const explained = Object.values(row!)[0]!;
    const plan = (typeof explained === 'string' ? JSON.parse(explained) : explained) as { Plan: PlanNode }[];
    // Four work units looked at: each its row, its batch, app and project, two replicas and their hosts.
    expect(rowsRead(plan[0]!.Plan)).toBeLessThanOrEqual(100);
  });

  it('still leaves out what may not be checked: a checked work unit, one of the asking host’s, one a distrusted host decided', async () => {
    await store.sql.run(`INSERT INTO replicas (id, workunit_id, priority, status, created_at, kind) VALUES (${UNITS * 2 + 1}, 1, 0, 'unsent', ${T}, 'check')`);
    await store.sql.run('UPDATE replicas SET host_id = 1 WHERE id = 3'); // work unit 2
    await store.sql.run(`UPDATE hosts SET distrusted_at = ${T} WHERE id = (SELECT host_id FROM replicas WHERE id = 5)`); // work unit 3
    const distrusted = await store.sql.all<{ workunitId: number }>(
      `SELECT DISTINCT workunit_id AS workunitId FROM replicas WHERE host_id = (SELECT host_id FROM replicas WHERE id = 5) AND workunit_id <= 20`,
    );
    const found = await store.sql.all<{ workunitId: number }>(CHECK_CANDIDATES_SQL, { host: 1, from: 1, scan: 256, limit: 4 });
    const left = new Set([1, 2, ...distrusted.map((d) => d.workunitId)]);
    expect(found.map((c) => c.workunitId)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1).filter((id) => !left.has(id)).slice(0, 4),
    );
  });
});
