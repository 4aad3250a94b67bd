// A host's counts of valid, invalid and client-error results on a real SQLite file: the
// migration that hands them to triggers recounts them from the rows of an existing database
// (where hand-kept counts had drifted), and every change to a replica keeps them a recount.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';
import { hostCounterProblems } from '../helpers/batch-counters.js';

const T = 1_700_000_000_000;
let dir: string;
let db: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vg-host-counters-'));
  db = new Database(join(dir, 'coordinator.sqlite'));
  db.pragma('foreign_keys = ON');
  migrate(db, MIGRATIONS.filter((m) => m.version <= 7));
  db.prepare('INSERT INTO users (id, name, created_at) VALUES (1, ?, ?)').run('u', T);
  for (const id of [1, 2, 3]) {
    db.prepare(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at,
      last_seen_at) VALUES (?, ?, 1, 'node', 'node', '{}', '{}', ?, ?)`).run(id, `k${id}`, T, T);
  }
  db.prepare("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ?)").run(T);
  db.prepare(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ?)`).run(T);
  db.prepare('INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, ?, ?)').run('b', T);
  db.prepare(`INSERT INTO workunits (id, batch_id, app_id, seq, input_hash, min_quorum, target_nresults, max_error_results,
    max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at)
    VALUES (1, 1, 1, 0, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 'seed', ?)`).run(T);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const replica = (id: number, hostId: number | null, outcome: string | null, validateState: string | null, forfeited = 0) =>
  db.prepare(`INSERT INTO replicas (id, workunit_id, priority, status, outcome, validate_state, forfeited, host_id, created_at)
    VALUES (?, 1, 0, ?, ?, ?, ?, ?, ?)`).run(id, outcome === null ? 'unsent' : 'over', outcome, validateState, forfeited, hostId, T);
const counts = (hostId: number) =>
  db.prepare('SELECT n_valid AS valid, n_invalid AS invalid, n_error AS errors FROM hosts WHERE id = ?').get(hostId);

it('recounts drifted counters from the rows, forfeited results as invalid, then keeps them through every change', () => {
  replica(1, 1, 'success', 'valid');
  replica(2, 1, 'success', 'invalid', 1); // forfeited: an invalid row
  replica(3, 1, 'client_error', null);
  replica(4, 2, 'success', 'pending');
  replica(5, null, null, null);
  // What hand-kept counting left: a valid result later invalidated still counted as valid.
  db.prepare('UPDATE hosts SET n_valid = 7, n_invalid = 0, n_error = 2 WHERE id = 1').run();
  db.prepare('UPDATE hosts SET n_valid = 1 WHERE id = 2').run();

  expect(migrate(db)).toContain(9);
  expect(hostCounterProblems(db)).toEqual([]);
  expect(counts(1)).toEqual({ valid: 1, invalid: 1, errors: 1 });
  expect(counts(2)).toEqual({ valid: 0, invalid: 0, errors: 0 });

  // A verdict, one taken back, a forfeit, an assignment and a result, a deletion.
  db.prepare("UPDATE replicas SET validate_state = 'valid' WHERE id = 4").run();
  expect(counts(2)).toEqual({ valid: 1, invalid: 0, errors: 0 });
  db.prepare("UPDATE replicas SET validate_state = 'pending' WHERE id = 1").run();
  db.prepare("UPDATE replicas SET validate_state = 'invalid', forfeited = 1 WHERE id = 4").run();
  db.prepare("UPDATE replicas SET status = 'in_progress', host_id = 3 WHERE id = 5").run();
  db.prepare("UPDATE replicas SET status = 'over', outcome = 'client_error' WHERE id = 5").run();
  expect(hostCounterProblems(db)).toEqual([]);
  expect([1, 2, 3].map(counts)).toEqual([
    { valid: 0, invalid: 1, errors: 1 },
    { valid: 0, invalid: 1, errors: 0 },
    { valid: 0, invalid: 0, errors: 1 },
  ]);
  db.prepare('DELETE FROM replicas WHERE id IN (2, 3)').run();
  expect(counts(1)).toEqual({ valid: 0, invalid: 0, errors: 0 });
  expect(hostCounterProblems(db)).toEqual([]);
});
