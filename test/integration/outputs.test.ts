// Outputs researchers can trust, against the real coordinator: an uploaded output counts only
// when its bytes are exactly the canonical JSON of a value, the results export writes nothing
// else, and one host's malformed stored output (as a database from before that check may hold)
// makes only its own result invalid.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { jsonHash, sha256Hex } from '../../protocol/hash.js';
import type { Result, Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { signBody } from '../../protocol/signing.js';
import type { Validation } from '../../coordinator/work/model.js';
import { ApiClient, TRIVIAL_MAIN } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { taskRow } from '../helpers/task-ids.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

const ed = nodeEd25519();
const TIMING = { cpuTimeMs: 10, elapsedMs: 10 };

let c: TestCoordinator;
let admin: ApiClient;
const volunteers: TestVolunteer[] = [];

beforeEach(async () => {
  c = await startTestCoordinator();
  admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
});
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await c.dispose();
});

async function volunteer(name: string): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c.url, { name });
  volunteers.push(v);
  return v;
}

/** An app whose code does not matter (unless given): the tests report the outputs they choose. */
async function app(validation?: Validation, main = TRIVIAL_MAIN): Promise<number> {
  const projectId = await c.apps.createProject({ name: `outputs ${Math.random()}` });
  const a = await c.apps.createApp(projectId, { name: 'app', validation });
  await c.apps.addVersion(a.id, { files: [{ name: 'main.js', bytes: utf8(main) }] });
  return a.id;
}

async function batch(appId: number, n: number, replication: { minQuorum: number; targetNresults: number }): Promise<number> {
  const workunits = Array.from({ length: n }, (_, i) => ({ input: { i } }));
  return (await c.submission.submitBatch({ appId, name: 'outputs', replication, workunits })).batchId;
}

/** The rows behind the tasks `tasks` was sent (a task names neither), looked up as they came. */
const rowOfTask = new Map<number, { id: number; workunit_id: number }>();
const wuOf = (t: Task) => rowOfTask.get(t.taskId)!.workunit_id;
const replicaOf = (t: Task) => rowOfTask.get(t.taskId)!.id;

/** Tasks in work-unit order. */
async function tasks(v: TestVolunteer, n: number): Promise<Task[]> {
  const sent = await v.requestTasks(n);
  for (const t of sent) rowOfTask.set(t.taskId, await taskRow(c, t.taskId));
  return sent.sort((a, b) => wuOf(a) - wuOf(b));
}

/** PUT /files/{hash} as the output of a task of the host's, signed as the protocol asks. */
function upload(v: TestVolunteer, task: Task, bytes: Uint8Array, hash = sha256Hex(bytes)): Promise<Response> {
  return v.upload(task.taskId, bytes, hash);
}

/** A volunteer holding one task, for tests of what an upload may be. */
async function holdingATask(name: string): Promise<{ v: TestVolunteer; task: Task }> {
  await batch(await app(), 1, { minQuorum: 1, targetNresults: 1 });
  const v = await volunteer(name);
  const [task] = await tasks(v, 1);
  return { v, task: task! };
}

/** A signed success naming any output hash, the output left out (uploaded, or claimed to be). */
function resultNaming(v: TestVolunteer, task: Task, outputHash: string): Result {
  const body = { taskId: task.taskId, workunitId: task.workunitId, hostKey: v.publicKey, outcome: 'success' as const, outputHash, ...TIMING };
  return { ...body, signature: signBody(ed, v.seed, 'result', body) };
}

/** The results export, each line parsed; fails unless every line is one JSON object. */
async function exported(batchId: number): Promise<{ text: string; lines: Record<string, unknown>[] }> {
  const r = await admin.get<string>(`/batches/${batchId}/results`);
  expect(r.status).toBe(200);
  expect(r.text === '' || r.text.endsWith('\n')).toBe(true);
  const lines = r.text.split('\n').slice(0, -1).map((line) => JSON.parse(line) as Record<string, unknown>);
  return { text: r.text, lines };
}

/** A file row as a coordinator from before outputs were checked wrote it, with its blob. */
function legacyFile(bytes: Uint8Array): string {
  const hash = c.blobs.put(bytes);
  c.store.db.prepare('INSERT INTO files (sha256, size, created_at) VALUES (?, ?, ?)').run(hash, bytes.length, Date.now());
  return hash;
}

