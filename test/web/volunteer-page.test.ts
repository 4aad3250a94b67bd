// The browser volunteer page end to end, in real headless Chromium against a real coordinator
// (and a real Node volunteer where a second host is needed): both example apps computed and
// validated across a browser and Node, a reload resuming from a checkpoint, a tampered task
// refused, a closed tab's tasks reissued within the disconnect grace period, and one worker
// running an app version's tasks one after another until one leaves something behind.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, EXAMPLES_DIR } from '../../examples/catalog.js';
import { mandelbrotInputs } from '../../examples/mandelbrot/inputs.js';
import { primesInputs } from '../../examples/primes/inputs.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { ensurePageBuilt, addApp, readDb } from '../helpers/volunteer-page.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { submitInputs } from '../helpers/batches.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';
import { COMPILE_CHAIN_APP, INNOCENT_APP, WASM_BUILDER } from '../helpers/leftover-apps.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
/** Names that would run or render as markup if the page ever used innerHTML. */
const HOSTILE_PROJECT = '<img src=x onerror="window.__pwned=1">Primes & <b>friends</b>';
const HOSTILE_NICK = '<script>window.__pwned=2</script>Ada';
const HOSTILE_TEAM = '<i>Analytical</i> Engines';

/** A slow app with a checkpoint per step; its output records every step it resumed at. */
const SLOW_APP = `
export default async function run(input, ctx) {
  const state = ctx.resume ?? { step: 0, x: 0, resumes: [] };
  if (ctx.resume) state.resumes.push(state.step);
  while (state.step < input.steps) {
    let x = state.x;
    for (let i = 0; i < input.work; i++) x = (x * 31 + i) % 1000003;
    state.x = x;
    state.step++;
    ctx.progress(state.step / input.steps);
    await ctx.checkpoint(state);
  }
  return { steps: state.step, x: state.x, resumes: state.resumes };
}`;

type Kind = 'primes' | 'mandelbrot';
type RunFn = (input: unknown, ctx: object) => Promise<unknown>;

/** The page is served from dist/volunteer; `npm test` builds it first, a lone vitest run may not have. */
const countDone = (c: TestCoordinator, batchId: number) =>
  readDb(c, (db) => (db.prepare(`SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ? AND status = 'done'`).get(batchId) as { n: number }).n);

function replicasOf(c: TestCoordinator, batchId: number) {
  return readDb(c, (db) =>
    db
      .prepare(`SELECT r.id, r.task_id AS taskId, r.workunit_id AS wu, r.status, r.outcome, r.error_json AS error, r.output_json AS output, h.platform_kind AS kind
        FROM replicas r JOIN workunits w ON w.id = r.workunit_id LEFT JOIN hosts h ON h.id = r.host_id WHERE w.batch_id = ? ORDER BY r.id`)
      .all(batchId) as { id: number; taskId: number | null; wu: number; status: string; outcome: string | null; error: string | null; output: string | null; kind: string | null }[],
  );
}

async function expectedOutput(kind: Kind, input: unknown): Promise<string> {
  const files = new Map((await EXAMPLES[kind].files()).map((f) => [f.name, f.bytes]));
  const mod = (await import(pathToFileURL(join(EXAMPLES_DIR, kind, 'main.js')).href)) as { default: RunFn };
  const ctx = { resume: undefined, random: () => 0, progress: () => {}, checkpoint: async () => {}, file: async (n: string) => files.get(n)! };
  return canonicalJson(await mod.default(input, ctx));
}

const submit = submitInputs;

/** An app that reports what it can reach from inside the sandbox (a Web Worker's global has fetch, indexedDB…). */
const ESCAPE_APP = `
export default async function run() {
  const seen = {};
  const probe = async (name, f) => {
    try { seen[name] = String(await f()); } catch { seen[name] = 'threw'; }
  };
  for (const g of ['fetch', 'XMLHttpRequest', 'WebSocket', 'indexedDB', 'postMessage', 'importScripts', 'self', 'setTimeout', 'Worker']) {
    await probe(g, () => typeof globalThis[g]);
  }
  await probe('Function', () => typeof Function('return this')().fetch);
  await probe('AsyncFunction', async () => typeof (await (async () => {}).constructor('return this')()).fetch);
  await probe('import', () => import('/favicon.svg'));
  await probe('Date.now', () => Date.now());
  await probe('Math.random', () => Math.random());
  await probe('prototype', () => { Object.prototype.polluted = 1; return 'changed'; });
  return seen;
}`;

