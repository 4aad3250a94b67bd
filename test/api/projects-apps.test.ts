// Projects, apps and app versions over the API: shapes, ownership (someone else's thing is a 404
// and stays untouched), bad input (a clear error and no change), and app version uploads: files
// stored by hash, the manifest signed with the coordinator key.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { jsonHash } from '../../protocol/hash.js';
import { verifyBody } from '../../protocol/signing.js';
import { appVersionProblem } from '../../protocol/verify.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { spawnCoordinator } from '../helpers/coordinator-process.js';
import {
  ApiClient,
  dbState,
  expectError,
  newApp,
  newResearcher,
  TRIVIAL_MAIN,
  type App,
  type AppVersion,
  type Project,
  type ProjectDetail,
  type Submitted,
  type UploadFile,
} from '../helpers/api-client.js';

const ed = nodeEd25519();
let c: TestCoordinator;
let admin: ApiClient;
let ada: ApiClient;
let bob: ApiClient;

beforeAll(async () => {
  c = await startTestCoordinator();
  admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  ada = await newResearcher(admin, 'ada');
  bob = await newResearcher(admin, 'bob');
});
afterAll(async () => {
  await c?.dispose();
});

const state = () => dbState(c.store.db);
const sha256 = (bytes: string | Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const BAD_IDS = ['abc', '-1', '0', '1.5', '99999999999999999999'];
const main = (): UploadFile => ({ name: 'main.js', content: TRIVIAL_MAIN });

/** Runs a request that must be refused, and checks that it changed nothing. */
async function refused<T>(request: () => Promise<T>): Promise<T> {
  const before = state();
  const r = await request();
  expect(state()).toEqual(before);
  return r;
}

describe('projects', () => {
  let adaProject: Project;

  it('POST makes a project owned by the caller (201)', async () => {
    const before = Date.now();
    const r = await ada.post<Project>('/projects', { name: '  folding  ', description: 'proteins, folded' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.any(Number),
      name: 'folding',
      description: 'proteins, folded',
      status: 'active',
      ownerId: ada.account!.id,
      ownerName: 'ada',
      createdAt: expect.any(Number),
      workunits: { active: 0, done: 0, failed: 0, cancelled: 0 },
      // The coordinator's --max-credit-per-result until an admin sets a cap of its own.
      creditCap: { maxPerResult: 1000, isDefault: true, correcting: false },
      priorityCap: { maxPriority: 10, isDefault: true, lowering: false },
    });
    expect(r.body.createdAt).toBeGreaterThanOrEqual(before);
    adaProject = r.body;
    const empty = await ada.post<Project>('/projects', { name: 'no-description' });
    expect(empty.body.description).toBe('');
  });

  it('refuses a taken name with 409, whoever owns it', async () => {
    expectError(await refused(() => ada.post('/projects', { name: 'folding' })), 409, 'conflict', 'a project named "folding" already exists');
    expectError(await refused(() => bob.post('/projects', { name: 'folding' })), 409, 'conflict');
  });

  it('GET /projects lists your own projects; an admin sees all', async () => {
    const bobs = await bob.post<Project>('/projects', { name: 'bobs-project' });
    const mine = await ada.get<{ projects: Project[] }>('/projects');
    expect(mine.status).toBe(200);
    expect(mine.body.projects.map((p) => p.name)).toEqual(['folding', 'no-description']);
    expect(mine.body.projects[0]).toEqual(adaProject);
    expect((await bob.get<{ projects: Project[] }>('/projects')).body.projects).toEqual([bobs.body]);
    const all = await admin.get<{ projects: Project[] }>('/projects');
    expect(all.body.projects.map((p) => p.name)).toEqual(['folding', 'no-description', 'bobs-project']);
  });

  it('GET /projects/:id adds its apps (with versions) and batches', async () => {
    const app = await ada.post<App>(`/projects/${adaProject.id}/apps`, { name: 'fold' });
    const v = await ada.upload(`/apps/${app.body.id}/versions`, [main()]);
    const batch = await ada.post<Submitted>(`/apps/${app.body.id}/batches`, { name: 'first', workunits: [{ input: 1 }, { input: 2 }] });
    expect(batch.status).toBe(201);
    const r = await ada.get<ProjectDetail>(`/projects/${adaProject.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ...adaProject,
      workunits: { active: 2, done: 0, failed: 0, cancelled: 0 },
      apps: [{ ...app.body, versions: [v.body] }],
      batches: [{ id: batch.body.batchId, name: 'first', appId: app.body.id, appName: 'fold', workunits: 2, cancelled: false, createdAt: expect.any(Number) }],
    });
    // Admins see it too.
    expect((await admin.get<ProjectDetail>(`/projects/${adaProject.id}`)).body).toEqual(r.body);
  });

  it('PATCH changes name, description and status, and answers the project', async () => {
    const p = await ada.post<Project>('/projects', { name: 'to-edit' });
    const r = await ada.patch<Project>(`/projects/${p.body.id}`, { name: 'edited', description: 'now described', status: 'paused' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ...p.body, name: 'edited', description: 'now described', status: 'paused' });
    const back = await ada.patch<Project>(`/projects/${p.body.id}`, { status: 'active' });
    expect(back.body).toEqual({ ...p.body, name: 'edited', description: 'now described' });
    expect((await ada.get<Project>(`/projects/${p.body.id}`)).body.name).toBe('edited');
    // Keeping its own name is no conflict; an empty change changes nothing.
    expect((await ada.patch<Project>(`/projects/${p.body.id}`, { name: 'edited' })).status).toBe(200);
    expect((await refused(() => ada.patch<Project>(`/projects/${p.body.id}`, {}))).status).toBe(200);
  });

  it('PATCH refuses a name taken by another project with 409', async () => {
    const p = await ada.post<Project>('/projects', { name: 'rename-me' });
    expectError(await refused(() => ada.patch(`/projects/${p.body.id}`, { name: 'bobs-project' })), 409, 'conflict', /already exists/);
  });

  it('a paused project hands out no tasks; tasks flow again once it is active', async () => {
    const { project, app } = await newApp(ada, 'pausable');
    const b = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'p', workunits: [{ input: 1 }, { input: 2 }] });
    expect(b.status).toBe(201);
    await c.replicasReady();
    expect((await ada.patch<Project>(`/projects/${project.id}`, { status: 'paused' })).body.status).toBe('paused');
    const v = await TestVolunteer.connect(c.url, { name: 'pause-check' });
    try {
      // Other projects' tasks still flow.
      expect((await v.requestTasks(16)).filter((t) => t.project === 'pausable')).toEqual([]);
      await ada.patch(`/projects/${project.id}`, { status: 'active' });
      const tasks = (await v.requestTasks(16)).filter((t) => t.project === 'pausable');
      expect(tasks).toHaveLength(2);
      expect(new Set(await Promise.all(tasks.map((t) => workunitOfTask(c, t)))).size).toBe(2);
    } finally {
      v.close();
    }
  });

  it.each([
    ['no name', {}, /name/],
    ['an empty name', { name: '' }, /name/],
    ['a blank name', { name: '   ' }, /name/],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, /name/],
    ['a number for a name', { name: 7 }, /name/],
    ['a description of 5001 characters', { name: 'ok', description: 'd'.repeat(5001) }, /description/],
    ['an unknown field', { name: 'ok', owner: 2 }, /owner/],
    ['a status (set with PATCH only)', { name: 'ok', status: 'paused' }, /status/],
    ['an array', [{ name: 'ok' }], /object/],
    ['null', null, /JSON|object/],
  ])('POST refuses %s with 400 and makes nothing', async (_what, body, message) => {
    const r = await refused(() => ada.request('POST', '/projects', { body: JSON.stringify(body), contentType: 'application/json' }));
    expectError(r, 400, 'bad_request', message);
  });

  it.each([
    ['an unknown status', { status: 'done' }, /status/],
    ['an empty name', { name: '' }, /name/],
    ['an unknown field', { ownerId: 3 }, /ownerId/],
    ['a number for a description', { description: 5 }, /description/],
  ])('PATCH refuses %s with 400 and changes nothing', async (_what, body, message) => {
    expectError(await refused(() => ada.patch(`/projects/${adaProject.id}`, body)), 400, 'bad_request', message);
  });

  it('refuses malformed JSON with 400 and a body over 64 kB with 413', async () => {
    expectError(await refused(() => ada.request('POST', '/projects', { body: '{"name": "x"', contentType: 'application/json' })), 400, 'bad_request', /not valid JSON/);
    expectError(await refused(() => ada.request('PATCH', `/projects/${adaProject.id}`, { body: '{name: x}', contentType: 'application/json' })), 400, 'bad_request', /not valid JSON/);
    expectError(await refused(() => ada.post('/projects', { name: 'big', description: 'd'.repeat(70_000) })), 413, 'too_large');
  });

  // docs/api.md: 415 for a wrong Content-Type, not 400 "expected object, received undefined".
  it('refuses a body that is not application/json with 415 (POST and PATCH projects, POST apps)', async () => {
    const text = (method: string, path: string) => ada.request(method, path, { body: JSON.stringify({ name: 'typed' }), contentType: 'text/plain' });
    expectError(await refused(() => text('POST', '/projects')), 415, 'unsupported_media_type');
    expectError(await refused(() => text('PATCH', `/projects/${adaProject.id}`)), 415, 'unsupported_media_type');
    expectError(await refused(() => text('POST', `/projects/${adaProject.id}/apps`)), 415, 'unsupported_media_type');
  });

  it.each(BAD_IDS)('refuses the project id %s with 400', async (id) => {
    expectError(await refused(() => ada.get(`/projects/${id}`)), 400, 'bad_request', /project id/);
    expectError(await refused(() => ada.patch(`/projects/${id}`, { description: 'x' })), 400, 'bad_request', /project id/);
    expectError(await refused(() => ada.post(`/projects/${id}/apps`, { name: 'x' })), 400, 'bad_request', /project id/);
  });

  it('answers 404 for a project that does not exist', async () => {
    expectError(await ada.get('/projects/9999'), 404, 'not_found', 'no project 9999');
    expectError(await refused(() => ada.patch('/projects/9999', { description: 'x' })), 404, 'not_found', 'no project 9999');
    expectError(await refused(() => ada.post('/projects/9999/apps', { name: 'x' })), 404, 'not_found', 'no project 9999');
  });
});

describe('apps', () => {
  let project: Project;
  beforeAll(async () => {
    project = (await ada.post<Project>('/projects', { name: 'apps-here' })).body;
  });

  it('POST makes an app with exact validation by default (201)', async () => {
    const before = Date.now();
    const r = await ada.post<App>(`/projects/${project.id}/apps`, { name: 'primes' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.any(Number),
      projectId: project.id,
      name: 'primes',
      validation: { mode: 'exact' },
      homogeneousRedundancy: false,
      adaptiveReplication: false,
      createdAt: expect.any(Number),
      versions: [],
    });
    expect(r.body.createdAt).toBeGreaterThanOrEqual(before);
    expect((await ada.get<App>(`/apps/${r.body.id}`)).body).toEqual(r.body);
  });

  it('POST takes tolerance validation and the replication flags', async () => {
    const r = await ada.post<App>(`/projects/${project.id}/apps`, {
      name: 'float',
      validation: { mode: 'tolerance', absEpsilon: 1e-9, relEpsilon: 1e-6 },
      homogeneousRedundancy: true,
      adaptiveReplication: true,
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ validation: { mode: 'tolerance', absEpsilon: 1e-9, relEpsilon: 1e-6 }, homogeneousRedundancy: true, adaptiveReplication: true });
    const defaults = await ada.post<App>(`/projects/${project.id}/apps`, { name: 'float-defaults', validation: { mode: 'tolerance' } });
    expect(defaults.body.validation).toEqual({ mode: 'tolerance', absEpsilon: 0, relEpsilon: 0 });
  });

  it('refuses a second app of the same name in a project with 409 (another project may use it)', async () => {
    expectError(await refused(() => ada.post(`/projects/${project.id}/apps`, { name: 'primes' })), 409, 'conflict', /already has an app named "primes"/);
    const other = await ada.post<Project>('/projects', { name: 'apps-elsewhere' });
    expect((await ada.post<App>(`/projects/${other.body.id}/apps`, { name: 'primes' })).status).toBe(201);
  });

  it.each([
    ['no name', {}, /name/],
    ['an empty name', { name: '' }, /name/],
    ['an unknown validation mode', { name: 'x', validation: { mode: 'fuzzy' } }, /validation/],
    ['epsilons on exact validation', { name: 'x', validation: { mode: 'exact', absEpsilon: 1 } }, /absEpsilon/],
    ['a negative epsilon', { name: 'x', validation: { mode: 'tolerance', absEpsilon: -1 } }, /absEpsilon/],
    ['a string for a flag', { name: 'x', homogeneousRedundancy: 'yes' }, /homogeneousRedundancy/],
    ['an unknown field', { name: 'x', replication: {} }, /replication/],
  ])('POST refuses %s with 400 and makes nothing', async (_what, body, message) => {
    expectError(await refused(() => ada.post(`/projects/${project.id}/apps`, body)), 400, 'bad_request', message);
  });

  it.each(BAD_IDS)('GET refuses the app id %s with 400', async (id) => {
    expectError(await ada.get(`/apps/${id}`), 400, 'bad_request', /app id/);
  });

  it('GET answers 404 for an app that does not exist', async () => {
    expectError(await ada.get('/apps/9999'), 404, 'not_found', 'no app 9999');
  });
});

describe('app versions (multipart upload)', () => {
  let app: App;
  let coordinatorKey: string;
  beforeAll(async () => {
    const p = await ada.post<Project>('/projects', { name: 'versions-here' });
    app = (await ada.post<App>(`/projects/${p.body.id}/apps`, { name: 'bundle' })).body;
    coordinatorKey = ((await (await fetch(`${c.url}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string }).coordinatorKey;
  });

  it('stores the files by SHA-256, builds the manifest and signs it with the coordinator key (201)', async () => {
    const binary = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
    const helper = 'export const twice = (x) => 2 * x;\n';
    const before = Date.now();
    const r = await ada.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN }, { name: 'data.bin', content: binary }, { name: 'helper.js', content: helper }], {
      platform: 'node',
      requirements: '{"wasm":true,"minMemoryMb":256}',
    });
    expect(r.status).toBe(201);
    const files = [
      { name: 'data.bin', sha256: sha256(binary), size: 1000 },
      { name: 'helper.js', sha256: sha256(helper), size: Buffer.byteLength(helper) },
      { name: 'main.js', sha256: sha256(TRIVIAL_MAIN), size: Buffer.byteLength(TRIVIAL_MAIN) },
    ];
    expect(r.body).toEqual({
      id: expect.any(Number),
      appId: app.id,
      version: 1,
      platform: 'node',
      requirements: { wasm: true, minMemoryMb: 256 },
      bundleHash: jsonHash({ entry: 'main.js', files }),
      signature: expect.stringMatching(/^[0-9a-f]{128}$/),
      entry: 'main.js',
      kind: 'javascript',
      files,
      createdAt: expect.any(Number),
      broken: null,
      retiredAt: null,
    });
    expect(r.body.createdAt).toBeGreaterThanOrEqual(before);

    // The signature covers the manifest {entry, files} in the appVersion domain, with the key volunteers trust.
    expect(coordinatorKey).toBe(c.key.publicKey);
    expect(verifyBody(ed, coordinatorKey, 'appVersion', { entry: 'main.js', files }, r.body.signature)).toBe(true);
    expect(verifyBody(ed, coordinatorKey, 'appVersion', { entry: 'helper.js', files }, r.body.signature)).toBe(false);
    // And a volunteer accepts the version document the coordinator serves for it.
    const doc = (await (await fetch(`${c.url}/app-versions/${r.body.bundleHash}`)).json()) as { bundleHash: string; manifest: unknown; signature: string };
    expect(appVersionProblem(ed, coordinatorKey, r.body.bundleHash, doc)).toEqual({ manifest: { entry: 'main.js', files } });

    // Every file is served by its hash, byte for byte.
    const served = new Uint8Array(await (await fetch(`${c.url}/files/${sha256(binary)}`)).arrayBuffer());
    expect(Buffer.from(served).equals(Buffer.from(binary))).toBe(true);
    expect(await (await fetch(`${c.url}/files/${sha256(helper)}`)).text()).toBe(helper);
    for (const f of files) expect(c.blobs.has(f.sha256)).toBe(true);
  });

  it('numbers versions, lists the newest first, and takes another entry file', async () => {
    const r = await ada.upload(`/apps/${app.id}/versions`, [{ name: 'start.js', content: TRIVIAL_MAIN }], { entry: 'start.js' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ version: 2, entry: 'start.js', platform: 'any', requirements: {} });
    expect(verifyBody(ed, coordinatorKey, 'appVersion', { entry: 'start.js', files: r.body.files }, r.body.signature)).toBe(true);
    const got = await ada.get<App>(`/apps/${app.id}`);
    expect(got.body.versions.map((v) => v.version)).toEqual([2, 1]);
    expect(got.body.versions[0]).toEqual(r.body);
  });

  it('takes 64 files, the most allowed', async () => {
    const files = Array.from({ length: 64 }, (_, i): UploadFile => (i === 0 ? main() : { name: `part-${i}.js`, content: `export const n = ${i};` }));
    const r = await ada.upload(`/apps/${app.id}/versions`, files);
    expect(r.status).toBe(201);
    expect(r.body.files).toHaveLength(64);
  });

  // Folders in part file names are refused, not stripped ("a/b.js" must not become "b.js"):
  // coordinator/api/multipart.ts reads them with busboy's `preservePath`.
  it.each([
    ['a file name with a folder', [main(), { name: 'a/b.js', content: 'x' }], /a\/b\.js/],
    ['a file name that climbs out', [main(), { name: '../x.js', content: 'x' }], /\.\.\/x\.js/],
    ['a file name with a backslash', [main(), { name: 'a\\b.js', content: 'x' }], /b\.js/],
  ])('refuses %s with 400 rather than storing it under another name', async (_what, files, message) => {
    const r = await refused(() => ada.upload(`/apps/${app.id}/versions`, files));
    expectError(r, 400, 'bad_request', message);
  });

  it.each([
    ['a hidden file name', [main(), { name: '.env', content: 'x' }], /"\.env" is not an allowed file name/],
    ['a file name with a space', [main(), { name: 'my file.js', content: 'x' }], /not an allowed file name/],
    ['no main.js and no entry field', [{ name: 'other.js', content: 'x' }], 'the entry file "main.js" is not among the files'],
    ['the same name twice', [main(), main()], 'file "main.js" appears twice'],
    ['a file part not named "files"', [main(), { name: 'b.js', content: 'x', field: 'file' }], 'file parts must be named "files", not "file"'],
    ['no files at all', [], /no files/],
  ])('refuses %s with 400 and stores nothing', async (_what, files, message) => {
    expectError(await refused(() => ada.upload(`/apps/${app.id}/versions`, files)), 400, 'bad_request', message);
  });

  it.each([
    ['an entry that is not among the files', { entry: 'nope.js' }, 'the entry file "nope.js" is not among the files'],
    ['an unknown platform', { platform: 'windows' }, /platform/],
    ['requirements that are not JSON', { requirements: '{wasm: true' }, /requirements must be JSON/],
    ['unknown requirements', { requirements: '{"gpu":true}' }, /gpu/],
    ['a negative memory requirement', { requirements: '{"minMemoryMb":-1}' }, /minMemoryMb/],
    ['an unknown field', { version: '7' }, /version/],
  ])('refuses %s with 400 and stores nothing', async (_what, fields, message) => {
    expectError(await refused(() => ada.upload(`/apps/${app.id}/versions`, [main()], fields)), 400, 'bad_request', message);
  });

  it('refuses more than 64 files with an error naming the limit', async () => {
    const files = Array.from({ length: 65 }, (_, i): UploadFile => (i === 0 ? main() : { name: `part-${i}.js`, content: `export const n = ${i};` }));
    const r = await refused(() => ada.upload(`/apps/${app.id}/versions`, files));
    expectError(r, r.status === 400 ? 400 : 413, r.status === 400 ? 'bad_request' : 'too_large', /at most 64 files/);
  });

  it('refuses a file over 64 MiB with 413 and stores nothing', async () => {
    const big = new Uint8Array(64 * 1024 * 1024 + 1);
    const r = await refused(() => ada.upload(`/apps/${app.id}/versions`, [main(), { name: 'big.bin', content: big }]));
    expectError(r, 413, 'too_large', /"big\.bin" is larger than 67108864 bytes/);
  });

  it('refuses a body that is not multipart with 415, and broken multipart with 400', async () => {
    const url = `/apps/${app.id}/versions`;
    expectError(await refused(() => ada.post(url, { files: ['main.js'] })), 415, 'unsupported_media_type', /multipart\/form-data/);
    expectError(await refused(() => ada.request('POST', url, { body: 'x', contentType: 'multipart/form-data' })), 400, 'bad_request', /multipart/);
    const noEnd = '--XYZ\r\nContent-Disposition: form-data; name="entry"\r\n\r\nmain.js\r\n';
    expectError(await refused(() => ada.request('POST', url, { body: noEnd, contentType: 'multipart/form-data; boundary=XYZ' })), 400, 'bad_request', /multipart/);
  });

  // A body that ends in the middle of a file part fails busboy's file stream: that must be a 400,
  // never an uncaught exception. Run in a child process so a crash could not take this run with it.
  it('answers an upload cut off in the middle of a file with 400, and keeps running', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vg-api-crash-'));
    const child = await spawnCoordinator(dataDir, ['--admin-password', TEST_ADMIN_PASSWORD, '--demo-workunits', '0']);
    try {
      const owner = await ApiClient.withToken(child.url, 'admin', TEST_ADMIN_PASSWORD);
      const { app: target } = await newApp(owner, 'cut-off');
      const cut = '--XYZ\r\nContent-Disposition: form-data; name="files"; filename="main.js"\r\n\r\nexport default 1;\r\n';
      const r = await owner.request('POST', `/apps/${target.id}/versions`, { body: cut, contentType: 'multipart/form-data; boundary=XYZ' }).catch((e: Error) => e);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const health = await fetch(`${child.url}/healthz`).then((h) => h.status, (e: Error) => `down: ${e.message}`);
      expect(health).toBe(200);
      expect(r).not.toBeInstanceOf(Error);
      expectError(r as Awaited<ReturnType<ApiClient['get']>>, 400, 'bad_request', /multipart/);
    } finally {
      await child.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.each(BAD_IDS)('refuses the app id %s with 400', async (id) => {
    expectError(await refused(() => ada.upload(`/apps/${id}/versions`, [main()])), 400, 'bad_request', /app id/);
  });

  it('answers 404 for an app that does not exist', async () => {
    expectError(await refused(() => ada.upload('/apps/9999/versions', [main()])), 404, 'not_found', 'no app 9999');
  });
});