const fileRow = (hash: string) => c.store.db.prepare('SELECT * FROM files WHERE sha256 = ?').get(hash) as Record<string, unknown> | undefined;

/** Bytes that, copied verbatim into the export after `"output":`, end that line and add one for another work unit. */
const forgery = (workunitId: number, seq: number) => utf8(`1}\n{"seq":${seq},"workunitId":${workunitId},"status":"done","output":666`);

describe('uploaded outputs', () => {
  it('refuses an upload that would forge a line of the export, and the export has one line per work unit', async () => {
    const batchId = await batch(await app(), 3, { minQuorum: 1, targetNresults: 1 });
    const mallory = await volunteer('mallory');
    const [t0, t1, t2] = await tasks(mallory, 3);
    const forged = forgery(wuOf(t1!), 1);

    const put = await upload(mallory, t0!, forged);
    expect(put.status).toBe(400);
    expect(await put.json()).toEqual({ error: { code: 'bad_request', message: expect.stringMatching(/not canonical JSON/) } });
    expect(fileRow(sha256Hex(forged))).toBeUndefined();
    expect((await fetch(`${c.url}/files/${sha256Hex(forged)}`)).status).toBe(404);
    const [ack] = await mallory.report([resultNaming(mallory, t0!, sha256Hex(forged))]);
    expect(ack).toMatchObject({ status: 'rejected', error: { code: 'bad_output', message: expect.stringMatching(/PUT \/files/) } });

    // Honest results: one inline, one large enough to travel as a file.
    const big = { text: 'o'.repeat(300_000), n: 2 };
    expect((await upload(mallory, t2!, utf8(canonicalJson(big)))).status).toBe(201);
    const acks = await mallory.report([buildResult(ed, mallory.seed, t0!, { output: { n: 0 } }, TIMING), buildResult(ed, mallory.seed, t2!, { output: big, inline: false }, TIMING)]);
    expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted']);
    // t1 is still open: it is left out, and nothing speaks for it.
    expect((await exported(batchId)).lines).toEqual([
      { seq: 0, workunitId: wuOf(t0!), status: 'done', output: { n: 0 } },
      { seq: 2, workunitId: wuOf(t2!), status: 'done', output: big },
    ]);

    expect((await mallory.report([buildResult(ed, mallory.seed, t1!, { output: [1, 'one'] }, TIMING)]))[0]!.status).toBe('accepted');
    const { text, lines } = await exported(batchId);
    expect(lines.map((l) => [l.seq, l.workunitId])).toEqual([0, 1, 2].map((i) => [i, wuOf([t0, t1, t2][i]!)]));
    expect(text.split('\n')[2]).toBe(`{"seq":2,"workunitId":${wuOf(t2!)},"status":"done","output":${canonicalJson(big)}}`);
  });

  it.each([
    ['white space', '{"a": 1}'],
    ['unsorted keys', '{"b":1,"a":2}'],
    ['a repeated key', '{"a":1,"a":1}'],
    ['a trailing newline', '{"a":1}\n'],
    ['a number not in shortest form', '[1.0]'],
    ['an escape JSON.stringify would not write', '"\\u0041"'],
    ['upper-case hex in an escape', '"\\u001F"'],
    ['an escaped slash', '"a\\/b"'],
    ['a byte-order mark', '\uFEFF{"a":1}'],
    ['not JSON', 'hello'],
    ['two values', '1 2'],
    ['an empty body', ''],
  ])('refuses valid-looking but non-canonical bytes: %s', async (_what, text) => {
    const { v, task } = await holdingATask('v');
    const bytes = utf8(text);
    const r = await upload(v, task, bytes);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/not canonical JSON/);
    expect(fileRow(sha256Hex(bytes))).toBeUndefined();
  });

  it('refuses bytes that are not UTF-8', async () => {
    const { v, task } = await holdingATask('v');
    const bytes = Uint8Array.from([0x22, 0xc3, 0x28, 0x22]); // "Ã(" cut short
    const r = await upload(v, task, bytes);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/not canonical JSON.*UTF-8/);
  });

  it('accepts a large canonical output end to end at quorum 2, and exports it whole', async () => {
    const batchId = await batch(await app(), 2, { minQuorum: 2, targetNresults: 2 });
    const [a, b] = [await volunteer('a'), await volunteer('b')];
    // Keys out of order and a non-ASCII string: what is uploaded is canonicalJson's encoding.
    const big = { z: [1.5, -0, 1e21, 'é😀\u2028'], a: 'x'.repeat(400_000) };
    const bytes = utf8(canonicalJson(big));
    expect(bytes.length).toBeGreaterThan(256 * 1024);
    for (const v of [a, b]) {
      const [t0, t1] = await tasks(v, 2);
      expect((await upload(v, t0!, bytes)).status).toBe(201);
      const acks = await v.report([buildResult(ed, v.seed, t0!, { output: big, inline: false }, TIMING), buildResult(ed, v.seed, t1!, { output: { small: true } }, TIMING)]);
      expect(acks.map((x) => x.status)).toEqual(['accepted', 'accepted']);
    }
    expect((await c.store.reports.workunitCounts(batchId))).toMatchObject({ done: 2, active: 0 });
    const { text, lines } = await exported(batchId);
    expect(lines).toHaveLength(2);
    expect(lines[0]!.output).toEqual(JSON.parse(canonicalJson(big)));
    expect(text).toContain(`"output":${canonicalJson(big)}}\n`);
  });

  it('the Node daemon uploads a large output as canonical JSON, and the export has it', { timeout: 60_000 }, async () => {
    // Keys out of order, numbers and characters that canonical JSON writes its own way.
    const main = `export default async function run(input) {
      return { z: [1.50, -0, 1e21, 'é😀\\u2028\\u0001'], i: input.i, a: 'x'.repeat(300000) };
    }\n`;
    const batchId = await batch(await app(undefined, main), 2, { minQuorum: 1, targetNresults: 1 });
    const dataDir = mkdtempSync(join(tmpdir(), 'vg-daemon-'));
    const daemon = VolunteerProcess.start(c.url, dataDir);
    try {
      await waitFor('the batch done', async () => (await c.store.reports.workunitCounts(batchId)).done === 2, 50_000);
    } finally {
      await daemon.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    const outputs = c.store.db.prepare('SELECT r.output_json AS json, r.output_hash AS hash FROM workunits w JOIN replicas r ON r.id = w.canonical_replica_id WHERE w.batch_id = ?').all(batchId) as { json: string | null; hash: string }[];
    expect(outputs.map((o) => o.json)).toEqual([null, null]); // uploaded, not inline
    const { lines } = await exported(batchId);
    expect(lines).toEqual([0, 1].map((i) => ({ seq: i, workunitId: expect.any(Number), status: 'done', output: { z: [1.5, 0, 1e21, 'é😀\u2028\u0001'], i, a: 'x'.repeat(300_000) } })));
  });

  it('a result names only its own task’s upload: not another task’s, nor a file stored otherwise', async () => {
    await batch(await app(), 3, { minQuorum: 1, targetNresults: 1 });
    const v = await volunteer('v');
    const [t0, t1, t2] = await tasks(v, 3);
    const bytes = utf8(canonicalJson({ big: 'y'.repeat(300_000) }));
    expect((await upload(v, t0!, bytes)).status).toBe(201);
    const legacy = legacyFile(utf8(canonicalJson({ legacy: 'z'.repeat(300_000) })));
    const acks = await v.report([resultNaming(v, t1!, sha256Hex(bytes)), resultNaming(v, t2!, legacy)]);
    for (const [ack, t] of [[acks[0], t1], [acks[1], t2]] as const) {
      expect(ack).toMatchObject({ status: 'rejected', error: { code: 'bad_output', message: expect.stringContaining(`uploaded for task ${t!.taskId}`) } });
    }
    expect((await v.report([resultNaming(v, t0!, sha256Hex(bytes))]))[0]!.status).toBe('accepted');
  });

  it('an app file is not an output, even when its hash is named as one', async () => {
    await batch(await app(), 1, { minQuorum: 1, targetNresults: 1 });
    const v = await volunteer('v');
    const [t0] = await tasks(v, 1);
    const [ack] = await v.report([resultNaming(v, t0!, sha256Hex(utf8(TRIVIAL_MAIN)))]);
    expect(ack).toMatchObject({ status: 'rejected', error: { code: 'bad_output', message: expect.stringMatching(/neither inline nor uploaded for task/) } });
  });
});

