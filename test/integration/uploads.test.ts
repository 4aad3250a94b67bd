// What hosts may store on the coordinator, against the real one: an upload is the output of a
// task of the uploading host that may still report a result, one per task, within
// --max-output-bytes; uploaded outputs are not served to anyone who asks (researchers get them
// through the API, as far as they may see them); and what nothing needs any more is removed
// once the grace period has passed, a chunk at a time.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../coordinator/config.js';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { jsonHash, sha256Hex } from '../../protocol/hash.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { signBody } from '../../protocol/signing.js';
import { ApiClient, expectError, newApp, newResearcher, type Submitted } from '../helpers/api-client.js';
import { probeEventLoop } from '../helpers/event-loop-probe.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { replicaOfTask, workunitOfTask } from '../helpers/task-ids.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ed = nodeEd25519();
const TIMING = { cpuTimeMs: 10, elapsedMs: 10 };
const MiB = 1024 * 1024;

let c: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await c?.dispose();
  c = undefined;
});

async function setup(config: Partial<Config> = {}) {
  c = await startTestCoordinator(config);
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  const ada = await newResearcher(admin, 'ada');
  const { app } = await newApp(ada, 'uploads');
  const submit = async (n: number, quorum = 1, input = (i: number): unknown => ({ i })) => {
    const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, {
      name: `b${Math.random()}`,
      replication: { minQuorum: quorum, targetNresults: quorum },
      workunits: Array.from({ length: n }, (_, i) => ({ input: input(i) })),
    });
    expect(r.status).toBe(201);
    await c!.replicasReady();
    return r.body.batchId;
  };
  return { c, admin, ada, submit };
}

async function volunteer(name: string): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c!.url, { name });
  volunteers.push(v);
  return v;
}

