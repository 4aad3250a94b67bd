// Work units and replicas inserted many at a time (WorkStore.insertWorkunits, insertReplicaSets;
// a statement per few megabytes on PostgreSQL, not one a row): every field stored exactly as one
// inserted alone stores it, ids in the order given, and a statement split by size loses nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../coordinator/store/store.js';
import type { NewWorkunit } from '../../coordinator/store/work-store.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { storeBackends } from '../helpers/store-backends.js';

const skipPostgres = await skipPostgresTests('inserting many rows on PostgreSQL');
const T = 1_796_622_510_507;

const COLUMNS = `batch_id AS batchId, seq, app_id AS appId, input_json AS inputJson, input_hash AS inputHash, min_quorum AS minQuorum,
  target_nresults AS targetNresults, max_error_results AS maxErrorResults, max_total_results AS maxTotalResults,
  max_success_results AS maxSuccessResults, delay_bound_ms AS delayBoundMs, fpops_est AS fpopsEst, priority, rng_seed AS rngSeed,
  created_at AS createdAt, expected_output_json AS expectedOutputJson, expected_output_hash AS expectedOutputHash, status`;

function unit(seq: number, over: Partial<NewWorkunit> = {}): NewWorkunit {
  return {
    batchId: 1, seq, appId: 1, inputJson: `{"n":${seq}}`, inputHash: `h${seq}`, minQuorum: 2, targetNresults: 2, maxErrorResults: 3,
    maxTotalResults: 8, maxSuccessResults: 6, delayBoundMs: 86_400_000, fpopsEst: 1e12, priority: 0, rngSeed: `s${seq}`,
    expectedOutputJson: null, expectedOutputHash: null, ...over,
  };
}

for (const backend of storeBackends(skipPostgres)) {
  describe.skipIf(backend.skip)(`many rows inserted at once on ${backend.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      ({ store, dispose } = await backend.open());
      const run = (sql: string) => store.sql.run(sql);
      await run(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ${T})`);
      await run(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ${T})`);
      await run(`INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', ${T})`);
    });
    afterAll(async () => dispose?.());

    it('stores every field of every work unit exactly, with ids in the order given, across statements split by size', async () => {
      const odd = unit(1, {
        inputJson: '{"text":"quote \\" backslash \\\\ line\\nend é 🚀","x":0.30000000000000004}', inputHash: 'odd', minQuorum: 1, targetNresults: 3,
        delayBoundMs: 2 ** 53 - 1, fpopsEst: 0.1 + 0.2, priority: -5, expectedOutputJson: '{"answer":42}', expectedOutputHash: 'e',
      });
      const large = unit(2, { inputJson: `{"pad":"${'x'.repeat(3 * 1024 * 1024)}"}` });
      const big = unit(3, { inputJson: `{"pad":"${'y'.repeat(2 * 1024 * 1024)}"}` });
      const filed = unit(4, { inputJson: null, inputHash: 'f'.repeat(64) });
      const rest = Array.from({ length: 300 }, (_, i) => unit(5 + i));
      const all = [unit(0), odd, large, big, filed, ...rest];
      await store.transaction((tx) => tx.work.insertWorkunits(all, T));

      const rows = await store.sql.all<{ id: number; seq: number }>(`SELECT id, ${COLUMNS} FROM workunits ORDER BY id`);
      expect(rows.map((r) => r.seq)).toEqual(all.map((w) => w.seq));
      expect(rows.map(({ id: _id, ...r }) => r)).toEqual(all.map((w) => ({ ...w, createdAt: T, status: 'active' })));
    });

    it('makes each set of replicas, in the order given, unsent', async () => {
      const ids = ((await store.sql.all('SELECT id FROM workunits ORDER BY id LIMIT 3')) as { id: number }[]).map((r) => r.id);
      const sets = [
        { workunitId: ids[0]!, priority: 0, count: 2, kind: 'regular' as const },
        { workunitId: ids[1]!, priority: 7, count: 1, kind: 'sentinel' as const },
        { workunitId: ids[2]!, priority: -1, count: 3, kind: 'check' as const },
      ];
      await store.transaction((tx) => tx.work.insertReplicaSets(sets, T + 1));
      await store.transaction((tx) => tx.work.insertReplicaSets([], T + 2));
      const rows = await store.sql.all('SELECT workunit_id AS workunitId, priority, status, created_at AS createdAt, kind FROM replicas ORDER BY id');
      expect(rows).toEqual(sets.flatMap((s) => Array.from({ length: s.count }, () => ({ workunitId: s.workunitId, priority: s.priority, status: 'unsent', createdAt: T + 1, kind: s.kind }))));
    });
  });
}