const ONE_REPLICA = { minQuorum: 1, targetNresults: 1, maxErrorResults: 1, maxTotalResults: 1 };

/**
 * One app version for a worker's consecutive tasks: each task says whether it saw what the one
 * before left on its global (a fresh compartment: never), which of the ways to have code called
 * later it has (none: a kept worker relies on that), and whether the intrinsics SES removes in
 * this browser (quietly now) are gone.
 */
const REUSED_APP = `
export default async (input, ctx) => {
  const before = typeof globalThis.previous;
  globalThis.previous = input.n;
  let x = 0;
  for (let i = 0; i < 2e6; i++) x = (x + i) | 0;
  await ctx.checkpoint({ x });
  const later = ['setTimeout', 'setInterval', 'queueMicrotask', 'requestAnimationFrame', 'Atomics', 'FinalizationRegistry', 'WeakRef',
    'MessageChannel', 'BroadcastChannel', 'Worker', 'fetch', 'indexedDB'].filter((k) => typeof globalThis[k] !== 'undefined');
  const iterator = Object.getPrototypeOf(Object.getPrototypeOf([].values()));
  return { n: input.n, before, later, unpermitted: ['join', 'includes'].filter((k) => k in iterator) };
};`;

/**
 * One app version whose tasks do, by input, what ends a worker: leave a WebAssembly compilation
 * running (whose continuation would compute for seconds), leave a promise loop that never
 * drains, run past the time limit; or compute innocently with a checkpoint per step (the turns
 * of the event loop in which anything left behind would run), reporting whether it saw a mark
 * the others leave on their global.
 */
const MIXED_APP = `${WASM_BUILDER}
export default async (input, ctx) => {
  if (input.mode === 'compile') {
    globalThis.mark = 'compile';
    const bytes = wasmModule(2000, 2000, false);
    const loop = () => WebAssembly.compile(bytes).then(() => { burn(2e9); loop(); });
    loop();
    return 'left a compilation behind';
  }
  if (input.mode === 'microtasks') {
    globalThis.mark = 'microtasks';
    (async () => { for (;;) await null; })();
    return 'left a promise loop behind';
  }
  if (input.mode === 'endless') {
    globalThis.mark = 'endless';
    for (;;) {}
  }
  let x = 0;
  for (let step = 0; step < 20; step++) { for (let i = 0; i < 1e6; i++) x = (x + i) | 0; await ctx.checkpoint({ step }); }
  return ['innocent', typeof globalThis.mark];
};`;

/** The first line of the page's activity that contains `text`, once there is one. */
const activityLine = async (page: Page, text: string, timeout = 45_000) =>
  (await page.waitForFunction(`[...document.querySelectorAll('#activity li span')].map((e) => e.textContent).find((t) => t.includes(${JSON.stringify(text)}))`, null, { timeout })).jsonValue() as Promise<string>;

const workerRow = (page: Page) =>
  page.evaluate(`(({ sandbox, sandboxTasks, state }) => ({ sandbox: Number(sandbox), tasks: Number(sandboxTasks), state }))(document.querySelector('#workers .worker').dataset)`) as Promise<{ sandbox: number; tasks: number; state: string }>;