/** Tasks in the order of their replicas (task ids say nothing of it). */
const tasksOf = async (v: TestVolunteer, n: number) => {
  const tasks = await v.requestTasks(n);
  const replicas = new Map(await Promise.all(tasks.map(async (t) => [t.taskId, await replicaOfTask(c!, t)] as const)));
  return tasks.sort((a, b) => replicas.get(a.taskId)! - replicas.get(b.taskId)!);
};
/** A canonical output of about `bytes` bytes, and its bytes. */
function output(tag: string, bytes = 300_000): { value: unknown; bytes: Uint8Array } {
  const value = { tag, pad: 'o'.repeat(bytes) };
  return { value, bytes: utf8(canonicalJson(value)) };
}
const report = async (v: TestVolunteer, t: Task, value: unknown) => (await v.report([buildResult(ed, v.seed, t, { output: value, inline: false }, TIMING)]));
const fileRows = async () => (await c!.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM files WHERE public = 0'))!.n;
const blobExists = (hash: string) => c!.blobs.has(hash);

describe('uploads', () => {
  it('are refused to a host without a task of its own: connecting once stores nothing', async () => {
    const { submit } = await setup();
    await submit(1);
    const [owner, stranger] = [await volunteer('owner'), await volunteer('stranger')];
    const [task] = await tasksOf(owner, 1);
    const before = await fileRows();
    // What a key that connected once could do: store file after file, for tasks it never had.
    for (let i = 0; i < 10; i++) {
      const { bytes } = output(`flood-${i}`, MiB);
      const r = await stranger.upload(task!.taskId + 1000 + i, bytes);
      expectError({ status: r.status, headers: r.headers, text: '', body: await r.json() }, 403, 'forbidden', /was not assigned to this host/);
    }
    // Nor for another host's task.
    const { bytes } = output('not-yours');
    const r = await stranger.upload(task!.taskId, bytes);
    expect(r.status).toBe(403);
    expect(await fileRows()).toBe(before);
    expect(readdirSync(join(c!.dataDir, 'files', 'tmp'))).toEqual([]);
  });

  it('are one per task, within --max-output-bytes, refused before the body is read when it says it is too large', async () => {
    const { submit } = await setup({ maxOutputBytes: MiB });
    await submit(2);
    const v = await volunteer('v');
    const [t0, t1] = await tasksOf(v, 2);
    const big = output('big', 1.5 * MiB);
    const r = await v.upload(t0!.taskId, big.bytes);
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({ error: { code: 'too_large', message: `the output is larger than ${MiB} bytes (the coordinator's --max-output-bytes)` } });
    // Without a length, refused as soon as it passes the limit.
    const stream = new Blob([big.bytes]).stream();
    const signature = signBody(ed, v.seed, 'upload', { hostKey: v.publicKey, sha256: sha256Hex(big.bytes), taskId: t0!.taskId });
    const chunked = await fetch(`${c!.url}/files/${sha256Hex(big.bytes)}`, {
      method: 'PUT',
      headers: { 'x-vg-host-key': v.publicKey, 'x-vg-task-id': String(t0!.taskId), 'x-vg-signature': signature },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);

    const first = output('first');
    const second = output('second');
    expect((await v.upload(t0!.taskId, first.bytes)).status).toBe(201);
    expect((await v.upload(t0!.taskId, first.bytes)).status).toBe(201); // a retry
    const other = await v.upload(t0!.taskId, second.bytes);
    expect(other.status).toBe(409);
    expect(((await other.json()) as { error: { message: string } }).error.message).toMatch(/already uploaded its output .*a task has one output/);
    expect((await report(v, t0!, first.value))[0]!.status).toBe('accepted');
    // After the report: the same file again (a retry whose answer was lost), never another.
    expect((await v.upload(t0!.taskId, first.bytes)).status).toBe(201);
    expect((await v.upload(t0!.taskId, second.bytes)).status).toBe(409);
    // A task given back takes no upload.
    await v.send('tasks.giveBack', { taskIds: [t1!.taskId], reason: 'test' });
    const late = await v.upload(t1!.taskId, second.bytes);
    expect(late.status).toBe(403);
    expect(((await late.json()) as { error: { message: string } }).error.message).toMatch(/takes no result any more/);
  });

  it('are served only through the API, to whoever may see the work unit; app files and large inputs stay public', async () => {
    const { admin, ada, submit } = await setup();
    const bigInput = { text: 'i'.repeat(300_000) };
    const batchId = await submit(1, 1, () => bigInput);
    const v = await volunteer('v');
    const [task] = await tasksOf(v, 1);
    const out = output('secret');
    expect((await v.upload(task!.taskId, out.bytes)).status).toBe(201);
    expect((await report(v, task!, out.value))[0]!.status).toBe('accepted');
    const hash = jsonHash(out.value);

    expect((await fetch(`${c!.url}/files/${hash}`)).status).toBe(404);
    expect((await fetch(`${c!.url}/files/${jsonHash(bigInput)}`)).status).toBe(200);
    // Researchers name replicas by their own ids, which hosts never see.
    const [wuId, replicaId] = [await workunitOfTask(c!, task!), await replicaOfTask(c!, task!)];
    const path = `/workunits/${wuId}/replicas/${replicaId}/output`;
    for (const who of [ada, admin]) {
      const r = await who.get<string>(path);
      expect(r.status).toBe(200);
      expect(r.text).toBe(canonicalJson(out.value));
    }
    const bob = await newResearcher(admin, 'bob');
    expectError(await bob.get(path), 404, 'not_found');
    expectError(await ApiClient.anonymous(c!.url).get(path), 401, 'unauthenticated');
    expectError(await ada.get(`/workunits/${wuId}/replicas/${replicaId + 999}/output`), 404, 'not_found');
    // The results export still has it.
    expect((await ada.get<string>(`/batches/${batchId}/results`)).text).toContain(canonicalJson(out.value));
  });
});

describe('uploaded outputs nothing needs', () => {
  it('are removed once the grace period has passed: uploads never reported, outputs of a cancelled work unit and of a forfeited result', { timeout: 60_000 }, async () => {
    const { ada, submit } = await setup({ uploadGraceMs: 1500 });
    const kept = await submit(3);
    const cancelled = await submit(1, 2);
    const forfeit = await submit(1, 2);
    const batchOf = async (t: Task) => (await c!.store.sql.get<{ b: number }>('SELECT batch_id AS b FROM workunits WHERE id = ?', [await workunitOfTask(c!, t)]))!.b;
    const [v, w] = [await volunteer('v'), await volunteer('w')];
    const [t0, t1, t2] = await tasksOf(v, 3);
    const inBatch = async (ts: Task[], batchId: number) => { for (const t of ts) if ((await batchOf(t)) === batchId) return t; return undefined; };
    const tc = await inBatch(await tasksOf(v, 2), cancelled);
    const tw = await inBatch(await tasksOf(w, 4), forfeit);
    expect(await Promise.all([t0, t1, t2].map((t) => batchOf(t!)))).toEqual([kept, kept, kept]);
    const outs = [output('reported'), output('given-back'), output('still-running'), output('cancelled'), output('forfeited')];
    const pairs = [[v, t0, outs[0]], [v, t1, outs[1]], [v, t2, outs[2]], [v, tc, outs[3]], [w, tw, outs[4]]] as const;
    for (const [host, t, o] of pairs) expect((await host.upload(t!.taskId, o!.bytes)).status).toBe(201);
    expect((await report(v, t0!, outs[0]!.value))[0]!.status).toBe('accepted');
    // Pending, their quorum being 2: one work unit is then cancelled, the other result forfeited
    // (its host caught cheating), so that it never counts again.
    expect((await report(v, tc!, outs[3]!.value))[0]!.status).toBe('accepted');
    expect((await report(w, tw!, outs[4]!.value))[0]!.status).toBe('accepted');
    await c!.store.sql.run("UPDATE replicas SET validate_state = 'invalid', forfeited = 1 WHERE id = ?", [await replicaOfTask(c!, tw!)]);
    await v.send('tasks.giveBack', { taskIds: [t1!.taskId], reason: 'test' });
    expect((await ada.post(`/batches/${cancelled}/cancel`, {})).status).toBe(200);

    const hashes = outs.map((o) => sha256Hex(o.bytes));
    // Within the grace period, nothing goes.
    expect(await c!.collectOutputs()).toBe(0);
    expect(hashes.map(blobExists)).toEqual([true, true, true, true, true]);
    await new Promise((r) => setTimeout(r, 1600));
    // (The coordinator's own collector runs meanwhile too, every second with this grace period.)
    await c!.collectOutputs();
    expect(hashes.map(blobExists)).toEqual([true, false, true, false, false]);
    expect(await Promise.all(hashes.map(async (h) => (await c!.store.catalog.fileSize(h)) !== undefined))).toEqual([true, false, true, false, false]);
    // What is kept still serves: the export, and the result still running.
    expect((await ada.get<string>(`/batches/${kept}/results`)).text).toContain(canonicalJson(outs[0]!.value));
    expect((await report(v, t2!, outs[2]!.value))[0]!.status).toBe('accepted');
  });

  it('are removed a chunk at a time, the coordinator serving meanwhile', { timeout: 60_000 }, async () => {
    await setup({ uploadGraceMs: 0 });
    // Outputs stored before anything collected them, that nothing refers to.
    const hashes: string[] = [];
    for (let i = 0; i < 1_200; i++) {
      const bytes = utf8(canonicalJson({ i }));
      hashes.push(c!.blobs.put(bytes));
      await c!.store.sql.run('INSERT INTO files (sha256, size, created_at, canonical_json, public) VALUES (?, ?, 0, 1, 0)', [hashes.at(-1)!, bytes.length]);
    }
    const m = await probeEventLoop(() => c!.collectOutputs());
    console.log(`collected 1,200 unreferenced outputs: ${m.ms} ms, longest stall ${m.maxGapMs} ms, ${m.turns} probe turns`);
    expect(hashes.filter(blobExists)).toEqual([]);
    expect(await c!.store.sql.get('SELECT COUNT(*) AS n FROM files')).toEqual({ n: 1 }); // the app's file
    // A few at a time: the probe ran in between, and never waited long.
    expect(m.turns).toBeGreaterThan(10);
    expect(m.maxGapMs).toBeLessThan(800);
  });
});
