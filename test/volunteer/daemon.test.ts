// The volunteer daemon for real: separate processes against a real coordinator, running the
// example apps in the SES sandbox, surviving hostile apps, kills and coordinator restarts.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Server as IoServer } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/catalog.js';
import { primesInputs } from '../../examples/primes/inputs.js';
import { mandelbrotInputs } from '../../examples/mandelbrot/inputs.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { ledgerEntryHash } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import { receiptBody, verifyBody } from '../../protocol/signing.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { submitInputs } from '../helpers/batches.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';
import { COMPILE_CHAIN_APP, INNOCENT_APP } from '../helpers/leftover-apps.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let coordinator: TestCoordinator | undefined;
let coordinatorProc: CoordinatorProcess | undefined;
let daemons: VolunteerProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(daemons.map((d) => d.kill9()));
  daemons = [];
  await coordinatorProc?.kill9();
  coordinatorProc = undefined;
  await coordinator?.dispose();
  coordinator = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

function startDaemon(url: string, args: string[] = [], dataDir = tempDir('vg-daemon-')): VolunteerProcess {
  const d = VolunteerProcess.start(url, dataDir, args);
  daemons.push(d);
  return d;
}

function readDb<T>(dbFile: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const dbOf = (c: TestCoordinator) => join(c.dataDir, 'coordinator.sqlite');

function workunitStates(dbFile: string, batchId?: number): Record<string, number> {
  return readDb(dbFile, (db) => {
    const rows = db
      .prepare(`SELECT status, COUNT(*) AS n FROM workunits ${batchId === undefined ? '' : 'WHERE batch_id = ?'} GROUP BY status`)
      .all(...(batchId === undefined ? [] : [batchId])) as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  });
}

/** Canonical output of each work unit of a batch, in work-unit order, with its input. */
function canonicalOutputs(dbFile: string, batchId: number): { input: unknown; output: string }[] {
  return readDb(dbFile, (db) =>
    (db
      .prepare(`SELECT w.input_json AS input, r.output_json AS output FROM workunits w JOIN replicas r ON r.id = w.canonical_replica_id
        WHERE w.batch_id = ? ORDER BY w.id`)
      .all(batchId) as { input: string; output: string }[]).map((r) => ({ input: JSON.parse(r.input) as unknown, output: r.output })),
  );
}

/** Runs an example app directly in this process (trusted, no sandbox) for the expected output. */
async function expectedOutput(example: 'primes' | 'mandelbrot', input: unknown): Promise<string> {
  const files = new Map((await EXAMPLES[example].files()).map((f) => [f.name, f.bytes]));
  const mod = (await import(new URL(`../../examples/${example}/main.js`, import.meta.url).href)) as {
    default: (input: unknown, ctx: unknown) => Promise<unknown>;
  };
  const ctx = { resume: undefined, random: () => 0, progress: () => {}, checkpoint: async () => {}, file: async (n: string) => files.get(n)! };
  return canonicalJson(await mod.default(input, ctx));
}

async function addExample(c: TestCoordinator, projectId: number, name: 'primes' | 'mandelbrot'): Promise<number> {
  const app = await c.apps.createApp(projectId, { name });
  await c.apps.addVersion(app.id, { files: await EXAMPLES[name].files(), requirements: EXAMPLES[name].requirements });
  return app.id;
}

const submit = submitInputs;

type Ack = (reply: unknown) => void;

/**
 * A stand-in coordinator that completes the handshake and then leaves every request for work
 * unanswered, so that one is always pending when it goes away; `goAway` drops every connection
 * as a killed process would, and stops listening.
 */
async function holdingCoordinator(port = 0): Promise<{ url: string; port: number; requests: number; goAway(): Promise<void> }> {
  const http: HttpServer = createServer();
  const connections = new Set<NetSocket>();
  http.on('connection', (c) => {
    connections.add(c);
    c.once('close', () => connections.delete(c));
  });
  const io = new IoServer(http);
  const state = { requests: 0 };
  io.of('/volunteer').on('connection', (socket) => {
    socket.on('hello', (_m: unknown, ack: Ack) => ack({ ok: true, challenge: 'ab'.repeat(32), coordinatorKey: 'cd'.repeat(32) }));
    socket.on('auth', (_m: unknown, ack: Ack) =>
      ack({ ok: true, hostId: 1, userId: 1, limits: { maxMessageBytes: 1048576, maxTasksPerRequest: 8, maxResultsPerReport: 8, heartbeatIntervalMs: 60_000 } }),
    );
    socket.on('credit.receipts', (_m: unknown, ack: Ack) => ack({ ok: true, receipts: [] }));
    socket.on('heartbeat', (_m: unknown, ack: Ack) => ack({ ok: true }));
    socket.on('tasks.request', () => void state.requests++); // never answered
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const bound = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    get requests() {
      return state.requests;
    },
    async goAway() {
      for (const c of connections) c.destroy();
      await new Promise((resolve) => io.close(resolve));
    },
  };
}

describe('the volunteer daemon', () => {
  it('three daemons complete a batch of each example app with validated results and verifiable credit', async () => {
    coordinator = await startTestCoordinator();
    const projectId = await coordinator.apps.createProject({ name: 'examples' });
    const primesBatch = await submit(coordinator, await addExample(coordinator, projectId, 'primes'), primesInputs(10, 3000, 200_000));
    const mandelInputs = mandelbrotInputs(6, { width: 96, rowsPerStrip: 6, maxIter: 300 });
    const mandelBatch = await submit(coordinator, await addExample(coordinator, projectId, 'mandelbrot'), mandelInputs);

    const ds = [0, 1, 2].map((i) => startDaemon(coordinator!.url, ['--name', `daemon-${i}`]));
    const db = dbOf(coordinator);
    await waitFor('both batches done', () => workunitStates(db, primesBatch).done === 10 && workunitStates(db, mandelBatch).done === 6, 60_000);

    for (const batch of [primesBatch, mandelBatch]) {
      for (const { input, output } of canonicalOutputs(db, batch)) {
        expect(output).toBe(await expectedOutput(batch === primesBatch ? 'primes' : 'mandelbrot', input));
      }
    }
    // Every replica came from the sandbox of a daemon, two distinct hosts per work unit, all valid.
    readDb(db, (d) => {
      expect(d.prepare("SELECT COUNT(*) AS n FROM replicas WHERE validate_state = 'valid'").get()).toEqual({ n: 32 });
      expect(d.prepare("SELECT COUNT(*) AS n FROM replicas WHERE outcome = 'client_error'").get()).toEqual({ n: 0 });
      expect(d.prepare('SELECT COUNT(*) AS n FROM hosts').get()).toEqual({ n: 3 });
    });

    // Each daemon keeps its receipts, and each verifies against the coordinator's key.
    await waitFor('credit receipts on disk', () => ds.every((d) => existsSync(join(d.dataDir, 'receipts.ndjson'))), 10_000);
    const ed = tweetnaclEd25519();
    let receipts = 0;
    for (const d of ds) {
      for (const line of readFileSync(join(d.dataDir, 'receipts.ndjson'), 'utf8').trim().split('\n')) {
        const r = JSON.parse(line) as CreditReceipt;
        expect(ledgerEntryHash(r)).toBe(r.entryHash);
        expect(verifyBody(ed, coordinator.key.publicKey, 'creditReceipt', receiptBody(r), r.signature)).toBe(true);
        receipts++;
      }
    }
    expect(receipts).toBeGreaterThan(0);

    // A graceful stop exits 0.
    expect(await Promise.all(ds.map((d) => d.stop()))).toEqual([0, 0, 0]);
  }, 90_000);

  it('reports hostile apps as client errors, refuses tampered bundles, and keeps working', async () => {
    coordinator = await startTestCoordinator();
    const projectId = await coordinator.apps.createProject({ name: 'hostile' });
    const keyDir = tempDir('vg-daemon-');
    const hostile: Record<string, string> = {
      'host-error': `export default async (input, ctx) => { await ctx.file('missing.bin'); };`,
      'static-import': `import fs from 'fs'; export default async () => fs.readFileSync('/etc/passwd', 'utf8');`,
      'dynamic-import': `export default async () => (await import('node:child_process')).execSync('id').toString();`,
      'process-exit': `export default async () => { process.exit(1); };`,
      'function-constructor': `export default async () => Function('return process')().mainModule;`,
      'read-key-file': `export default async (input, ctx) => ctx.file('../host-key.json');`,
      'fetch': `export default async () => (await fetch('http://127.0.0.1:1/')).status;`,
      'endless-loop': `export default async () => { for (;;) {} };`,
      'memory-blow-up': `export default async () => { const a = []; for (;;) a.push(new Array(1000).fill({ x: 1 })); };`,
    };
    const expected: Record<string, string> = {
      'host-error': 'app_exception',
      'static-import': 'app_load_failed',
      'dynamic-import': 'app_exception',
      'process-exit': 'app_exception',
      'function-constructor': 'app_exception',
      'read-key-file': 'app_exception',
      'fetch': 'app_exception',
      'endless-loop': 'cpu_limit',
      'memory-blow-up': 'memory_limit',
    };
    const hostileBatches: Record<string, number> = {};
    for (const [name, source] of Object.entries(hostile)) {
      const app = await coordinator.apps.createApp(projectId, { name });
      await coordinator.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: new TextEncoder().encode(source) }] });
      // One attempt is enough to see the error: quorum 1, no retries.
      hostileBatches[name] = await submit(coordinator, app.id, [{ n: 1 }], { minQuorum: 1, targetNresults: 1, maxErrorResults: 1, maxTotalResults: 1 });
    }
    // A tampered app file on the coordinator's disk: the daemon must refuse to run it.
    const tampered = await coordinator.apps.createApp(projectId, { name: 'tampered' });
    const version = await coordinator.apps.addVersion(tampered.id, { files: [{ name: 'main.js', bytes: new TextEncoder().encode('export default async () => 1;') }] });
    const mainHash = version.manifest.files[0]!.sha256;
    writeFileSync(coordinator.blobs.pathOf(mainHash), 'export default async () => 2;'); // same size, other bytes
    const tamperedBatch = await submit(coordinator, tampered.id, [{ n: 1 }], { minQuorum: 1, targetNresults: 1, maxErrorResults: 1, maxTotalResults: 1 });

    const daemon = startDaemon(coordinator.url, ['--max-cpu-seconds', '1.5', '--max-memory-mb', '96'], keyDir);
    const db = dbOf(coordinator);
    const all = [...Object.values(hostileBatches), tamperedBatch];
    await waitFor('every hostile work unit to fail', () => all.every((b) => workunitStates(db, b).failed === 1), 60_000);

    const errors = readDb(db, (d) =>
      Object.fromEntries(
        (d.prepare(`SELECT a.name AS app, r.error_json AS error FROM replicas r JOIN workunits w ON w.id = r.workunit_id JOIN apps a ON a.id = w.app_id
          WHERE r.outcome = 'client_error'`).all() as { app: string; error: string }[]).map((r) => [r.app, (JSON.parse(r.error) as { code: string }).code]),
      ),
    );
    expect(errors).toEqual({ ...expected, tampered: 'bad_app' });
    // Error reports name no file of the volunteer's machine: not where it is installed, nor its data dir.
    const reports = readDb(db, (d) => (d.prepare(`SELECT error_json AS e FROM replicas WHERE error_json IS NOT NULL`).all() as { e: string }[]).map((r) => r.e).join('\n'));
    for (const where of ['file://', ROOT, tmpdir(), keyDir]) expect(reports).not.toContain(where);
    // Nothing ever ran the tampered code, and the key never left the daemon.
    expect(daemon.logged('refused a task')[0]?.reason).toMatch(/does not match its SHA-256/);
    const key = (JSON.parse(readFileSync(join(keyDir, 'host-key.json'), 'utf8')) as { seed: string }).seed;
    const outputs = readDb(db, (d) => JSON.stringify(d.prepare('SELECT output_json, error_json FROM replicas').all()));
    expect(outputs).not.toContain(key);

    // The same daemon still computes correct results afterwards.
    const good = await submit(coordinator, await addExample(coordinator, projectId, 'primes'), primesInputs(3, 2000, 50_000), { minQuorum: 1, targetNresults: 1 });
    await waitFor('the good batch', () => workunitStates(db, good).done === 3, 30_000);
    for (const { input, output } of canonicalOutputs(db, good)) expect(output).toBe(await expectedOutput('primes', input));
    expect(await daemon.stop()).toBe(0);
  }, 90_000);

  // Regression: a compilation the first app left running resumed inside the next task on the
  // same worker thread, which failed with cpu_limit for the leftover's computing.
  it("runs a task after one that left work behind without that work's CPU", async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'leftovers' });
    const add = async (name: string, source: string) => {
      const app = await c.apps.createApp(projectId, { name });
      await c.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: new TextEncoder().encode(source) }] });
      return app.id;
    };
    const once = { minQuorum: 1, targetNresults: 1, maxErrorResults: 1, maxTotalResults: 1 };
    const leftover = await submit(c, await add('leftover', COMPILE_CHAIN_APP), [{ n: 1 }], once);
    const innocent = await submit(c, await add('innocent', INNOCENT_APP), [{ n: 1 }, { n: 2 }], once);
    const daemon = startDaemon(c.url, ['--max-cpu-seconds', '1.5']);
    const db = dbOf(c);
    await waitFor('every work unit over', () => workunitStates(db, leftover).done === 1 && (workunitStates(db, innocent).done ?? 0) + (workunitStates(db, innocent).failed ?? 0) === 2, 30_000);
    expect(workunitStates(db, innocent)).toEqual({ done: 2 });
    const cpu = readDb(db, (d) => d.prepare(`SELECT r.cpu_time_ms AS cpu FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?`).all(innocent)) as { cpu: number }[];
    for (const r of cpu) expect(r.cpu).toBeLessThan(1_000);
    expect(await daemon.stop()).toBe(0);
  }, 60_000);

  // Regression: app files and inputs were cached forever (272 MB after 4 small tasks), and an
  // app could write checkpoints without bound (670 MB for 1.8 s of CPU).
  it('keeps its app cache within --max-disk-mb and stops an app that checkpoints without bound', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'disk' });
    const KB = 1024;
    const pad = (n: number, seed: number) => new Uint8Array(n).fill(seed);
    // Four apps, each with a 400 KB file, each given a 300 KB input (inputs over 256 KiB travel as files).
    const batches: number[] = [];
    for (let i = 0; i < 4; i++) {
      const app = await c.apps.createApp(projectId, { name: `app-${i}` });
      await c.apps.addVersion(app.id, {
        files: [
          { name: 'main.js', bytes: new TextEncoder().encode(`export default async (input, ctx) => (await ctx.file('pad.bin')).length + input.pad.length;`) },
          { name: 'pad.bin', bytes: pad(400 * KB, i + 1) },
        ],
      });
      batches.push((await submit(c, app.id, [{ pad: String(i).repeat(300 * KB) }], { minQuorum: 1, targetNresults: 1 })));
    }
    const flood = await c.apps.createApp(projectId, { name: 'flood' });
    await c.apps.addVersion(flood.id, { files: [{ name: 'main.js', bytes: new TextEncoder().encode(`export default async (input, ctx) => { for (let i = 0; ; i++) await ctx.checkpoint({ i, pad: 'x'.repeat(100000) }); };`) }] });
    const floodBatch = await submit(c, flood.id, [{ n: 1 }], { minQuorum: 1, targetNresults: 1, maxErrorResults: 1, maxTotalResults: 1 });

    const daemon = startDaemon(c.url, ['--max-disk-mb', '1', '--max-checkpoint-total-mb', '1']);
    const db = dbOf(c);
    await waitFor('every work unit over', () => batches.every((b) => workunitStates(db, b).done === 1) && workunitStates(db, floodBatch).failed === 1, 60_000);
    for (const [i, b] of batches.entries()) expect(JSON.parse(canonicalOutputs(db, b)[0]!.output)).toBe(700 * KB);
    const floodError = readDb(db, (d) => d.prepare(`SELECT r.error_json AS e FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?`).get(floodBatch)) as { e: string };
    expect(JSON.parse(floodError.e)).toMatchObject({ code: 'checkpoint_limit', message: expect.stringMatching(/over the volunteer's limit of 1048576 bytes for one task/) });

    // The cache holds at most 1 MiB: what each task needed (700 KB) fitted, older entries went.
    const cached = ['files', 'app-versions'].flatMap((d) => readdirSync(join(daemon.dataDir, d)).map((f) => statSync(join(daemon.dataDir, d, f)).size));
    expect(cached.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1024 * KB);
    expect(cached.length).toBeGreaterThan(0);
    expect(await daemon.stop()).toBe(0);
  }, 90_000);

  it('resumes a task from its checkpoint after the daemon is killed with SIGKILL', async () => {
    coordinator = await startTestCoordinator();
    const projectId = await coordinator.apps.createProject({ name: 'long' });
    // Seconds of trial division, checkpointed every 10,000 numbers.
    const batch = await submit(coordinator, await addExample(coordinator, projectId, 'primes'), [{ from: 30_000_000, to: 33_000_000 }], { minQuorum: 1, targetNresults: 1 });
    const dataDir = tempDir('vg-daemon-');
    const first = startDaemon(coordinator.url, [], dataDir);
    await first.waitForLog('task started');
    const checkpoints = join(dataDir, 'journal', 'checkpoints');
    await waitFor('a checkpoint', () => readdirSync(checkpoints).some((f) => f.endsWith('.json')), 30_000);
    await first.kill9();
    const state = JSON.parse(readFileSync(join(checkpoints, readdirSync(checkpoints).find((f) => f.endsWith('.json'))!), 'utf8')) as { next: number };
    expect(state.next).toBeGreaterThan(30_000_000);

    const second = startDaemon(coordinator.url, [], dataDir);
    const resumed = await second.waitForLog('task resumed from its checkpoint');
    const db = dbOf(coordinator);
    await waitFor('the work unit', () => workunitStates(db, batch).done === 1, 60_000);
    expect(second.logged('task started')).toEqual([]); // resumed, not restarted
    expect(canonicalOutputs(db, batch)[0]!.output).toBe(await expectedOutput('primes', { from: 30_000_000, to: 33_000_000 }));
    expect(resumed.taskId).toBeTypeOf('number');
  }, 120_000);

  it('gives running and queued tasks back on SIGTERM so they are reissued at once', async () => {
    coordinator = await startTestCoordinator();
    const projectId = await coordinator.apps.createProject({ name: 'stop' });
    const batch = await submit(coordinator, await addExample(coordinator, projectId, 'primes'), primesInputs(3, 3_000_000, 30_000_000), { minQuorum: 1, targetNresults: 1 });
    const daemon = startDaemon(coordinator.url, ['--grace-seconds', '0.5']);
    await daemon.waitForLog('task started');
    expect(await daemon.stop()).toBe(0);
    // One thread and one task fetched ahead: the running task and the queued one.
    expect(daemon.logged('gave tasks back').reduce((n, l) => n + (l.tasks as number), 0)).toBe(2);
    readDb(dbOf(coordinator), (d) => {
      expect(d.prepare("SELECT COUNT(*) AS n FROM replicas WHERE outcome = 'abandoned'").get()).toEqual({ n: 2 });
      // Reissued: each work unit has an unsent replica again, without waiting for a deadline.
      expect(d.prepare("SELECT COUNT(*) AS n FROM replicas WHERE status = 'unsent'").get()).toEqual({ n: 3 });
    });
    expect(workunitStates(dbOf(coordinator), batch)).toEqual({ active: 3 });
  }, 60_000);

  it('refuses a coordinator whose key is not the pinned or first-seen one, and runs nothing', async () => {
    coordinator = await startTestCoordinator();
    const projectId = await coordinator.apps.createProject({ name: 'keys' });
    await submit(coordinator, await addExample(coordinator, projectId, 'primes'), primesInputs(2, 1000, 10_000));

    const pinned = startDaemon(coordinator.url, ['--coordinator-key', 'ab'.repeat(32)]);
    expect(await pinned.exited).toBe(1);
    expect(pinned.output.join('')).toMatch(/--coordinator-key pins/);
    expect(pinned.logged('task started')).toEqual([]);

    // Trust on first use: the key seen first is remembered; an impostor with another key is refused.
    const dataDir = tempDir('vg-daemon-');
    writeFileSync(join(dataDir, 'coordinator.json'), JSON.stringify({ url: coordinator.url, coordinatorKey: 'cd'.repeat(32), firstSeen: '2026-01-01T00:00:00Z' }));
    const tofu = startDaemon(coordinator.url, [], dataDir);
    expect(await tofu.exited).toBe(1);
    expect(tofu.output.join('')).toMatch(/this volunteer trusts cdcd/);
    expect(tofu.logged('task started')).toEqual([]);
  }, 60_000);

  it('says the connection was lost, not that a request timed out, when the coordinator goes away mid-request', async () => {
    let stand = await holdingCoordinator();
    try {
      const logged = startDaemon(stand.url);
      const live = startDaemon(stand.url, ['--display', 'live']);
      await waitFor('both daemons asking for work', () => stand.requests >= 2);
      const liveBefore = live.output.join('').length;
      const liveSince = () => live.output.join('').slice(liveBefore);
      await stand.goAway();

      await logged.waitForLog('lost the coordinator; reconnecting', (l) => l.level === 'warn');
      expect(logged.logged('lost the coordinator; reconnecting')[0]!.reason).toBe('the connection closed (the coordinator stopped, or the network failed)');
      await waitFor('the live display saying so', () => /lost the coordinator \d+ s ago: the connection closed .*; retrying/.test(liveSince()), 10_000);
      // The pending request failed at that instant: nothing may call it a 30 s timeout, then or later.
      await new Promise((r) => setTimeout(r, 1_500));
      for (const d of [logged, live]) {
        const said = d.output.join('');
        expect(said).not.toMatch(/within 30 s|no answer to/);
        expect(said).not.toContain('asking for work failed');
      }

      // And it retries: the coordinator back on its port, both connect again and ask for work.
      stand = await holdingCoordinator(stand.port);
      await waitFor('connected again', () => logged.logged('connected').length === 2, 30_000);
      await waitFor('asking for work again', () => stand.requests >= 2, 30_000);
      await waitFor('the live display connected again', () => /● connected/.test(liveSince()), 10_000);
      expect(await Promise.all([logged.stop(), live.stop()])).toEqual([0, 0]);
    } finally {
      await stand.goAway();
    }
  }, 60_000);

  it('reconnects after the coordinator is killed and restarted, and the batch completes', async () => {
    const dataDir = tempDir('vg-coordinator-');
    // The demo project: primes (JavaScript) and Mandelbrot (WebAssembly).
    coordinatorProc = await spawnCoordinator(dataDir, ['--demo-workunits', '30', '--transition-interval-ms', '200']);
    const port = new URL(coordinatorProc.url).port;
    const db = join(dataDir, 'coordinator.sqlite');
    const ds = [0, 1].map(() => startDaemon(coordinatorProc!.url));
    await waitFor('some work done', () => (workunitStates(db).done ?? 0) >= 10, 60_000);
    await coordinatorProc.kill9();
    await Promise.all(ds.map((d) => d.waitForLog('lost the coordinator; reconnecting')));

    coordinatorProc = await spawnCoordinator(dataDir, ['--port', port, '--transition-interval-ms', '200']);
    await waitFor('all 60 work units done', () => workunitStates(db).done === 60, 90_000);
    for (const d of ds) expect(d.logged('connected').length).toBeGreaterThanOrEqual(2);
    expect(await Promise.all(ds.map((d) => d.stop()))).toEqual([0, 0]);
  }, 150_000);
});