describe.skipIf(skipBrowserTests('volunteer page e2e'))('the volunteer page in Chromium', async () => {
  let browser: Browser | undefined;
  let coordinator: TestCoordinator | undefined;
  let context: BrowserContext | undefined;
  let volunteer: VolunteerProcess | undefined;
  const dirs: string[] = [];
  let pageErrors: string[] = [];
  let cspViolations: string[] = [];
  /** Everything the page and its workers logged, from before the page loaded. */
  let consoleMessages: string[] = [];

  beforeAll(async () => {
    await ensurePageBuilt();
    browser = await launchChromium();
  }, 60_000);

  afterEach(async () => {
    await context?.close().catch(() => {});
    context = undefined;
    await volunteer?.kill9().catch(() => {});
    volunteer = undefined;
    await coordinator?.dispose().catch(() => {});
    coordinator = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }, 30_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
  });

  /** A fresh browser profile (so a new host key) with the volunteer page open. */
  async function openPage(settings?: object, options: { timezoneId?: string } = {}): Promise<Page> {
    context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, ...options });
    if (settings) await context.addInitScript(`localStorage.setItem('volunteer-grid.settings', ${JSON.stringify(JSON.stringify(settings))})`);
    const page = await context.newPage();
    pageErrors = [];
    cspViolations = [];
    consoleMessages = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      consoleMessages.push(`${m.type()}: ${m.text()}`);
    });
    await page.goto(`${coordinator!.url}/`);
    await page.waitForSelector('#toggle');
    return page;
  }

  async function start(page: Page): Promise<void> {
    expect(await page.textContent('#toggle')).toBe('Start volunteering');
    await page.click('#toggle');
    await page.waitForFunction(`document.querySelector('#toggle').textContent === 'Pause'`);
  }

  /** Resolves once some worker's progress bar is past `fraction` (and not done). */
  const progressPast = (page: Page, fraction: number, timeout = 20_000) =>
    page.waitForFunction(`[...document.querySelectorAll('#workers progress')].some((p) => p.value > ${fraction} && p.value < 1)`, null, { timeout });

  it('computes both example apps beside a Node volunteer, with replicas validated across browser and Node', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: HOSTILE_PROJECT });
    const primes = await c.apps.createApp(projectId, { name: 'primes' });
    await c.apps.addVersion(primes.id, { files: await EXAMPLES.primes.files(), requirements: EXAMPLES.primes.requirements });
    const mandel = await c.apps.createApp(projectId, { name: 'mandelbrot' });
    await c.apps.addVersion(mandel.id, { files: await EXAMPLES.mandelbrot.files(), requirements: EXAMPLES.mandelbrot.requirements });
    // Big enough for progress to show, small enough for the whole test to take seconds.
    const primesIn = primesInputs(3, 150_000, 1_000_000_000);
    const mandelIn = mandelbrotInputs(3, { width: 96, rowsPerStrip: 6, maxIter: 300 });
    const primesBatch = await submit(c, primes.id, primesIn);
    const mandelBatch = await submit(c, mandel.id, mandelIn);

    const dir = mkdtempSync(join(tmpdir(), 'vg-web-node-'));
    dirs.push(dir);
    volunteer = VolunteerProcess.start(c.url, dir, ['--name', 'node-volunteer']);

    const page = await openPage();
    // A nickname and a team through a volunteer account, before starting: shown as text only.
    await page.fill('#nickname', HOSTILE_NICK);
    await page.fill('#team', HOSTILE_TEAM);
    await page.click('.you-form button[type=submit]');
    await page.waitForFunction(`document.querySelector('#you-message').dataset.kind === 'ok'`);
    await start(page);

    await progressPast(page, 0.1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-page.png'), fullPage: true });

    await waitFor('both batches validated', () => countDone(c, primesBatch) === 3 && countDone(c, mandelBatch) === 3, 60_000);

    for (const [batchId, kind, inputs] of [[primesBatch, 'primes', primesIn], [mandelBatch, 'mandelbrot', mandelIn]] as const) {
      const replicas = replicasOf(c, batchId);
      const byWu = new Map<number, typeof replicas>();
      for (const r of replicas) byWu.set(r.wu, [...(byWu.get(r.wu) ?? []), r]);
      for (const [i, wu] of [...byWu.keys()].sort((a, b) => a - b).entries()) {
        const valid = byWu.get(wu)!.filter((r) => r.outcome === 'success');
        // One replica from the browser and one from Node, both exactly the trusted output.
        expect(valid.map((r) => r.kind).sort()).toEqual(['browser', 'node']);
        const expected = await expectedOutput(kind, inputs[i]);
        for (const r of valid) expect(r.output).toBe(expected);
      }
      const states = readDb(c, (db) => db.prepare(`SELECT DISTINCT r.validate_state AS s FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?`).all(batchId));
      expect(states).toEqual([{ s: 'valid' }]);
    }
    const browserHost = readDb(c, (db) => db.prepare(`SELECT platform_json AS p, name FROM hosts WHERE platform_kind = 'browser'`).get()) as { p: string; name: string };
    expect(JSON.parse(browserHost.p)).toMatchObject({ kind: 'browser', engine: 'chromium' });
    expect(browserHost.name).toBe(HOSTILE_NICK);

    // Credit receipts reach the page; its counts, projects and the leaderboard show them.
    await page.waitForFunction(`document.querySelector('#stat-valid').textContent === '6'`, null, { timeout: 15_000 });
    expect(await page.textContent('#stat-completed')).toBe('6');
    expect(Number(await page.textContent('#credit-total'))).toBeGreaterThan(0);
    expect(await page.textContent('#projects')).toContain(HOSTILE_PROJECT);
    await page.waitForFunction(`document.querySelector('#leaderboard').textContent.includes(${JSON.stringify(HOSTILE_NICK)})`, null, { timeout: 15_000 });
    expect(await page.textContent('#leaderboard')).toContain(HOSTILE_TEAM);
    expect(await page.evaluate('document.querySelectorAll("main img, main script, main b, main i").length')).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await page.textContent('#coordinator-fingerprint')).toBe((c.key.publicKey.slice(0, 32).match(/.{4}/g) ?? []).join(' '));
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  }, 90_000);

  it('resumes a task from its checkpoint after a reload', async () => {
    coordinator = await startTestCoordinator({ disconnectGraceMs: 60_000 });
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'reload' });
    const batch = await submit(c, (await addApp(c, projectId, 'slow', SLOW_APP)), [{ steps: 80, work: 4_000_000 }], ONE_REPLICA);

    const page = await openPage();
    await start(page);
    await progressPast(page, 0.25);
    await page.reload();
    await page.waitForSelector('#toggle');
    // Started before the reload, so it carries on without a click.
    await waitFor('the work unit done', () => countDone(c, batch) === 1, 30_000);

    const replicas = replicasOf(c, batch);
    expect(replicas).toHaveLength(1); // never reissued: the same host finished it
    const output = JSON.parse(replicas[0]!.output!) as { steps: number; resumes: number[] };
    expect(output.steps).toBe(80);
    expect(output.resumes).toHaveLength(1);
    expect(output.resumes[0]).toBeGreaterThanOrEqual(20); // from the checkpoint, not from step 0
    expect(output.resumes[0]).toBeLessThan(80);
    expect(await page.textContent('#activity')).toMatch(/Resumed task \d+ \(slow\) from its checkpoint/);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('refuses a task its signed list does not name, keeps app code in its sandbox, and stops an endless task at its time limit', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'hostile' });
    // If this ever ran, its result would be a success.
    const tampered = await submit(c, (await addApp(c, projectId, 'tampered', 'export default async () => "ran";')), [{ n: 1 }], ONE_REPLICA);
    const endless = await submit(c, (await addApp(c, projectId, 'endless', 'export default async () => { for (;;) {} };')), [{ n: 1 }], ONE_REPLICA);
    const escape = await submit(c, (await addApp(c, projectId, 'escape', ESCAPE_APP)), [{ n: 1 }], ONE_REPLICA);

    // A man in the middle on the page's WebSocket changes one hex digit of a signed field (the
    // seed) of the 'tampered' app's tasks, in tasks.request replies (Socket.IO ack frames:
    // 43/volunteer,<id>[…]): the reply's signed task list no longer names it.
    const page = await openPage({ maxTaskMinutes: 0.02 });
    let tamperedTasks = 0;
    await page.routeWebSocket(/\/socket\.io\//, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => {
        const frame = typeof m === 'string' ? /^(43\/volunteer,\d+)(\[.*)$/s.exec(m) : null;
        const reply = frame ? (JSON.parse(frame[2]!) as [{ tasks?: { app: string; rngSeed: string }[] }]) : undefined;
        for (const task of reply?.[0]?.tasks ?? []) {
          if (task.app !== 'tampered') continue;
          task.rngSeed = (task.rngSeed[0] === '0' ? '1' : '0') + task.rngSeed.slice(1);
          tamperedTasks++;
        }
        ws.send(reply ? `${frame![1]}${JSON.stringify(reply)}` : m);
      });
    });
    await page.reload(); // the route applies to sockets opened from now on
    await page.waitForSelector('#toggle');
    await start(page);

    await waitFor('both work units failed', () => readDb(c, (db) => db.prepare(`SELECT COUNT(*) AS n FROM workunits WHERE status = 'failed'`).get() as { n: number }).n === 2, 30_000);
    await waitFor('the escape attempt reported', () => countDone(c, escape) === 1, 10_000);
    expect(tamperedTasks).toBe(1);
    const [refused] = replicasOf(c, tampered);
    expect(refused).toMatchObject({ outcome: 'client_error', kind: 'browser', output: null });
    expect(JSON.parse(refused!.error!)).toEqual({ code: 'bad_signature', message: expect.stringMatching(/^task \d+ is not the one the task list signs at its place$/) });
    const [stopped] = replicasOf(c, endless);
    expect(JSON.parse(stopped!.error!)).toMatchObject({ code: 'cpu_limit' });
    // Nothing of the worker's global (the Function constructors evaluate strict code in the
    // compartment: `this` is undefined), no imports, no clock or ambient randomness, frozen prototypes.
    const undef = Object.fromEntries(['fetch', 'XMLHttpRequest', 'WebSocket', 'indexedDB', 'postMessage', 'importScripts', 'self', 'setTimeout', 'Worker'].map((k) => [k, 'undefined']));
    const threw = Object.fromEntries(['Function', 'AsyncFunction', 'import', 'Date.now', 'Math.random', 'prototype'].map((k) => [k, 'threw']));
    expect(JSON.parse(replicasOf(c, escape)[0]!.output!)).toEqual({ ...undef, ...threw });
    await page.waitForFunction(`document.querySelector('#stat-errors').textContent === '2'`, null, { timeout: 10_000 });
    expect(await page.textContent('#activity')).toMatch(/Refused task \d+ \(bad_signature\)/);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  // Four app versions: every task here gets a fresh worker (a worker runs one version's tasks),
  // so what a task leaves behind dies with its worker. One version's tasks on one worker: below.
  it('lets nothing a task leaves behind reach the next; shows apps UTC only; reports name no file of the machine', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'privacy' });
    const leftover = await submit(c, (await addApp(c, projectId, 'leftover', COMPILE_CHAIN_APP)), [{ n: 1 }], ONE_REPLICA);
    const innocent = await submit(c, (await addApp(c, projectId, 'innocent', INNOCENT_APP)), [{ n: 1 }], ONE_REPLICA);
    const clock = await submit(
      c,
      (await addApp(c, projectId, 'clock', `export default async () => {
  const d = new Date(Date.UTC(2020, 6, 1, 12, 30, 15));
  return [d.getTimezoneOffset(), d.getHours(), String(d), d.toLocaleString(), new Date(2020, 6, 1).getTime(), Date.parse('2020-07-01T12:00'), typeof Intl];
};`)),
      [{ n: 1 }],
      ONE_REPLICA,
    );
    const thrower = await submit(c, (await addApp(c, projectId, 'thrower', `export default async (input, ctx) => {\n  await ctx.file('missing.bin');\n};`)), [{ n: 1 }], ONE_REPLICA);

    // One core, in a time zone far from UTC; a task may compute for 3 s.
    const page = await openPage({ cores: 1, maxTaskMinutes: 0.05 }, { timezoneId: 'America/New_York' });
    expect(await page.evaluate('new Date(Date.UTC(2020, 6, 1)).getTimezoneOffset()')).toBe(240);
    await start(page);
    await waitFor('all four work units over', () => [leftover, innocent, clock, thrower].every((b) => replicasOf(c, b)[0]?.status === 'over'), 45_000);

    const [left] = replicasOf(c, leftover);
    const [inn] = replicasOf(c, innocent);
    expect(JSON.parse(left!.output!)).toBe('left a compilation behind');
    expect(JSON.parse(inn!.output!)).toBe('innocent');
    const cpu = readDb(c, (db) => db.prepare('SELECT cpu_time_ms AS cpu FROM replicas WHERE id = ?').get(inn!.id)) as { cpu: number };
    expect(cpu.cpu).toBeLessThan(1_500); // its own computing only, not seconds of the leftover's

    expect(JSON.parse(replicasOf(c, clock)[0]!.output!)).toEqual([
      0,
      12,
      'Wed Jul 01 2020 12:30:15 GMT+0000 (Coordinated Universal Time)',
      'Wed Jul 01 2020 12:30:15 GMT+0000 (Coordinated Universal Time)',
      Date.UTC(2020, 6, 1),
      Date.UTC(2020, 6, 1, 12),
      'undefined',
    ]);
    const error = JSON.parse(replicasOf(c, thrower)[0]!.error!) as { code: string; message: string };
    expect(error).toEqual({ code: 'app_exception', message: expect.stringMatching(/^Error: this app version has no file "missing.bin" \(at default \(app:main\.js:2:\d+\)\)$/) });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('runs consecutive tasks of one app version on one worker, each in a fresh compartment, another version on a fresh worker, and logs nothing to the console', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'reuse' });
    const inputs = [1, 2, 3, 4, 5, 6].map((n) => ({ n }));
    const first = await submit(c, (await addApp(c, projectId, 'reused', REUSED_APP)), inputs, ONE_REPLICA);
    // Another app version, whose tasks come after those (higher work unit ids: fetched later).
    const second = await submit(c, (await addApp(c, projectId, 'reused-too', `${REUSED_APP}\n// another version`)), inputs.slice(0, 2), ONE_REPLICA);

    const page = await openPage({ cores: 1 });
    await start(page);
    await waitFor('every work unit done', () => countDone(c, first) === 6 && countDone(c, second) === 2, 30_000);

    for (const [batch, n] of [[first, 6], [second, 2]]) {
      const outputs = replicasOf(c, batch!).map((r) => JSON.parse(r.output!) as { n: number }).sort((x, y) => x.n - y.n);
      expect(outputs).toEqual(inputs.slice(0, n).map(({ n }) => ({ n, before: 'undefined', later: [], unpermitted: [] })));
      const cpu = readDb(c, (db) => db.prepare(`SELECT r.cpu_time_ms AS cpu FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?`).all(batch)) as { cpu: number }[];
      for (const { cpu: ms } of cpu) expect(ms).toBeLessThan(1_500);
    }
    // One worker replaced in eight tasks, where the version changed: the page's first worker
    // ran the six of the first version, the second the two of the other.
    expect(await workerRow(page)).toEqual({ sandbox: 2, tasks: 2, state: 'idle' });
    expect(await page.textContent('#activity')).not.toMatch(/sandbox was replaced/);
    // The page's console and its workers': SES used to warn twice as each worker locked down.
    expect(consoleMessages).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('replaces a worker whose task left work going on or ran past its time; the tasks after it compute alone', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'leftovers' });
    const modes = ['compile', 'microtasks', 'endless', 'innocent', 'innocent', 'innocent'];
    // The three that end a worker have the lowest work unit ids, so the page fetches them first
    // (two at a time, the next when one is over): the innocent ones run after at least two of them.
    const batch = await submit(c, (await addApp(c, projectId, 'mixed', MIXED_APP)), modes.map((mode) => ({ mode })), ONE_REPLICA);

    // One core; a task may compute for 3 s.
    const page = await openPage({ cores: 1, maxTaskMinutes: 0.05 });
    // Caught as they appear: the activity list keeps only its latest lines.
    const notes = ['left a WebAssembly compilation running', 'kept computing', 'failed: cpu_limit'].map(async (text) => (await activityLine(page, text)));
    void Promise.allSettled(notes); // awaited below, unless an assertion fails first
    await start(page);
    await waitFor('every work unit over', () => replicasOf(c, batch).filter((r) => r.status === 'over').length === modes.length, 45_000);

    const replicas = replicasOf(c, batch);
    const byMode = (mode: string) => replicas.filter((r) => r.wu === replicas[0]!.wu + modes.indexOf(mode));
    const [compile] = byMode('compile');
    const [microtasks] = byMode('microtasks');
    const [endless] = byMode('endless');
    expect(JSON.parse(compile!.output!)).toBe('left a compilation behind');
    expect(JSON.parse(microtasks!.output!)).toBe('left a promise loop behind');
    expect(JSON.parse(endless!.error!)).toMatchObject({ code: 'cpu_limit' });
    const innocent = replicas.filter((r) => r.wu >= replicas[0]!.wu + 3);
    expect(innocent).toHaveLength(3);
    for (const r of innocent) {
      // Nothing of the tasks before: not their global, not their computing (seconds of it).
      expect(JSON.parse(r.output!)).toEqual(['innocent', 'undefined']);
      const { cpu } = readDb(c, (db) => db.prepare('SELECT cpu_time_ms AS cpu FROM replicas WHERE id = ?').get(r.id)) as { cpu: number };
      expect(cpu).toBeLessThan(1_500);
    }

    // Each of the three ended its worker, whatever their order; the innocent tasks never do:
    // the fourth worker ran what came after the last of them, and is kept.
    const row = await workerRow(page);
    expect(row.sandbox).toBe(4);
    expect(row.tasks).toBeGreaterThanOrEqual(1);
    expect(await Promise.all(notes)).toEqual([
      `Task ${compile!.taskId} left a WebAssembly compilation running after it ended; its sandbox was replaced.`,
      `Task ${microtasks!.taskId} kept computing after it ended; its sandbox was replaced.`,
      `Task ${endless!.taskId} (mixed) failed: cpu_limit.`,
    ]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('keeps its app cache in IndexedDB within its storage setting, and stops an app that checkpoints without bound', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'storage' });
    const KB = 1024;
    // Four apps, each with a 400 KB file, each given a 300 KB input (inputs over 256 KiB travel as files).
    const batches: number[] = [];
    for (let i = 0; i < 4; i++) {
      const app = await c.apps.createApp(projectId, { name: `app-${i}` });
      await c.apps.addVersion(app.id, {
        files: [
          { name: 'main.js', bytes: new TextEncoder().encode(`export default async (input, ctx) => (await ctx.file('pad.bin')).length + input.pad.length;`) },
          { name: 'pad.bin', bytes: new Uint8Array(400 * KB).fill(i + 1) },
        ],
      });
      batches.push((await submit(c, app.id, [{ pad: String(i).repeat(300 * KB) }], ONE_REPLICA)));
    }
    const flood = await submit(c, (await addApp(c, projectId, 'flood', `export default async (input, ctx) => { for (let i = 0; ; i++) await ctx.checkpoint({ i, pad: 'x'.repeat(100000) }); };`)), [{ n: 1 }], ONE_REPLICA);

    const page = await openPage({ cores: 1, maxDiskMb: 1, maxCheckpointTotalMb: 1 });
    await start(page);
    await waitFor('every work unit over', () => [...batches, flood].every((b) => replicasOf(c, b)[0]?.status === 'over'), 45_000);
    for (const b of batches) expect(JSON.parse(replicasOf(c, b)[0]!.output!)).toBe(700 * KB);
    expect(JSON.parse(replicasOf(c, flood)[0]!.error!)).toMatchObject({ code: 'checkpoint_limit', message: expect.stringMatching(/over the volunteer's limit of 1048576 bytes for one task/) });

    const sizes = (await page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open('volunteer-grid');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction(['files', 'appVersions']);
        const files = tx.objectStore('files').getAll();
        const versions = tx.objectStore('appVersions').getAll();
        tx.oncomplete = () => resolve([...files.result.map((b) => b.length), ...versions.result.map((v) => JSON.stringify(v).length)]);
      };
    })`)) as number[];
    expect(sizes.length).toBeGreaterThan(0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1024 * KB);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('holds a task at its checkpoint while paused, keeps to the CPU duty cycle, and stops an app that waits forever', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'gentle' });
    const slow = await submit(c, (await addApp(c, projectId, 'slow', SLOW_APP)), [{ steps: 60, work: 4_000_000 }], ONE_REPLICA);
    const stalled = await submit(c, (await addApp(c, projectId, 'stuck', 'export default async () => new Promise(() => {});')), [{ n: 1 }], ONE_REPLICA);

    const page = await openPage({ cores: 2, dutyPercent: 50 });
    await start(page);
    const slowRow = `[...document.querySelectorAll('#workers .worker')].find((li) => li.querySelector('.worker-title').textContent.includes('slow'))`;
    await page.waitForFunction(`${slowRow}?.querySelector('progress').value > 0.2`, null, { timeout: 20_000 });
    await page.click('#toggle'); // Pause
    await page.waitForFunction(`${slowRow}?.dataset.state === 'paused'`, null, { timeout: 5_000 });
    const held = await page.evaluate(`${slowRow}.querySelector('progress').value`);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await page.evaluate(`${slowRow}.querySelector('progress').value`)).toBe(held);
    expect(await page.textContent('#status')).toMatch(/^Paused/);
    await page.click('#toggle'); // Resume
    await waitFor('both work units over', () => countDone(c, slow) === 1 && replicasOf(c, stalled)[0]?.status === 'over', 30_000);

    const [result] = replicasOf(c, slow);
    expect(JSON.parse(result!.output!)).toMatchObject({ steps: 60, resumes: [] }); // held, never restarted
    const { cpu, elapsed } = readDb(c, (db) => db.prepare('SELECT cpu_time_ms AS cpu, elapsed_ms AS elapsed FROM replicas WHERE id = ?').get(result!.id)) as { cpu: number; elapsed: number };
    // Computing half the time, plus the pause: rests and pauses are not counted as computing.
    expect(elapsed).toBeGreaterThan(1.8 * cpu + 1_000);
    expect(JSON.parse(replicasOf(c, stalled)[0]!.error!)).toMatchObject({ code: 'app_stalled' });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('hands back its tasks when the tab closes; the rest are reissued within the grace period', async () => {
    const graceMs = 3_000;
    coordinator = await startTestCoordinator({ disconnectGraceMs: graceMs });
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'churn' });
    const batch = await submit(c, (await addApp(c, projectId, 'slow', SLOW_APP)), [{ steps: 40, work: 4_000_000 }, { steps: 40, work: 4_000_000 }], {
      ...ONE_REPLICA,
      maxTotalResults: 2, // the tab's "no reply" counts as one
    });

    // One core: one task runs (and checkpoints), the other waits, fetched ahead.
    const page = await openPage({ cores: 1 });
    await start(page);
    await progressPast(page, 0.1);
    const held = replicasOf(c, batch);
    expect(held.map((r) => [r.status, r.kind])).toEqual([['in_progress', 'browser'], ['in_progress', 'browser']]);

    await page.close({ runBeforeUnload: true });
    // The waiting task went back at once ("abandoned", said by the tab); the running one, with
    // its checkpoint, after the grace ("no reply" long before its deadline of a day).
    await waitFor('a task handed back', () => replicasOf(c, batch).some((r) => r.outcome === 'abandoned'), 15_000);
    await waitFor('every task of the tab reissued', () => replicasOf(c, batch).filter((r) => r.kind === 'browser').every((r) => r.status === 'over'), graceMs + 15_000);
    expect(replicasOf(c, batch).filter((r) => r.kind === 'browser').map((r) => r.outcome).sort()).toEqual(['abandoned', 'no_reply']);

    // Another volunteer gets both and finishes them.
    const dir = mkdtempSync(join(tmpdir(), 'vg-web-node-'));
    dirs.push(dir);
    volunteer = VolunteerProcess.start(c.url, dir);
    await waitFor('both work units done elsewhere', () => countDone(c, batch) === 2, 30_000);
    expect(replicasOf(c, batch).filter((r) => r.outcome === 'success').map((r) => r.kind)).toEqual(['node', 'node']);
  }, 60_000);
});
