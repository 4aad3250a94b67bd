// Migration 17 (random task ids): tasks already out keep the ids they were sent with — their
// replica's id, and their work unit's real id — so a volunteer holding one across the upgrade
// reports it, gets it sent again and is credited for it as before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Task } from '../../protocol/messages.js';
import { taskBody } from '../../protocol/signing.js';
import { taskProblem } from '../../protocol/verify.js';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';
import { answer, right } from '../helpers/judging.js';
import { createWorld, type World } from '../helpers/world.js';

let dir: string | undefined;
let world: World | undefined;
afterEach(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  await world?.close();
  world = undefined;
});

describe('migration 17', () => {
  it('gives every replica already sent its own id as task id, and none to those unsent', () => {
    dir = mkdtempSync(join(tmpdir(), 'vg-migrate-17-'));
    const db = new Database(join(dir, 'db.sqlite'));
    migrate(db, MIGRATIONS.filter((m) => m.version < 17));
    db.exec(`INSERT INTO users (id, name, created_at) VALUES (1, 'u', 0);
      INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at, last_seen_at)
        VALUES (1, '${'a'.repeat(64)}', 1, 'node', 'node', '{}', '{}', 0, 0);
      INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0);
      INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', 0);
      INSERT INTO batches (id, project_id, app_id, name, created_at, staged) VALUES (1, 1, 1, 'b', 0, 0);
      INSERT INTO workunits (id, batch_id, app_id, input_json, input_hash, min_quorum, target_nresults, max_error_results, max_total_results,
        max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, created_at)
        VALUES (1, 1, 1, '1', '${'c'.repeat(64)}', 2, 2, 1, 4, 2, 1000, 1, 0, 's', 0);
      INSERT INTO replicas (id, workunit_id, priority, status, created_at, host_id, sent_at, deadline)
        VALUES (7, 1, 0, 'in_progress', 0, 1, 0, 1000), (8, 1, 0, 'unsent', 0, NULL, NULL, NULL);`);
    expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 17))).toEqual([17]);
    expect(db.prepare('SELECT id, task_id AS taskId FROM replicas ORDER BY id').all()).toEqual([{ id: 7, taskId: 7 }, { id: 8, taskId: null }]);
    expect((db.prepare("SELECT name FROM pragma_table_info('credit_ledger') WHERE name = 'task_id'").get())).toEqual({ name: 'task_id' });
    db.close();
  });

  it('keeps a task sent before it working: sent again as signed, its result accepted, its credit naming it', async () => {
    world = createWorld();
    const w = world;
    const app = await w.addApp();
    // Replica ids ahead of work unit ids, so that the two are told apart.
    await w.submit(app, [{ n: 0 }]);
    await w.submit(app, [{ n: 1 }], { minQuorum: 1, targetNresults: 1 });
    const host = await w.addHost();
    const sent = (await host.request(2)).find((t) => w.workunitOf(t) === 2);
    expect(w.replicaIdOf(sent!)).toBe(3);
    // As a coordinator before migration 17 sent it (the migration then gave it task id = its id).
    const replicaId = w.replicaIdOf(sent!);
    const body = { ...taskBody(sent!), taskId: replicaId, workunitId: w.workunitOf(sent!) };
    const old: Task = { ...sent!, ...body, signature: w.core.key.sign('task', body) };
    w.core.store.db.prepare('UPDATE replicas SET task_id = id, task_signature = ? WHERE id = ?').run(old.signature, replicaId);

    // Lost by the host: sent again exactly as it was signed.
    const other = w.core.store.db.prepare('SELECT task_id AS id FROM replicas WHERE id = 1').get() as { id: number };
    const { tasks } = await host.requestWithLimit(1, [other.id]);
    expect(tasks).toEqual([old]);
    expect(taskProblem(nodeEd25519(), w.core.key.publicKey, host.publicKey, tasks[0]!)).toBeUndefined();
    // Its result names the ids it carried; the new kind of reference is not its.
    expect((await host.report(host.result({ ...old, workunitId: old.taskId }, right(old))))[0]).toMatchObject({ error: { code: 'not_assigned' } });
    await answer(host, old, right(old));
    expect((await w.core.store.work.workunit(w.workunitOf(old)))!.status).toBe('done');
    expect(w.credits.flatMap((c) => c.receipts).map((r) => [r.taskId, r.workunitId])).toEqual([[replicaId, w.workunitOf(old)]]);
  });
});
