// Two instances on one PostgreSQL database and one files directory, scripted: one removes a
// stored file nothing needs (the output collector) while the other stores the same bytes again —
// an output uploaded anew, an app file, a large input. Whichever comes first, the file a row
// names is on disk when its transaction commits. The database is the referee: both sides take
// the file's row before touching its blob. Each interleaving is forced: the first side holds its
// transaction open until the second has finished or waits on a lock the first holds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../protocol/bytes.js';
import { canonicalJson, type JsonValue } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { sha256Hex } from '../../protocol/hash.js';
import { createCore, type Core } from '../../coordinator/core.js';
import { Store } from '../../coordinator/store/store.js';
import { addPrimesApp } from '../helpers/batches.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { replicaOfTask } from '../helpers/task-ids.js';
import { interleave as interleaveOn } from '../helpers/interleave.js';
import { WORLD_OPTIONS } from '../helpers/world.js';

const skip = await skipPostgresTests('two instances sharing stored files');
const ed = nodeEd25519();
const NOW = 1_700_000_000_000;
const GRACE = WORLD_OPTIONS.uploadGraceMs;
/** What the collector asks of a file: nothing needs it, and it is older than this. */
const BEFORE = NOW - GRACE;

/** A promise and the function that settles it. */

describe.skipIf(skip)('two instances sharing one files directory and one PostgreSQL database', () => {
  let database: TestDatabase;
  let dataDir: string;
  let filesDir: string;
  let a: Core;
  let b: Core;
  let files = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'vg-file-race-'));
    filesDir = mkdtempSync(join(tmpdir(), 'vg-file-race-files-'));
    const open = async () =>
      createCore({ dataDir, filesDir, ...WORLD_OPTIONS }, { abort: () => {}, credit: () => {} }, { clock: () => NOW, store: await Store.openPostgres(database.url) });
    a = await open();
    b = await open();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(filesDir, { recursive: true, force: true });
  });

  /** Bytes no other test stores: the canonical JSON of a value, so they may be an output too. */
  function content(bytes = 1000): Uint8Array {
    return utf8(canonicalJson({ file: ++files, pad: 'f'.repeat(bytes) }));
  }

  /** An output uploaded long ago that nothing needs any more: the collector's to remove. */
  async function garbage(bytes: Uint8Array): Promise<string> {
    const sha256 = a.blobs.put(bytes);
    await a.store.transaction((tx) => tx.catalog.recordCanonicalFile(sha256, bytes.length, BEFORE - GRACE));
    expect(await a.store.transaction((tx) => tx.uploads.privateFiles(tx.uploads.firstFile, 1000, BEFORE))).toContainEqual(expect.objectContaining({ sha256, garbage: true }));
    return sha256;
  }

  const interleave = <T, U>(first: (hold: () => Promise<void>) => Promise<T>, second: () => Promise<U>) => interleaveOn(a.store.sql, first, second);

  /** Instance a's collector removes the file, and holds its transaction open. */
  const collectOnA = (sha256: string) => (hold: () => Promise<void>) =>
    a.store.transaction(async (tx) => {
      const removed = await a.collector.removeIfGarbage(tx, sha256, BEFORE);
      await hold();
      return removed;
    });

  /** A host on instance b with a task of its own, which may upload an output. */
  async function taskOnB(name: string): Promise<{ hostId: number; taskId: number; replicaId: number }> {
    const appId = await addPrimesApp(a, name);
    await a.submission.submitBatch({ appId, name, replication: { minQuorum: 1, targetNresults: 1 }, workunits: [{ input: { from: 1, to: 50 } }] }, NOW);
    const seed = ed.randomSeed();
    const host = await b.registry.register({ protocol: 2, hostKey: toHex(ed.publicKeyFromSeed(seed)), platform: { kind: 'node', engine: 'v8' }, capabilities: { wasm: true } }, NOW);
    const [task] = await b.store.transaction(async (tx) => (await b.service.requestTasks(tx, host.id, 1)).tasks);
    return { hostId: host.id, taskId: task!.taskId, replicaId: await replicaOfTask(b, task!) };
  }

  async function* body(bytes: Uint8Array): AsyncIterable<Uint8Array> {
    yield bytes;
  }

  /** What the file's row says, and whether its blob is there with these bytes. */
  const state = async (sha256: string, bytes: Uint8Array) => ({
    row: (await b.store.sql.get<{ public: number }>('SELECT public FROM files WHERE sha256 = ?', [sha256])) ?? null,
    onDisk: b.blobs.has(sha256) && sha256Hex(b.blobs.read(sha256)) === sha256 && b.blobs.read(sha256).length === bytes.length,
  });

  it('an output uploaded to one instance while the other removes the same bytes is kept', async () => {
    const bytes = content();
    const sha256 = await garbage(bytes);
    const { hostId, taskId, replicaId } = await taskOnB('upload-after-removal');
    // a's collector has deleted the row (not committed) when b's upload of the same bytes comes in.
    const run = await interleave(collectOnA(sha256), () => b.uploads.upload(hostId, taskId, sha256, body(bytes), () => NOW));
    expect(run).toEqual({ first: true, second: { size: bytes.length }, secondWaited: true });
    expect(await state(sha256, bytes)).toEqual({ row: { public: 0 }, onDisk: true });
    expect((await b.store.uploads.uploadOf(replicaId))?.sha256).toBe(sha256);
  });

  it('a file being stored on one instance is not removed by the other', async () => {
    const bytes = content();
    const sha256 = await garbage(bytes);
    const { replicaId } = await taskOnB('removal-after-upload');
    const received = await b.outputs.receive(body(bytes), sha256, bytes.length);
    if ('code' in received) throw new Error(received.message);
    // b keeps its upload of the same bytes (not committed) when a's collector comes to the file.
    const run = await interleave(
      (hold) => b.store.transaction(async (tx) => {
        await b.outputs.keep(tx, received, sha256, NOW);
        await tx.uploads.record(replicaId, sha256, bytes.length, NOW);
        await hold();
      }),
      () => a.store.transaction((tx) => a.collector.removeIfGarbage(tx, sha256, BEFORE)),
    );
    expect(run).toMatchObject({ second: false, secondWaited: true }); // b's upload made it needed
    expect(await state(sha256, bytes)).toEqual({ row: { public: 0 }, onDisk: true });
  });

  it('an app file uploaded to one instance while the other removes the same bytes is kept', async () => {
    const bytes = content();
    const sha256 = await garbage(bytes);
    const projectId = await b.apps.createProject({ name: 'app-after-removal' });
    const app = await b.apps.createApp(projectId, { name: 'app' });
    const files = [{ name: 'main.js', bytes: utf8('export default async function run(input) { return input; }\n') }, { name: 'data.json', bytes }];
    const run = await interleave(collectOnA(sha256), () => b.apps.addVersion(app.id, { files }, NOW));
    expect(run).toMatchObject({ first: true, secondWaited: true });
    expect(run.second.manifest.files.map((f) => f.sha256)).toContain(sha256);
    expect(await state(sha256, bytes)).toEqual({ row: { public: 1 }, onDisk: true });
  });

  it('a large input submitted to one instance while the other removes the same bytes is kept', async () => {
    const bytes = content(300_000);
    const sha256 = await garbage(bytes);
    const appId = await addPrimesApp(b, 'input-after-removal');
    const input = JSON.parse(new TextDecoder().decode(bytes)) as JsonValue;
    const run = await interleave(collectOnA(sha256), () =>
      b.submission.submitBatch({ appId, name: 'big input', replication: { minQuorum: 1, targetNresults: 1 }, workunits: [{ input }] }, NOW),
    );
    expect(run).toMatchObject({ first: true, secondWaited: true });
    const wu = await b.store.sql.get<{ hash: string }>('SELECT input_hash AS hash FROM workunits WHERE batch_id = ?', [run.second.batchId]);
    expect(wu?.hash).toBe(sha256);
    expect(await state(sha256, bytes)).toEqual({ row: { public: 1 }, onDisk: true });
  });
});