describe("someone else's project is a 404, exactly like a missing one, and stays untouched", () => {
  let project: Project;
  let app: App;
  let version: AppVersion;
  beforeAll(async () => {
    ({ project, app, version } = await newApp(ada, 'ada-private'));
  });

  it('for every route a researcher could aim at it', async () => {
    const before = state();
    const missing = (r: Awaited<ReturnType<ApiClient['get']>>, what: string) => expectError(r, 404, 'not_found', what);
    missing(await bob.get(`/projects/${project.id}`), `no project ${project.id}`);
    missing(await bob.patch(`/projects/${project.id}`, { name: 'stolen', status: 'paused' }), `no project ${project.id}`);
    missing(await bob.post(`/projects/${project.id}/apps`, { name: 'planted' }), `no project ${project.id}`);
    missing(await bob.get(`/apps/${app.id}`), `no app ${app.id}`);
    missing(await bob.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: 'export default () => "pwned"' }]), `no app ${app.id}`);
    missing(await bob.post(`/apps/${app.id}/batches`, { name: 'freeload', workunits: [{ input: 1 }] }), `no app ${app.id}`);
    expect((await bob.get<{ projects: Project[] }>('/projects')).body.projects.map((p) => p.id)).not.toContain(project.id);
    expect(state()).toEqual(before);
    // Still Ada's, unchanged.
    const mine = await ada.get<ProjectDetail>(`/projects/${project.id}`);
    expect(mine.body).toMatchObject({ name: 'ada-private', status: 'active', apps: [{ id: app.id, versions: [version] }], batches: [] });
  });

  it('an admin sees and changes it', async () => {
    expect((await admin.get<ProjectDetail>(`/projects/${project.id}`)).body.ownerName).toBe('ada');
    expect((await admin.get<App>(`/apps/${app.id}`)).body.versions).toEqual([version]);
    const r = await admin.patch<Project>(`/projects/${project.id}`, { description: 'reviewed by the admin' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ownerId: ada.account!.id, description: 'reviewed by the admin' });
    const v = await admin.upload(`/apps/${app.id}/versions`, [main()]);
    expect(v.body.version).toBe(2);
  });
});