describe('the results export', () => {
  it('never writes a stored output that is not canonical JSON (a result accepted before outputs were checked)', async () => {
    const batchId = await batch(await app(), 3, { minQuorum: 1, targetNresults: 1 });
    const v = await volunteer('v');
    const [t0, t1, t2] = await tasks(v, 3);
    const big = { text: 'o'.repeat(300_000) };
    for (const t of [t0!, t2!]) expect((await upload(v, t, utf8(canonicalJson(big)))).status).toBe(201);
    const acks = await v.report([t0!, t2!].map((t) => buildResult(ed, v.seed, t, { output: big, inline: false }, TIMING)));
    expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted']);
    // As a database from before the check could hold it: the canonical result names a forged file.
    const forged = legacyFile(forgery(wuOf(t1!), 1));
    c.store.db.prepare('UPDATE replicas SET output_hash = ? WHERE id = ?').run(forged, replicaOf(t0!));

    const { text, lines } = await exported(batchId);
    expect(text).not.toContain('666');
    expect(lines).toEqual([
      { seq: 0, workunitId: wuOf(t0!), status: 'done', error: expect.stringMatching(/not canonical JSON/) },
      { seq: 2, workunitId: wuOf(t2!), status: 'done', output: big },
    ]);
    expect(fileRow(forged)).toMatchObject({ canonical_json: 0 });
  });
});

