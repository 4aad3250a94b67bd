// A report's results recorded together (WorkStore.recordResults; one statement on PostgreSQL):
// every field stored as one recorded alone would store it, and a replica whose result another
// instance recorded first is left as it is and not counted as recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../coordinator/store/store.js';
import type { ResultRecord } from '../../coordinator/store/work-store.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { storeBackends } from '../helpers/store-backends.js';

const skipPostgres = await skipPostgresTests('recording results on PostgreSQL');
const T = 1_796_622_510_507;

const backends = storeBackends(skipPostgres);

const COLUMNS = `id, status, outcome, validate_state AS validateState, received_at AS receivedAt, result_hash AS resultHash,
  result_signature AS signature, output_json AS outputJson, output_hash AS outputHash, error_json AS errorJson, log_json AS logJson,
  cpu_time_ms AS cpuTimeMs, elapsed_ms AS elapsedMs, progress`;

for (const backend of backends) {
  describe.skipIf(backend.skip)(`results recorded together on ${backend.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      ({ store, dispose } = await backend.open());
      const run = (sql: string) => store.sql.run(sql);
      await run(`INSERT INTO users (id, name, created_at) VALUES (1, 'u', ${T})`);
      await run(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at, last_seen_at)
        VALUES (1, 'k', 1, 'node', 'node', '{}', '{}', ${T}, ${T})`);
      await run(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ${T})`);
      await run(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ${T})`);
      await run(`INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', ${T})`);
      for (const id of [1, 2, 3]) {
        await run(`INSERT INTO workunits (id, batch_id, app_id, seq, input_hash, min_quorum, target_nresults, max_error_results, max_total_results,
          max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at) VALUES (${id}, 1, 1, ${id}, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 's', ${T})`);
        await run(`INSERT INTO replicas (id, workunit_id, priority, status, host_id, created_at, kind) VALUES (${id}, ${id}, 0, 'in_progress', 1, ${T}, 'regular')`);
      }
      // Another instance got there first.
      await run("UPDATE replicas SET status = 'over', outcome = 'success', validate_state = 'pending', result_hash = 'theirs' WHERE id = 3");
    });
    afterAll(async () => dispose?.());

    it('stores every field exactly, and counts only what it recorded', async () => {
      const success: ResultRecord = {
        replicaId: 1, outcome: 'success', receivedAt: T + 1, resultHash: 'h1', signature: 'sig1',
        outputJson: '{"text":"quote \\" backslash \\\\ line\\nend é 🚀","n":0.30000000000000004}', outputHash: 'o1', errorJson: null,
        logJson: '{"lines":["a","b"],"omitted":0}', cpuTimeMs: 0.1 + 0.2, elapsedMs: 1e-7,
      };
      const error: ResultRecord = {
        replicaId: 2, outcome: 'client_error', receivedAt: T + 2, resultHash: 'h2', signature: 'sig2', outputJson: null, outputHash: null,
        errorJson: '{"code":"app_load_failed","message":"no"}', logJson: null, cpuTimeMs: 12, elapsedMs: 2 ** 53 - 1,
      };
      const late: ResultRecord = { ...success, replicaId: 3, resultHash: 'mine' };
      const recorded = await store.transaction((tx) => tx.work.recordResults([success, error, late]));
      expect([...recorded].sort()).toEqual([1, 2]);
      const rows = await store.sql.all(`SELECT ${COLUMNS} FROM replicas ORDER BY id`);
      const { replicaId: _s, ...s } = success;
      const { replicaId: _e, ...e } = error;
      expect(rows).toEqual([
        { id: 1, status: 'over', validateState: 'pending', progress: 1, ...s },
        { id: 2, status: 'over', validateState: null, progress: 1, ...e },
        expect.objectContaining({ id: 3, resultHash: 'theirs', signature: null }),
      ]);
      // Recorded once: again, nothing changes.
      expect((await store.transaction((tx) => tx.work.recordResults([{ ...success, resultHash: 'again' }, { ...error, resultHash: 'again' }]))).size).toBe(0);
      expect(await store.sql.get('SELECT result_hash AS h FROM replicas WHERE id = 1')).toEqual({ h: 'h1' });
    });
  });
}
