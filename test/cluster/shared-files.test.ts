// Two coordinator instances, each with a data dir of its own, on one PostgreSQL database, one
// files directory (--files-dir) and one key file (--key-file, made by init-key): every instance
// serves every file. An app version and a large input submitted through one are served by the
// other to a volunteer; an output uploaded to one is downloaded through the other's API; and an
// instance restarting does not take the other's upload in progress from the shared directory.
import { request } from 'node:http';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../coordinator/config.js';
import { createCoordinatorKeyFile } from '../../coordinator/identity/coordinator-key.js';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { sha256Hex } from '../../protocol/hash.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { signBody } from '../../protocol/signing.js';
import { ApiClient, newApp, newResearcher, type App, type Submitted } from '../helpers/api-client.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { replicaOfTask, workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const skip = await skipPostgresTests('two instances sharing their files');
const ed = nodeEd25519();
const TIMING = { cpuTimeMs: 10, elapsedMs: 10 };

describe.skipIf(skip)('two instances sharing one files directory', () => {
  let database: TestDatabase;
  const dirs: string[] = [];
  const temp = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  let filesDir: string;
  let shared: Partial<Config>;
  let a: TestCoordinator;
  let b: TestCoordinator;
  let adaOnA: ApiClient;
  let adaOnB: ApiClient;
  let app: App;
  const volunteers: TestVolunteer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    filesDir = temp('vg-shared-files-');
    const keyFile = join(temp('vg-shared-key-'), 'coordinator-key.json');
    createCoordinatorKeyFile(keyFile, ed);
    shared = { databaseUrl: database.url, filesDir, keyFile };
    a = await startTestCoordinator({ ...shared, dataDir: temp('vg-shared-a-') });
    b = await startTestCoordinator({ ...shared, dataDir: temp('vg-shared-b-') });
    const admin = await ApiClient.withToken(a.url, 'admin', TEST_ADMIN_PASSWORD);
    adaOnA = await newResearcher(admin, 'ada');
    adaOnB = ApiClient.bearer(b.url, adaOnA.token!);
    ({ app } = await newApp(adaOnA, 'shared')); // its version uploaded through a; it echoes its input
  });
  afterAll(async () => {
    volunteers.forEach((v) => v.close());
    await a?.close();
    await b?.close();
    await database?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function volunteer(on: TestCoordinator): Promise<TestVolunteer> {
    const v = await TestVolunteer.connect(on.url);
    volunteers.push(v);
    return v;
  }
  /** A batch of one work unit whose input is large enough to be stored as a file, and so is its echo. */
  async function submit(via: ApiClient, tag: string): Promise<{ batchId: number; input: unknown }> {
    const input = { tag, pad: 'p'.repeat(300_000) };
    const r = await via.post<Submitted>(`/apps/${app.id}/batches`, { name: tag, replication: { minQuorum: 1, targetNresults: 1 }, workunits: [{ input }] });
    expect(r.status).toBe(201);
    await a.replicasReady();
    await b.replicasReady();
    return { batchId: r.body.batchId, input };
  }
  const done = (batchId: number) => async () => (await a.store.reports.workunitCounts(batchId)).done === 1;

  it('serves an app version and an input submitted through one instance to a volunteer of the other', async () => {
    const { batchId } = await submit(adaOnA, 'app-from-a');
    const v = await volunteer(b); // loads the app's files and the input from b
    await v.work(done(batchId));
    await waitFor('the work unit to be done', done(batchId));
    expect(v.accepted).toHaveLength(1);
  });

  it('gives a researcher on one instance the output a volunteer uploaded to the other', async () => {
    const { batchId, input } = await submit(adaOnB, 'output-to-b');
    const v = await volunteer(b); // uploads its output (the echo, too large to report inline) to b
    await v.work(done(batchId));
    await waitFor('the work unit to be done', done(batchId));
    const [result] = v.accepted;
    const workunitId = await workunitOfTask(a, { taskId: result!.taskId });
    const replicaId = await replicaOfTask(a, { taskId: result!.taskId });
    const output = await adaOnA.get<unknown>(`/workunits/${workunitId}/replicas/${replicaId}/output`);
    expect(output.status).toBe(200);
    expect(output.body).toEqual({ echo: input });
    const exported = await adaOnA.get<string>(`/batches/${batchId}/results`);
    expect(JSON.parse(exported.text.trim())).toMatchObject({ status: 'done', output: { echo: input } });
  });

  it('keeps an upload in progress on one instance while the other restarts', async () => {
    await submit(adaOnA, 'upload-across-restart');
    const v = await volunteer(b);
    const [task] = await v.requestTasks(1);
    const output = { echo: 'o'.repeat(400_000) };
    const bytes = utf8(canonicalJson(output));
    const tmp = join(filesDir, 'tmp');
    const before = readdirSync(tmp).length;
    // The first half of the body reaches b, which streams it to a temp file in the shared directory.
    const upload = startUpload(b.url, v, task!, bytes);
    upload.send(bytes.subarray(0, bytes.length / 2));
    await waitFor('b to have begun writing the upload', () => readdirSync(tmp).length > before);
    // a restarts meanwhile: a start looks for crash leftovers in the same directory.
    await a.close();
    a = await startTestCoordinator({ ...shared, dataDir: a.dataDir });
    upload.send(bytes.subarray(bytes.length / 2));
    expect(await upload.end()).toEqual({ status: 201, body: { sha256: sha256Hex(bytes), size: bytes.length } });
    const [ack] = await v.report([buildResult(ed, v.seed, task!, { output, inline: false }, TIMING)]);
    expect(ack?.status).toBe('accepted');
    const replicaId = await replicaOfTask(a, task!);
    adaOnA = ApiClient.bearer(a.url, adaOnA.token!); // a listens on a new port
    const got = await adaOnA.get<unknown>(`/workunits/${await workunitOfTask(a, task!)}/replicas/${replicaId}/output`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(output);
  });
});

/** PUT /files/{hash} of a task's output, its body sent in pieces when the test says so. */
function startUpload(url: string, v: TestVolunteer, task: Task, bytes: Uint8Array) {
  const sha256 = sha256Hex(bytes);
  const req = request(`${url}/files/${sha256}`, {
    method: 'PUT',
    headers: {
      'content-length': String(bytes.length),
      'x-vg-host-key': v.publicKey,
      'x-vg-task-id': String(task.taskId),
      'x-vg-signature': signBody(ed, v.seed, 'upload', { hostKey: v.publicKey, sha256, taskId: task.taskId }),
    },
  });
  const answer = new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
  });
  req.flushHeaders();
  return {
    send: (piece: Uint8Array) => void req.write(piece),
    end: () => {
      req.end();
      return answer;
    },
  };
}