describe('a malformed stored output', () => {
  it('makes only its own result invalid: other hosts’ reports go through and the work unit completes', async () => {
    const appId = await app({ mode: 'tolerance', absEpsilon: 0.01, relEpsilon: 0 });
    const batchId = await batch(appId, 2, { minQuorum: 2, targetNresults: 2 });
    const [mallory, bob, carol] = [await volunteer('mallory'), await volunteer('bob'), await volunteer('carol')];
    const [m0, m1] = await tasks(mallory, 2);
    // Mallory's result for work unit 0 names a file that is not JSON, stored as a coordinator
    // without the upload check (or a legacy database) would have it.
    const bad = legacyFile(forgery(wuOf(m1!), 1));
    await c.store.work.recordResult({ replicaId: replicaOf(m0!), outcome: 'success', receivedAt: Date.now(), resultHash: 'a'.repeat(64), signature: 'b'.repeat(128),
      outputJson: null, outputHash: bad, errorJson: null, logJson: null, cpuTimeMs: 1, elapsedMs: 1 });

    // Bob's report touches that work unit and another one: both results are taken.
    const [b0, b1] = await tasks(bob, 2);
    const acks = await bob.report([buildResult(ed, bob.seed, b0!, { output: { x: 1 } }, TIMING), buildResult(ed, bob.seed, b1!, { output: { x: 2 } }, TIMING)]);
    expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted']);
    const replica = async (id: number) => (await c.store.work.replicasOf(wuOf(m0!))).find((r) => r.id === id)!;
    expect((await replica(replicaOf(m0!)))).toMatchObject({ validateState: 'invalid', forfeited: true });
    expect((await c.store.identities.hostById(mallory.hostId))).toMatchObject({ nInvalid: 1, consecutiveValid: 0 });
    expect((await c.store.work.workunit(wuOf(m0!)))!.status).toBe('active');

    // A third host takes the replica made in its place; the two honest results agree within tolerance.
    const [c0] = await tasks(carol, 2);
    expect(wuOf(c0!)).toBe(wuOf(m0!));
    expect((await carol.report([buildResult(ed, carol.seed, c0!, { output: { x: 1.001 } }, TIMING)]))[0]!.status).toBe('accepted');
    expect((await mallory.report([buildResult(ed, mallory.seed, m1!, { output: { x: 2.005 } }, TIMING)]))[0]!.status).toBe('accepted');

    expect((await c.store.reports.workunitCounts(batchId))).toMatchObject({ done: 2, active: 0, failed: 0 });
    expect((await c.store.work.replicasOf(wuOf(m0!))).map((r) => [r.id, r.validateState])).toEqual([
      [replicaOf(m0!), 'invalid'],
      [replicaOf(b0!), 'valid'],
      [replicaOf(c0!), 'valid'],
    ]);
    expect((await exported(batchId)).lines).toEqual([
      { seq: 0, workunitId: wuOf(m0!), status: 'done', output: { x: 1 } },
      // Ties go to the earliest replica: Mallory's, whose other result is a fair one.
      { seq: 1, workunitId: wuOf(m1!), status: 'done', output: { x: 2.005 } },
    ]);
  });
});
