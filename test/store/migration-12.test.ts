// Migration 12 on a database with files: app files and large inputs stay public (volunteers
// need them), everything else (uploaded outputs) becomes private; projects keep their work's
// priorities and get no bound of their own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('marks app files and large inputs public, other files private', () => {
  dir = mkdtempSync(join(tmpdir(), 'vg-migrate-12-'));
  const db = new Database(join(dir, 'db.sqlite'));
  migrate(db, MIGRATIONS.filter((m) => m.version < 12));
  const h = (c: string) => c.repeat(64);
  const manifest = JSON.stringify({ entry: 'main.js', files: [{ name: 'main.js', sha256: h('a'), size: 1 }, { name: 'lib.wasm', sha256: h('b'), size: 1 }] });
  db.exec(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0);
    INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', 0);
    INSERT INTO app_versions (app_id, version, platform, requirements_json, bundle_hash, manifest_json, signature, created_at)
      VALUES (1, 1, 'any', '{}', '${h('9')}', '${manifest}', 's', 0);
    INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', 0);
    INSERT INTO workunits (batch_id, app_id, input_json, input_hash, min_quorum, target_nresults, max_error_results, max_total_results,
      max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at)
      VALUES (1, 1, NULL, '${h('c')}', 1, 1, 1, 1, 1, 1000, 1, 50, 's', 0), (1, 1, '1', '${h('d')}', 1, 1, 1, 1, 1, 1000, 1, 0, 's', 0);`);
  const file = db.prepare('INSERT INTO files (sha256, size, created_at, canonical_json) VALUES (?, 1, 0, 1)');
  for (const c of ['a', 'b', 'c', 'd', 'e']) file.run(h(c));

  expect(migrate(db)).toContain(12);
  const visibility = db.prepare('SELECT substr(sha256, 1, 1) AS f, public FROM files ORDER BY sha256').all();
  // a, b: app files; c: a large input; d: an input stored inline (its hash is no file of it); e: an output.
  expect(visibility).toEqual([{ f: 'a', public: 1 }, { f: 'b', public: 1 }, { f: 'c', public: 1 }, { f: 'd', public: 0 }, { f: 'e', public: 0 }]);
  expect(db.prepare('SELECT max_priority, priority_lowering FROM projects').get()).toEqual({ max_priority: null, priority_lowering: null });
  expect(db.prepare('SELECT priority FROM workunits ORDER BY id').all()).toEqual([{ priority: 50 }, { priority: 0 }]);
  db.close();
});
