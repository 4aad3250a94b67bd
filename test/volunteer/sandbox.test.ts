// The Node volunteer's sandbox, driven through a real SandboxPool (worker threads, SES,
// CPU/memory/stall limits) with app sources written inline. Every hostile app must end as a
// failure (or prove from inside that the capability it tried to use was absent), and after each
// one the same pool must still run an ordinary app correctly: the daemon keeps working.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../app-runtime/prng.js';
import { createLogger } from '../../common/log.js';
import { canonicalJson } from '../../protocol/canonical.js';
import type { RunJob } from '../../volunteer-node/sandbox/messages.js';
import { SandboxPool, type Finished, type TaskEvents } from '../../volunteer-node/sandbox/sandbox-pool.js';
import { COMPILE_CHAIN_APP, INNOCENT_APP, INSTANTIATE_START_APP, WASM_BUILDER } from '../helpers/leftover-apps.js';

const THREADS = 2;
const MAX_MEMORY_MB = 128;
const MAX_CPU_MS = 1500;
const SEED = '5eed'.repeat(16);
const OTHER_SEED = 'c0ffee00'.repeat(8);

const encoder = new TextEncoder();
let nextTaskId = 1;

function newPool(options: { threads?: number; log?: string[] } = {}): SandboxPool {
  const log = options.log ? createLogger('debug', (line) => void options.log!.push((JSON.parse(line) as { msg: string }).msg)) : createLogger('silent');
  return new SandboxPool({ threads: options.threads ?? THREADS, maxMemoryMb: MAX_MEMORY_MB, maxCpuMs: MAX_CPU_MS, log });
}

interface JobOptions {
  input?: unknown;
  rngSeed?: string;
  resume?: string;
  checkpointLimits?: RunJob['checkpointLimits'];
  /** More files of the app version besides main.js. */
  files?: Record<string, string>;
  taskId?: number;
}

function makeJob(main: string, o: JobOptions = {}): RunJob {
  const files: [string, Uint8Array][] = [['main.js', encoder.encode(main)]];
  for (const [name, text] of Object.entries(o.files ?? {})) files.push([name, encoder.encode(text)]);
  return {
    type: 'run',
    taskId: o.taskId ?? nextTaskId++,
    entry: 'main.js',
    files,
    input: o.input ?? null,
    rngSeed: o.rngSeed ?? SEED,
    ...(o.resume === undefined ? {} : { resume: o.resume }),
    ...(o.checkpointLimits === undefined ? {} : { checkpointLimits: o.checkpointLimits }),
  };
}

/** Events that record everything the task reports. */
function recorder(onCheckpoint: (stateJson: string) => Promise<void> = async () => {}) {
  const progress: number[] = [];
  const checkpoints: string[] = [];
  const logs: [level: string, text: string][] = [];
  const events: TaskEvents = {
    progress: (f) => progress.push(f),
    checkpoint: async (json) => {
      checkpoints.push(json);
      await onCheckpoint(json);
    },
    log: (level, text) => logs.push([level, text]),
  };
  return { progress, checkpoints, logs, events };
}

async function run(pool: SandboxPool, main: string, o: JobOptions = {}, rec = recorder()) {
  const finished = await pool.run(makeJob(main, o), rec.events);
  return { ...finished, ...rec };
}

const failure = (code: string, message: RegExp | string) => ({ ok: false, code, message: typeof message === 'string' ? message : expect.stringMatching(message) });
const success = (output: unknown) => ({ ok: true, outputJson: canonicalJson(output) });

// An ordinary app, run after every hostile one. It also checks that nothing the hostile app did
// to the shared intrinsics is visible: `{}` has no `polluted` and Array.prototype.push works.
const NORMAL_APP = `
export default async function run(input, ctx) {
  const list = [];
  list.push(input.a, input.b);
  return { sum: list[0] + list[1], length: list.length, polluted: 'polluted' in {}, r: ctx.random() };
}`;
const NORMAL_OUTPUT = { sum: 5, length: 2, polluted: false, r: seededRandom(SEED)() };

async function expectPoolStillWorks(pool: SandboxPool): Promise<void> {
  const f = await run(pool, NORMAL_APP, { input: { a: 2, b: 3 } });
  expect(f.outcome).toEqual(success(NORMAL_OUTPUT));
  await waitIdle(pool);
}

/** A worker is free again once it confirms nothing of its last task is left running. */
async function waitIdle(pool: SandboxPool): Promise<void> {
  const until = Date.now() + 3000;
  while (pool.idle !== pool.options.threads && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  expect(pool.idle).toBe(pool.options.threads);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('escape attempts: each fails, and the pool keeps working', () => {
  let pool: SandboxPool;
  let keyDir: string;
  let keyFile: string;
  let keyText: string;
  const seedHex = randomBytes(32).toString('hex');
  const publicKeyHex = randomBytes(32).toString('hex');

  beforeAll(async () => {
    pool = newPool();
    keyDir = mkdtempSync(join(tmpdir(), 'vg-sandbox-key-'));
    keyFile = join(keyDir, 'host-key.json');
    keyText = JSON.stringify({ publicKey: publicKeyHex, seed: seedHex, createdAt: new Date().toISOString() }, null, 2);
    writeFileSync(keyFile, keyText, { mode: 0o600 });
    await expectPoolStillWorks(pool); // workers booted before the timed tests
  });

  afterAll(async () => {
    await pool.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('runs an ordinary app (the control)', async () => {
    const f = await run(pool, NORMAL_APP, { input: { a: 2, b: 3 } });
    expect(f.outcome).toEqual(success(NORMAL_OUTPUT));
    expect(f.cpuTimeMs).toBeGreaterThanOrEqual(0);
    expect(f.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it("refuses a static import of a Node module (`import fs from 'fs'`)", async () => {
    const f = await run(pool, `import fs from 'fs';\nexport default async () => fs.readFileSync('/etc/passwd', 'utf8');`);
    expect(f.outcome).toEqual(failure('app_load_failed', /app code may import only its own files, as "\.\/name\.js"; "fs" is not one/));
    await expectPoolStillWorks(pool);
  });

  it("refuses a static import of a host module even beside the app's own modules", async () => {
    const f = await run(pool, `import { x } from './util.js';\nexport default async () => x;`, {
      files: { 'util.js': `import cp from 'node:child_process';\nexport const x = typeof cp;` },
    });
    expect(f.outcome).toEqual(failure('app_load_failed', /"node:child_process" is not one/));
    await expectPoolStillWorks(pool);
  });

  it("refuses a dynamic import (`await import('node:child_process')`)", async () => {
    const f = await run(pool, `export default async () => { const cp = await import('node:child_process'); return typeof cp.execSync; };`);
    expect(f.outcome).toEqual(failure('app_exception', /"node:child_process" is not one/));
    await expectPoolStillWorks(pool);
  });

  it('has no require', async () => {
    const f = await run(pool, `export default async () => require('fs').readFileSync('/etc/passwd', 'utf8');`);
    expect(f.outcome).toEqual(failure('app_exception', /^TypeError: require is not a function/));
    await expectPoolStillWorks(pool);
  });

  it('has no process: process.exit(1) fails the task, not the worker', async () => {
    const f = await run(pool, `export default async () => { process.exit(1); return 'still here'; };`);
    expect(f.outcome).toEqual(failure('app_exception', /^TypeError: Cannot read properties of undefined \(reading 'exit'\)/));
    await waitIdle(pool);
    await expectPoolStillWorks(pool);
    // and both workers are still alive: two tasks at once both complete
    const both = await Promise.all([run(pool, NORMAL_APP, { input: { a: 2, b: 3 } }), run(pool, NORMAL_APP, { input: { a: 2, b: 3 } })]);
    for (const b of both) expect(b.outcome).toEqual(success(NORMAL_OUTPUT));
  });

  it('has no network: fetch, XMLHttpRequest and WebSocket are absent', async () => {
    const f = await run(pool, `export default async () => fetch('http://127.0.0.1:1/');`);
    expect(f.outcome).toEqual(failure('app_exception', /^TypeError: fetch is not a function/));
    await expectPoolStillWorks(pool);
    const g = await run(pool, `export default async () => [typeof fetch, typeof XMLHttpRequest, typeof WebSocket, typeof navigator];`);
    expect(g.outcome).toEqual(success(['undefined', 'undefined', 'undefined', 'undefined']));
    await expectPoolStillWorks(pool);
  });

  it('finds nothing of the host through globalThis, its prototype or `this`', async () => {
    const f = await run(
      pool,
      `const moduleThis = typeof this;
export default async function run(input, ctx) {
  const names = Object.getOwnPropertyNames(globalThis);
  const host = ['process', 'require', 'module', 'exports', 'Buffer', 'global', 'fetch', 'setTimeout', 'setInterval',
    'setImmediate', 'queueMicrotask', 'structuredClone', 'performance', 'SharedArrayBuffer', 'Atomics', 'WeakRef',
    'FinalizationRegistry', 'Worker', 'postMessage', 'close', 'importScripts', '__dirname', '__filename'];
  const chain = [];
  for (let p = Object.getPrototypeOf(globalThis); p !== null; p = Object.getPrototypeOf(p)) chain.push(p === Object.prototype ? 'Object.prototype' : 'other');
  return {
    moduleThis,
    runThis: this === undefined ? 'undefined' : typeof this,
    globalProcess: typeof globalThis.process,
    hostNamesPresent: host.filter((n) => names.includes(n) || n in globalThis),
    prototypeChain: chain,
    functionThis: Function('return typeof this')(),
    functionProcess: Function('return typeof process')(),
    indirectEvalIsOwnGlobal: (0, eval)('globalThis') === globalThis,
    globalFromCtx: typeof ctx.random.call(undefined),
  };
}`,
    );
    expect(f.outcome).toEqual(
      success({
        moduleThis: 'undefined',
        runThis: 'undefined',
        globalProcess: 'undefined',
        hostNamesPresent: [],
        prototypeChain: ['Object.prototype'],
        functionThis: 'undefined',
        functionProcess: 'undefined',
        indirectEvalIsOwnGlobal: true,
        globalFromCtx: 'number',
      }),
    );
    await expectPoolStillWorks(pool);
  });

  it('cannot pollute Object.prototype; the next task sees a clean {}', async () => {
    const f = await run(pool, `export default async () => { Object.prototype.polluted = 1; return 'polluted'; };`);
    expect(f.outcome).toEqual(failure('app_exception', /^TypeError: Cannot add property polluted, object is not extensible/));
    await expectPoolStillWorks(pool); // NORMAL_APP checks 'polluted' in {} === false
  });

  it('cannot replace Array.prototype.push; the next task pushes normally', async () => {
    const f = await run(pool, `export default async () => { Array.prototype.push = function () { return 0; }; return 'replaced'; };`);
    expect(f.outcome).toEqual(failure('app_exception', /^TypeError: Cannot assign to read only property 'push'/));
    await expectPoolStillWorks(pool); // NORMAL_APP pushes two items and checks the length
  });

  it('cannot change any shared prototype, not even through host objects (input, ctx)', async () => {
    const f = await run(
      pool,
      `export default async function run(input, ctx) {
  const attempts = {
    defineProperty: () => Object.defineProperty(Object.prototype, 'polluted', { value: 1 }),
    setPrototypeOf: () => Object.setPrototypeOf(Array.prototype, null),
    viaInput: () => { Object.getPrototypeOf(input).polluted = 1; },
    viaInputProto: () => { input.__proto__.polluted = 1; },
    viaCtxFunction: () => { Object.getPrototypeOf(ctx.random).call = null; },
    viaPromise: () => { Promise.prototype.then = null; },
    viaJSON: () => { JSON.parse = () => 1; },
    replaceCtxRandom: () => { ctx.random = () => 0.5; },
    deleteMathSqrt: () => { delete Math.sqrt; },
  };
  const result = {};
  for (const [name, attempt] of Object.entries(attempts)) {
    try { attempt(); result[name] = 'succeeded'; } catch (e) { result[name] = e.name; }
  }
  return result;
}`,
      { input: { x: 1 } },
    );
    const all = ['defineProperty', 'setPrototypeOf', 'viaInput', 'viaInputProto', 'viaCtxFunction', 'viaPromise', 'viaJSON', 'replaceCtxRandom', 'deleteMathSqrt'];
    expect(f.outcome).toEqual(success(Object.fromEntries(all.map((n) => [n, 'TypeError']))));
    await expectPoolStillWorks(pool);
  });

  // Regression: SharedArrayBuffer is not a global of the compartment, but
  // `new WebAssembly.Memory({ shared: true, ... }).buffer.constructor` reaches the worker's,
  // which lockdown used not to harden: one task could leave state on it (or replace `slice`)
  // for every later task on that worker.
  it('a task cannot leave state on SharedArrayBuffer (reached through shared WebAssembly memory) for later tasks', async () => {
    const sharedBufferClass = `new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer.constructor`;
    const write = `export default async () => {
  const SAB = ${sharedBufferClass};
  const tried = [];
  try { SAB.prototype.leftBehind = 'by an earlier task'; tried.push('wrote'); } catch (e) { tried.push(e.name); }
  try { SAB.leftBehind = 'by an earlier task'; tried.push('wrote'); } catch (e) { tried.push(e.name); }
  return tried;
};`;
    // on both workers at once
    const writers = await Promise.all([run(pool, write), run(pool, write)]);
    const read = await run(pool, `export default async () => { const SAB = ${sharedBufferClass}; return [typeof SAB.prototype.leftBehind, typeof SAB.leftBehind]; };`);
    expect(read.outcome).toEqual(success(['undefined', 'undefined']));
    for (const w of writers) expect(w.outcome).toEqual(success(['TypeError', 'TypeError']));
  });

  it('gets no working Function constructor, from its own functions or from ctx functions', async () => {
    const f = await run(
      pool,
      `export default async function run(input, ctx) {
  const attempts = {
    asyncFunction: () => (async () => {}).constructor('return process')(),
    arrowConstructorConstructor: () => (() => {}).constructor.constructor('return this')(),
    generatorFunction: () => (function* () {}).constructor('return process')().next().value,
    asyncGeneratorFunction: () => (async function* () {}).constructor('return process')(),
    ctxFileConstructor: () => ctx.file.constructor('return process')(),
    ctxRandomConstructor: () => ctx.random.constructor('return process')(),
    ctxFileConstructorConstructor: () => ctx.file.constructor.constructor('return process')(),
    ctxCheckpointPrototype: () => Object.getPrototypeOf(ctx.checkpoint).constructor('return process')(),
    reflectConstruct: () => Reflect.construct(ctx.progress.constructor, ['return process'])(),
  };
  const result = {};
  for (const [name, attempt] of Object.entries(attempts)) {
    try { const v = attempt(); result[name] = 'returned ' + typeof v; } catch (e) { result[name] = e.name + ': ' + e.message; }
  }
  // The compartment's own Function works, but only over the compartment's globals.
  result.compartmentFunction = Function('return typeof process + "/" + typeof this')();
  return result;
}`,
    );
    const tamed = 'TypeError: Function.prototype.constructor is not a valid constructor.';
    expect(f.outcome).toEqual(
      success({
        asyncFunction: tamed,
        arrowConstructorConstructor: tamed,
        generatorFunction: tamed,
        asyncGeneratorFunction: tamed,
        ctxFileConstructor: tamed,
        ctxRandomConstructor: tamed,
        ctxFileConstructorConstructor: tamed,
        ctxCheckpointPrototype: tamed,
        reflectConstruct: tamed,
        compartmentFunction: 'undefined/undefined',
      }),
    );
    await expectPoolStillWorks(pool);
  });

  it("rejects a module with a direct eval, and indirect eval sees only the compartment's globals", async () => {
    const direct = await run(pool, `export default async () => eval('process');`);
    expect(direct.outcome).toEqual(failure('app_load_failed', /SES_EVAL_REJECTED/));
    await expectPoolStillWorks(pool);

    const indirect = await run(
      pool,
      `export default async () => {
  const ev = eval;
  return [(0, eval)('typeof process'), ev('typeof require'), ev('typeof globalThis.process'), (0, eval)('this') === globalThis];
};`,
    );
    expect(indirect.outcome).toEqual(success(['undefined', 'undefined', 'undefined', true]));
    await expectPoolStillWorks(pool);
  });

  it('cannot hook host stack traces (Error.prepareStackTrace / stackTraceLimit)', async () => {
    const f = await run(
      pool,
      `export default async (input, ctx) => {
  let calls = 0;
  Error.prepareStackTrace = (error, sites) => { calls++; return sites.map((s) => typeof s.getThis); };
  Error.stackTraceLimit = 1000;
  let hostError = 'none';
  try { await ctx.file('missing.bin'); } catch (e) { hostError = typeof e.stack; }
  const own = new Error('mine');
  void own.stack;
  return { calls, hostError, stackTraceLimit: typeof Error.stackTraceLimit };
};`,
    );
    expect(f.outcome).toEqual(success({ calls: 0, hostError: 'string', stackTraceLimit: 'undefined' }));
    await expectPoolStillWorks(pool);
  });

  it("never reads the daemon's key file, by any route", async () => {
    const keyUrl = pathToFileURL(keyFile).href;
    const outcomes: Finished['outcome'][] = [];
    const texts: string[] = [];
    const attempt = async (main: string) => {
      const f = await run(pool, main, { input: { path: keyFile, url: keyUrl } });
      outcomes.push(f.outcome);
      texts.push(JSON.stringify(f.outcome), JSON.stringify(f.logs), JSON.stringify(f.checkpoints));
      await expectPoolStillWorks(pool);
      return f;
    };

    // Static imports: the whole app fails to load.
    for (const specifier of [keyFile, keyUrl, '../host-key.json', `./../${'host-key.json'}`]) {
      const f = await attempt(`import key from ${JSON.stringify(specifier)} with { type: 'json' };\nexport default async () => key;`);
      expect(f.outcome).toEqual(failure('app_load_failed', /app code may import only its own files/));
      const g = await attempt(`import key from ${JSON.stringify(specifier)};\nexport default async () => key;`);
      expect(g.outcome).toEqual(failure('app_load_failed', /app code may import only its own files/));
    }

    // Everything else, from inside one app that reports what each route gave it.
    const f = await attempt(`
export default async function run({ path, url }, ctx) {
  const routes = {
    importPath: () => import(path),
    importUrl: () => import(url),
    importRelative: () => import('../host-key.json'),
    importDotRelative: () => import('./host-key.json'),
    nestedCompartment: () => new Compartment().import(path),
    nestedCompartmentHooks: () => new Compartment({ __options__: true, resolveHook: (s) => s, importHook: async (s) => { throw new Error('nothing to load ' + s); } }).import(path),
    fetchFileUrl: () => fetch(url),
    fileParent: () => ctx.file('../host-key.json'),
    fileAbsolute: () => ctx.file(path),
    fileUrl: () => ctx.file(url),
    fileName: () => ctx.file('host-key.json'),
    fileProcCwd: () => ctx.file('/proc/self/cwd/host-key.json'),
    fileStringObject: () => ctx.file(new String(path)),
    fileToString: () => ctx.file({ toString: () => path }),
    fileArray: () => ctx.file([path]),
  };
  const result = {};
  for (const [name, route] of Object.entries(routes)) {
    try {
      const got = await route();
      result[name] = 'GOT ' + (got instanceof Uint8Array ? new TextDecoder().decode(got) : JSON.stringify(got));
    } catch (e) {
      result[name] = 'refused: ' + e.message;
    }
  }
  return result;
}`);
    expect(f.outcome.ok).toBe(true);
    const result = JSON.parse((f.outcome as { outputJson: string }).outputJson) as Record<string, string>;
    expect(Object.keys(result)).toHaveLength(15);
    for (const [route, text] of Object.entries(result)) {
      expect(text, route).toMatch(/^refused: /);
      if (route.startsWith('import')) expect(text, route).toMatch(/app code may import only its own files/);
      if (route.startsWith('file')) expect(text, route).toMatch(/this app version has no file/);
    }
    expect(result.fetchFileUrl).toBe('refused: fetch is not a function');

    // The key's bytes never appear, in any encoding, in anything the apps returned or logged.
    const all = texts.join('\n');
    const keyBytes = encoder.encode(keyText);
    for (const secret of [
      seedHex,
      publicKeyHex,
      Buffer.from(seedHex, 'hex').toString('base64'),
      Buffer.from(keyText).toString('base64').slice(0, 40),
      Array.from(keyBytes.slice(0, 40)).join(','),
      seedHex.slice(0, 16),
    ]) {
      expect(all).not.toContain(secret);
    }
    expect(outcomes.length).toBeGreaterThan(8);
  });

  it("learns nothing of where the volunteer installed the program, from any stack; reports name the app's frame", async () => {
    const f = await run(
      pool,
      `import { fail } from './util.js';
export default async function run(input, ctx) {
  const stacks = { own: new Error('mine').stack, imported: '', host: '', json: '', evalled: (0, eval)('new Error("e").stack'), fn: Function('return new Error("f").stack')() };
  try { fail(); } catch (e) { stacks.imported = e.stack; }
  try { await ctx.file('missing.bin'); } catch (e) { stacks.host = e.stack; }
  try { await ctx.checkpoint({ f: () => 1 }); } catch (e) { stacks.json = e.stack; }
  return stacks;
}`,
      { files: { 'util.js': `export function fail() {\n  throw new TypeError('from util');\n}` } },
    );
    expect(f.outcome.ok).toBe(true);
    const stacks = JSON.parse((f.outcome as { outputJson: string }).outputJson) as Record<string, string>;
    const root = new URL('../..', import.meta.url);
    for (const [name, stack] of Object.entries(stacks)) {
      for (const where of ['file:', root.pathname, '/node_modules/', tmpdir()]) expect(stack, name).not.toContain(where);
    }
    expect(stacks.own).toMatch(/^Error: mine\n {2}at run \(app:main\.js:3:\d+\)/);
    expect(stacks.imported).toMatch(/^TypeError: from util\n {2}at fail \(app:util\.js:2:\d+\)\n {2}at run \(app:main\.js:4:\d+\)/);
    expect(stacks.host).toMatch(/^Error: this app version has no file "missing.bin"\n/);
    expect(stacks.host).toMatch(/at run \(app:main\.js:5:\d+\)/);

    // A failure the host raised is reported at the app's line that caused it.
    const g = await run(pool, `export default async (input, ctx) => {\n  await ctx.file('missing.bin');\n};`);
    expect(g.outcome).toEqual(failure('app_exception', /^Error: this app version has no file "missing.bin" \(at default \(app:main\.js:2:\d+\)\)$/));
    await expectPoolStillWorks(pool);
  });

  it('has no clock or ambient randomness: Date.now(), new Date() and Math.random() throw', async () => {
    for (const [expr, message] of [
      ['Date.now()', /%SharedDate%\.now\(\) throws/],
      ['new Date().getTime()', /new %SharedDate%\(\) with no arguments throws/],
      ['Date()', /%SharedDate% constructor as a function throws/],
      ['Math.random()', /%SharedMath%\.random\(\) throws/],
    ] as const) {
      const f = await run(pool, `export default async () => ${expr};`);
      expect(f.outcome, expr).toEqual(failure('app_exception', message));
      await expectPoolStillWorks(pool);
    }
    // A fixed date is fine: it is deterministic.
    const f = await run(pool, `export default async () => new Date(0).toISOString();`);
    expect(f.outcome).toEqual(success('1970-01-01T00:00:00.000Z'));
  });

  it('has no timers, SharedArrayBuffer or Atomics', async () => {
    const f = await run(pool, `export default async () => { setTimeout(() => {}, 0); return 'scheduled'; };`);
    expect(f.outcome).toEqual(failure('app_exception', /^TypeError: setTimeout is not a function/));
    await expectPoolStillWorks(pool);
    const g = await run(
      pool,
      `export default async () => [typeof setTimeout, typeof setInterval, typeof setImmediate, typeof queueMicrotask, typeof SharedArrayBuffer, typeof Atomics];`,
    );
    expect(g.outcome).toEqual(success(['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined']));
    const h = await run(pool, `export default async () => Atomics.wait(new Int32Array(4), 0, 0);`);
    expect(h.outcome).toEqual(failure('app_exception', /^TypeError: Cannot read properties of undefined \(reading 'wait'\)/));
    await expectPoolStillWorks(pool);
  });

  it('stops an endless loop at the CPU limit (cpu_limit) and replaces the worker', async () => {
    const f = await run(pool, `export default async () => { for (;;) {} };`);
    expect(f.outcome).toEqual(failure('cpu_limit', `the task used more than ${MAX_CPU_MS / 1000} s of CPU time`));
    expect(f.cpuTimeMs).toBeGreaterThanOrEqual(MAX_CPU_MS);
    expect(f.elapsedMs).toBeLessThan(MAX_CPU_MS * 5); // generous: the suite may share the CPUs
    await expectPoolStillWorks(pool);
  });

  it('stops a blow-up of JS objects at the heap limit (memory_limit)', async () => {
    const f = await run(pool, `export default async () => { const keep = []; for (;;) keep.push(new Array(100000).fill(keep.length + 0.5)); };`);
    expect(f.outcome).toEqual(failure('memory_limit', `the task used more than ${MAX_MEMORY_MB} MB of heap`));
    await expectPoolStillWorks(pool);
  });

  it('ends a stack overflow as the app’s own exception', async () => {
    const f = await run(pool, `export default async () => { const down = (n) => down(n + 1) + 1; return down(0); };`);
    expect(f.outcome).toEqual(failure('app_exception', /^RangeError: Maximum call stack size exceeded/));
    await expectPoolStillWorks(pool);
  });

  it('stops a promise that can never settle (app_stalled) after about 5 s, but not a task waiting for a slow checkpoint', async () => {
    // Both at once, one on each worker: the stalled one waits for nothing, the other one waits
    // for its checkpoint to be stored, which takes longer than the stall limit.
    const [stalled, slow] = await Promise.all([
      run(pool, `export default async () => { await new Promise(() => {}); return 'never'; };`),
      run(pool, `export default async (input, ctx) => { await ctx.checkpoint({ at: 1 }); return 'after'; };`, {}, recorder(() => sleep(5600))),
    ]);
    expect(stalled.outcome).toEqual(failure('app_stalled', /can never happen/));
    expect(stalled.elapsedMs).toBeGreaterThanOrEqual(5000);
    expect(stalled.elapsedMs).toBeLessThan(15_000); // about 5 s; generous: the suite may share the CPUs
    expect(slow.outcome).toEqual(success('after'));
    expect(slow.checkpoints).toEqual(['{"at":1}']);
    expect(slow.elapsedMs).toBeGreaterThanOrEqual(5500);
    await expectPoolStillWorks(pool);
  });

  it('reports outputs that are not JSON as bad_output', async () => {
    const cases: [string, RegExp][] = [
      ['() => 1', /a value of type function at \(root\)/],
      ['NaN', /cannot encode NaN at \(root\)/],
      ['{ x: Infinity }', /cannot encode Infinity at \.x/],
      ['(() => { const o = {}; o.self = o; return o; })()', /nesting deeper than 64/],
      ['undefined', /a value of type undefined/],
      ['10n', /a value of type bigint/],
      ['new Map([[1, 2]])', /an object of class Map/],
      ['[1, , 3]', /an array hole/],
      ['Symbol("s")', /a value of type symbol/],
    ];
    for (const [expr, message] of cases) {
      const f = await run(pool, `export default async () => (${expr});`);
      expect(f.outcome, expr).toEqual(failure('bad_output', message));
    }
    await expectPoolStillWorks(pool);
  });

  it('fails to load an app whose module has no default export, or does not parse', async () => {
    const none = await run(pool, `export async function run(input, ctx) { return 1; }`);
    expect(none.outcome).toEqual(failure('app_load_failed', 'main.js must export default async function run(input, ctx)'));
    const notFunction = await run(pool, `export default 42;`);
    expect(notFunction.outcome).toEqual(failure('app_load_failed', 'main.js must export default async function run(input, ctx)'));
    const syntax = await run(pool, `export default async (input => {`);
    expect(syntax.outcome).toEqual(failure('app_load_failed', /Unexpected token/));
    const throwsAtLoad = await run(pool, `throw new Error('top level');\nexport default async () => 1;`);
    expect(throwsAtLoad.outcome).toEqual(failure('app_load_failed', /top level/));
    await expectPoolStillWorks(pool);
  });

  it('describes whatever an app throws, even a value whose description throws', async () => {
    const str = await run(pool, `export default async () => { throw 'plain string'; };`);
    expect(str.outcome).toEqual(failure('app_exception', 'threw plain string'));
    const nasty = await run(
      pool,
      `export default async () => { throw new Proxy({}, { get() { throw new Error('gotcha'); }, getPrototypeOf() { throw new Error('gotcha'); }, ownKeys() { throw new Error('gotcha'); } }); };`,
    );
    expect(nasty.outcome).toMatchObject({ ok: false, code: 'app_exception' });
    await expectPoolStillWorks(pool);
  });

  // Regression: a slot used to be free again as soon as 'done' arrived, while the worker could
  // still be spinning on a microtask loop the app left behind; the next task was posted to it,
  // never started, and ended as cpu_limit.
  it('work left behind by one app (a microtask loop) does not fail the next task', async () => {
    const f = await run(pool, `export default async () => { (async () => { for (;;) await null; })(); return 'returned'; };`);
    expect(f.outcome).toEqual(success('returned'));
    await expectPoolStillWorks(pool);
  });

  it('work left behind that yields to the event loop does not fail the next task either', async () => {
    const f = await run(
      pool,
      `export default async () => {
  const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  const burn = () => WebAssembly.compile(empty).then(() => { let x = 0; for (let i = 0; i < 2e6; i++) x += i; burn(); });
  burn();
  return 'returned';
};`,
    );
    expect(f.outcome).toEqual(success('returned'));
    await expectPoolStillWorks(pool);
    await sleep(600); // the idle watch replaces a worker that burns CPU with no task
    await expectPoolStillWorks(pool);
  });

  // Regression: an unhandled rejection used to kill the worker thread (Node's default
  // --unhandled-rejections=throw), and the next task, handed to the dying worker, ended as
  // worker_crashed.
  it("an app's unhandled rejection neither crashes its worker nor fails the next task", async () => {
    const f = await run(pool, `export default async () => { Promise.reject(new Error('ignored by the app')); return 7; };`);
    expect(f.outcome).toEqual(success(7));
    await expectPoolStillWorks(pool);
    const g = await run(pool, `export default async () => { Promise.reject(new Error('mine')); await new Promise((r) => r()); throw new Error('then mine'); };`);
    expect(g.outcome).toEqual(failure('app_exception', /then mine/));
    await expectPoolStillWorks(pool);
  });
});

describe('nothing one task leaves behind runs in, or is charged to, the next on the same worker', () => {
  let pool: SandboxPool;
  const logged: string[] = [];
  beforeAll(async () => {
    pool = newPool({ threads: 1, log: logged });
    expect((await run(pool, NORMAL_APP, { input: { a: 2, b: 3 } })).outcome).toEqual(success(NORMAL_OUTPUT));
  });
  afterAll(async () => {
    await pool.close();
  });

  /** Runs `main` and, queued right behind it on the one worker, the innocent app. */
  async function thenInnocent(main: string) {
    const slowCheckpoints = recorder(() => sleep(20));
    const [first, second] = await Promise.all([run(pool, main), run(pool, INNOCENT_APP, {}, slowCheckpoints)]);
    return { first, second };
  }

  // Regression: the compilation resumed after its task had ended; the worker said it was idle
  // in between, so the next task was posted to it and failed with cpu_limit for the burn.
  it('a chain of WebAssembly.compile calls that outlives its task', async () => {
    const { first, second } = await thenInnocent(COMPILE_CHAIN_APP);
    expect(first.outcome).toEqual(success('left a compilation behind'));
    expect(second.outcome).toEqual(success('innocent'));
    expect(second.cpuTimeMs).toBeLessThan(MAX_CPU_MS / 2);
    // The compilation could not resume the app, but it still used CPU: its worker was replaced.
    expect(logged).toContain('the last task left a compilation running; replacing its worker');
    await expectPoolStillWorks(pool);
  });

  // V8 instantiates asynchronously once compiled, calling the start function (here an app
  // function) from the event loop, whichever task is running by then.
  it('a WebAssembly.instantiate whose start function calls back into the app after its task', async () => {
    const { first, second } = await thenInnocent(INSTANTIATE_START_APP);
    expect(first.outcome).toEqual(success('left an instantiation behind'));
    expect(second.outcome).toEqual(success('innocent'));
    expect(second.cpuTimeMs).toBeLessThan(MAX_CPU_MS / 2);
    await expectPoolStillWorks(pool);
  });

  it('while its task runs, WebAssembly.compile and instantiate work as usual', async () => {
    const f = await run(pool, `${WASM_BUILDER}
export default async () => {
  let started = 0;
  const small = wasmModule(2, 3, true);
  const { module, instance } = await WebAssembly.instantiate(small, { env: { f: () => { started++; } } });
  const again = await WebAssembly.instantiate(module, { env: { f: () => { started++; } } });
  const compiled = await WebAssembly.compile(wasmModule(2, 3, false));
  const plain = await WebAssembly.instantiate(compiled);
  let linkError = '';
  try { await WebAssembly.instantiate(small, {}); } catch (e) { linkError = e.name; }
  return [started, module instanceof WebAssembly.Module, instance instanceof WebAssembly.Instance,
    again instanceof WebAssembly.Instance, plain instanceof WebAssembly.Instance, linkError];
};`);
    expect(f.outcome).toEqual(success([2, true, true, true, true, 'TypeError']));
  });
});

describe("the volunteer's time zone: the sandbox shows UTC only", () => {
  let pool: SandboxPool;
  const zone = process.env.TZ;
  beforeAll(() => {
    // Set before the workers start: a zone far from UTC, with summer time.
    process.env.TZ = 'America/New_York';
    pool = newPool({ threads: 1 });
  });
  afterAll(async () => {
    await pool.close();
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it('no method, constructor or parse reveals the zone', async () => {
    expect(new Date(Date.UTC(2020, 6, 1)).getTimezoneOffset()).toBe(240); // this process is in New York now
    const f = await run(
      pool,
      `export default async () => {
  const winter = new Date(0), summer = new Date(Date.UTC(2020, 6, 1, 12, 30, 15));
  const set = new Date(0); set.setHours(5); set.setDate(3); set.setMonth(1);
  class Sub extends Date {}
  const year = new Date(0); year.setYear(99);
  return {
    offsets: [winter.getTimezoneOffset(), summer.getTimezoneOffset()],
    parts: [summer.getFullYear(), summer.getMonth(), summer.getDate(), summer.getDay(), summer.getHours(), summer.getMinutes(), summer.getSeconds(), summer.getYear()],
    strings: [String(winter), \`\${summer}\`, summer.toDateString(), summer.toTimeString(), summer.toLocaleString(), summer.toLocaleDateString(), summer.toLocaleTimeString(), new Date(NaN).toString()],
    set: set.toISOString(),
    setYear: year.toISOString(),
    components: [new Date(2020, 6, 1, 12).getTime(), new Date(2020, 0).getTime(), new Sub(2020, 6, 1).getTime(), new (winter.constructor)(2020, 6, 1).getTime()],
    parsed: [Date.parse('2020-07-01T12:00'), Date.parse('2020-07-01T12:00:00.5'), Date.parse('2020-07-01'), Date.parse('2020-07'), Date.parse('2020-07-01T12:00Z'),
      Date.parse('2020-07-01T12:00+02:00'), Date.parse(String(summer)), Date.parse(summer.toUTCString()), Date.parse('Wed Jul 01 2020 14:30:15 GMT+0200 (CEST)')],
    constructed: [new Date('2020-07-01T12:00').getTime(), new Date({ toString: () => '2020-07-01T12:00' }).getTime(), new Date(new Date(5)).getTime(), new Date(7).getTime()],
    legacy: [Date.parse('Jul 1 2020 12:00'), Date.parse('2020/07/01'), new Date('2020-07-01 12:00').getTime()].map((t) => Number.isNaN(t)),
    intl: typeof Intl,
  };
};`,
    );
    const summer = Date.UTC(2020, 6, 1, 12, 30, 15);
    expect(f.outcome).toEqual(
      success({
        offsets: [0, 0],
        parts: [2020, 6, 1, 3, 12, 30, 15, 120],
        strings: [
          'Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)',
          'Wed Jul 01 2020 12:30:15 GMT+0000 (Coordinated Universal Time)',
          'Wed Jul 01 2020',
          '12:30:15 GMT+0000 (Coordinated Universal Time)',
          'Wed Jul 01 2020 12:30:15 GMT+0000 (Coordinated Universal Time)',
          'Wed Jul 01 2020',
          '12:30:15 GMT+0000 (Coordinated Universal Time)',
          'Invalid Date',
        ],
        set: '1970-02-03T05:00:00.000Z',
        setYear: '1999-01-01T00:00:00.000Z',
        components: [Date.UTC(2020, 6, 1, 12), Date.UTC(2020, 0), Date.UTC(2020, 6, 1), Date.UTC(2020, 6, 1)],
        parsed: [Date.UTC(2020, 6, 1, 12), Date.UTC(2020, 6, 1, 12, 0, 0, 500), Date.UTC(2020, 6, 1), Date.UTC(2020, 6), Date.UTC(2020, 6, 1, 12), Date.UTC(2020, 6, 1, 10), summer, summer, summer],
        constructed: [Date.UTC(2020, 6, 1, 12), Date.UTC(2020, 6, 1, 12), 5, 7],
        legacy: [true, true, true], // Invalid Date: forms that name no zone
        intl: 'undefined',
      }),
    );
  });
});

describe('determinism', () => {
  let pool: SandboxPool;
  beforeAll(() => {
    pool = newPool();
  });
  afterAll(async () => {
    await pool.close();
  });

  // ctx.random() heavily, floating point with only + - * / and sqrt, and the input.
  const APP = `
export default async function run(input, ctx) {
  const first = [];
  let min = 1, max = 0, acc = input.start, walk = 0, inRange = true;
  for (let i = 0; i < input.n; i++) {
    const r = ctx.random();
    if (i < 5) first.push(r);
    if (!(r >= 0 && r < 1)) inRange = false;
    if (r < min) min = r;
    if (r > max) max = r;
    acc = acc * 0.999 + Math.sqrt(r * acc + input.bias) / (1 + r) - r * 0.25;
    walk += r < 0.5 ? -1 : 1;
  }
  return { first, min, max, acc, walk, inRange, n: input.n };
}`;
  const INPUT = { n: 200_000, start: 1.5, bias: 1 };

  it('gives byte-identical output for the same job: twice in a row, on both threads at once, and in a fresh pool', async () => {
    const a = await run(pool, APP, { input: INPUT });
    expect(a.outcome.ok).toBe(true);
    const b = await run(pool, APP, { input: INPUT });
    expect(b.outcome).toEqual(a.outcome);

    await waitIdle(pool);
    const pending = [run(pool, APP, { input: INPUT }), run(pool, APP, { input: INPUT })];
    expect(pool.runningTaskIds()).toHaveLength(2); // one job on each worker thread
    for (const c of await Promise.all(pending)) expect(c.outcome).toEqual(a.outcome);

    const fresh = newPool({ threads: 1 });
    try {
      const d = await run(fresh, APP, { input: INPUT });
      expect(d.outcome).toEqual(a.outcome);
    } finally {
      await fresh.close();
    }

    const out = JSON.parse((a.outcome as { outputJson: string }).outputJson) as { first: number[]; min: number; max: number; inRange: boolean; n: number; acc: number };
    // ctx.random() is the work unit's seeded generator, drawing values in [0, 1)
    const expected = seededRandom(SEED);
    expect(out.first).toEqual([expected(), expected(), expected(), expected(), expected()]);
    expect(out.inRange).toBe(true);
    expect(out.min).toBeGreaterThanOrEqual(0);
    expect(out.max).toBeLessThan(1);
    expect(out.min).toBeLessThan(0.001);
    expect(out.max).toBeGreaterThan(0.999);
    expect(Number.isFinite(out.acc)).toBe(true);
  });

  it('gives a different output for a different rngSeed, and for a different input', async () => {
    const a = await run(pool, APP, { input: INPUT });
    const other = await run(pool, APP, { input: INPUT, rngSeed: OTHER_SEED });
    expect(other.outcome.ok).toBe(true);
    expect(other.outcome).not.toEqual(a.outcome);
    const otherOut = JSON.parse((other.outcome as { outputJson: string }).outputJson) as { first: number[] };
    expect(otherOut.first[0]).toBe(seededRandom(OTHER_SEED)());
    const otherInput = await run(pool, APP, { input: { ...INPUT, bias: 2 } });
    expect(otherInput.outcome.ok).toBe(true);
    expect(otherInput.outcome).not.toEqual(a.outcome);
  });
});

describe('close', () => {
  const workerPorts = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;

  // Regression: close() terminated each worker, whose 'exit' handler then spawned a new one,
  // so the closed pool kept a live worker thread per slot and held the process open.
  it('close() leaves no worker thread running', async () => {
    const before = workerPorts();
    const pool = newPool({ threads: 1 });
    expect(workerPorts()).toBeGreaterThan(before);
    await pool.close();
    await sleep(200);
    expect(workerPorts()).toBe(before);
  });
});

describe('task events: checkpoints, progress, console, abort', () => {
  let pool: SandboxPool;
  beforeAll(() => {
    pool = newPool();
  });
  afterAll(async () => {
    await pool.close();
  });

  describe('checkpoint and resume', () => {
    // Checkpoints every `every` steps; resuming from a checkpoint continues the same computation.
    const APP = `
  export default async function run(input, ctx) {
    const startedAt = ctx.resume ? ctx.resume.i : 0;
    let acc = ctx.resume ? ctx.resume.acc : input.seed;
    for (let i = startedAt; i < input.n; i++) {
      if (i > startedAt && i % input.every === 0) await ctx.checkpoint({ i, acc });
      acc = (acc * 31 + i) % 1000003;
    }
    return { startedAt, acc };
  }`;
    const INPUT = { n: 1000, every: 250, seed: 7 };

    function expectedAcc(): number {
      let acc = INPUT.seed;
      for (let i = 0; i < INPUT.n; i++) acc = (acc * 31 + i) % 1000003;
      return acc;
    }
    function accAt(step: number): number {
      let acc = INPUT.seed;
      for (let i = 0; i < step; i++) acc = (acc * 31 + i) % 1000003;
      return acc;
    }

    it('delivers checkpoints as canonical JSON and resumes from one to the same result', async () => {
      // The app waits for each checkpoint to be stored: make storing slow.
      const fresh = await run(pool, APP, { input: INPUT }, recorder(() => sleep(30)));
      expect(fresh.outcome).toEqual(success({ startedAt: 0, acc: expectedAcc() }));
      expect(fresh.checkpoints).toEqual([250, 500, 750].map((i) => `{"acc":${accAt(i)},"i":${i}}`));

      const resumed = await run(pool, APP, { input: INPUT, resume: fresh.checkpoints[1]! });
      expect(resumed.outcome).toEqual(success({ startedAt: 500, acc: expectedAcc() }));
      expect(resumed.checkpoints).toEqual([`{"acc":${accAt(750)},"i":750}`]);
    });

    it('gives ctx.resume undefined on a fresh run', async () => {
      const f = await run(pool, `export default async (input, ctx) => [typeof ctx.resume, 'resume' in ctx];`);
      expect(f.outcome).toEqual(success(['undefined', true]));
    });

    // Regression: an app could checkpoint as fast as the disk took it (670 MB in 1.8 s of CPU,
    // ~1.3 TB in a default task), each state up to 16 MiB.
    describe('checkpoint volume is bounded: over a limit the task ends as checkpoint_limit', () => {
      const limits = { bytes: 4096, totalBytes: 64 * 1024 };

      it('all of a run’s checkpoints together, even when the app catches and carries on', async () => {
        const f = await run(
          pool,
          `export default async (input, ctx) => {
      const state = { pad: 'x'.repeat(1000) };
      for (let i = 0; ; i++) { try { await ctx.checkpoint({ i, ...state }); } catch {} }
    };`,
          { checkpointLimits: limits },
        );
        expect(f.outcome).toEqual(failure('checkpoint_limit', /checkpoints would come to \d+ bytes, over the volunteer's limit of 65536 bytes for one task/));
        const written = f.checkpoints.reduce((n, c) => n + c.length, 0);
        expect(written).toBeLessThanOrEqual(limits.totalBytes);
        expect(written).toBeGreaterThan(limits.totalBytes - 2000);
        await expectPoolStillWorks(pool);
      });

      it('one checkpoint over the size limit: nothing of it is written', async () => {
        const f = await run(pool, `export default async (input, ctx) => { await ctx.checkpoint({ pad: 'x'.repeat(5000) }); return 'written'; };`, { checkpointLimits: limits });
        expect(f.outcome).toEqual(failure('checkpoint_limit', /a checkpoint of 5\d\d\d bytes is over the volunteer's limit of 4096 bytes/));
        expect(f.checkpoints).toEqual([]);
      });

      it('by default 16 MiB each', async () => {
        const f = await run(pool, `export default async (input, ctx) => { await ctx.checkpoint('x'.repeat(16 * 1024 * 1024)); return 'written'; };`);
        expect(f.outcome).toEqual(failure('checkpoint_limit', /is over the volunteer's limit of 16777216 bytes/));
        expect(f.checkpoints).toEqual([]);
      });
    });

    it("lets the app see a failed checkpoint, and refuses a state that is not JSON", async () => {
      const failing = recorder(async () => {
        throw new Error('disk full');
      });
      const f = await run(
        pool,
        `export default async (input, ctx) => {
    const seen = [];
    try { await ctx.checkpoint({ step: 1 }); seen.push('stored'); } catch (e) { seen.push(e.message); }
    try { await ctx.checkpoint({ f: () => 1 }); seen.push('stored'); } catch (e) { seen.push(e.name); }
    return seen;
  };`,
        {},
        failing,
      );
      expect(f.outcome).toEqual(success(['disk full', 'CanonicalEncodingError']));
      expect(failing.checkpoints).toEqual(['{"step":1}']);
    });
  });

  describe('progress and console', () => {
    it('delivers progress fractions clamped to [0, 1], ignoring values that are not finite numbers', async () => {
      const f = await run(pool, `export default async (input, ctx) => { for (const p of [-0.5, 0, 0.25, 2, NaN, Infinity, -Infinity, '0.7', null, 0.5, 1]) ctx.progress(p); return 'done'; };`);
      expect(f.outcome).toEqual(success('done'));
      expect(f.progress).toEqual([0, 0, 0.25, 1, 0.5, 1]);
    });

    // Regression, once a bug (app-runtime/run-app.ts makeCtx.progress): every ctx.progress call
    // is one postMessage to the main thread, with no coalescing. An app calling it in a loop
    // until its CPU limit queues ~0.5-1.6 million messages; the main thread's RSS jumps by
    // 0.4-0.8 GB and stays there for seconds, over the pool's RSS ceiling, so the watch kills
    // whatever task runs next with memory_limit. Progress should be coalesced in the worker
    // (e.g. at most every 100 ms or every 0.001, always delivering the last value).
    it('coalesces a flood of ctx.progress calls, still delivering the last value', async () => {
      const f = await run(pool, `export default async (input, ctx) => { const n = 200000; for (let i = 1; i <= n; i++) ctx.progress(i / n); return 'done'; };`);
      expect(f.outcome).toEqual(success('done'));
      // At most 20 in each 100 ms window of the run, and the last value.
      expect(f.progress.length).toBeLessThanOrEqual(20 * (Math.ceil(f.elapsedMs / 100) + 1) + 1);
      expect(f.progress.at(-1)).toBe(1);
      expect(f.progress).toEqual([...f.progress].sort((a, b) => a - b));
    });

    it('sends console lines to the log with their level', async () => {
      const f = await run(
        pool,
        `export default async () => {
    console.log('hello', 42, { a: 1 }, [1, 2]);
    console.info('info line');
    console.warn('careful');
    console.error('bad', null, undefined);
    console.debug('details');
    return 'logged';
  };`,
      );
      expect(f.outcome).toEqual(success('logged'));
      expect(f.logs).toEqual([
        ['info', 'hello 42 {"a":1} [1,2]'],
        ['info', 'info line'],
        ['warn', 'careful'],
        ['error', 'bad null undefined'],
        ['debug', 'details'],
      ]);
    });

    it('limits how much one task can log: 200 lines of at most 2000 characters, and one saying the rest were not kept', async () => {
      const f = await run(pool, `export default async () => { for (let i = 0; i < 500; i++) console.log(String(i).padEnd(5000, '.')); return 'flooded'; };`);
      expect(f.outcome).toEqual(success('flooded'));
      expect(f.logs).toHaveLength(201);
      expect(f.logs[0]![1]).toHaveLength(2000);
      expect(f.logs[199]![1]!.startsWith('199.')).toBe(true);
      expect(f.logs[200]).toEqual(['warn', '(the app logged more than 200 lines in this run; the rest are not kept)']);
    });
  });

  describe('abort', () => {
    const SPIN = `export default async (input, ctx) => { ctx.progress(0.1); for (;;) {} };`;

    /** Starts an endless loop and resolves once it is really running. */
    function startSpinning(taskId: number) {
      let running!: () => void;
      const started = new Promise<void>((resolve) => (running = resolve));
      const rec = recorder();
      const events: TaskEvents = { ...rec.events, progress: () => running() };
      const done = pool.run(makeJob(SPIN, { taskId }), events);
      return { started, done };
    }

    it("ends a running endless loop with 'aborted' at once, and the pool keeps working", async () => {
      const taskId = nextTaskId++;
      const { started, done } = startSpinning(taskId);
      await started;
      const t0 = Date.now();
      expect(pool.abort(taskId, 'the work unit was cancelled')).toBe(true);
      const f = await done;
      expect(Date.now() - t0).toBeLessThan(1000); // no waiting for the CPU limit (1.5 s)
      expect(f.outcome).toEqual(failure('aborted', 'the work unit was cancelled'));
      expect(f.elapsedMs).toBeLessThan(MAX_CPU_MS);
      expect(pool.runningTaskIds()).toEqual([]);
      await expectPoolStillWorks(pool);
    });

    it('aborts each of two running tasks independently; an unknown task id is not aborted', async () => {
      const a = nextTaskId++;
      const b = nextTaskId++;
      const first = startSpinning(a);
      const second = startSpinning(b);
      await Promise.all([first.started, second.started]);
      expect(pool.idle).toBe(0);
      // A third job waits for a free worker; aborting it while it waits ends it at once.
      const thirdId = nextTaskId++;
      const third = pool.run(makeJob(SPIN, { taskId: thirdId }), recorder().events);
      expect(pool.abort(thirdId, 'not needed')).toBe(true);
      expect((await third).outcome).toEqual(failure('aborted', 'not needed'));
      expect(pool.abort(999_999, 'no such task')).toBe(false);
      expect(pool.abort(b, 'second')).toBe(true);
      expect((await second.done).outcome).toEqual(failure('aborted', 'second'));
      expect(pool.runningTaskIds()).toEqual([a]);
      expect(pool.abort(a, 'first')).toBe(true);
      expect((await first.done).outcome).toEqual(failure('aborted', 'first'));
      await expectPoolStillWorks(pool);
    });
  });
});

describe('memory outside the V8 heap (typed arrays, WebAssembly memory)', () => {
  let pool: SandboxPool;
  beforeAll(() => {
    pool = newPool();
  });
  afterAll(async () => {
    await pool.close();
  });

  /** The pool recovers once the killed worker's memory is returned (see the report). */
  async function expectRecovers(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const f = await run(pool, NORMAL_APP, { input: { a: 2, b: 3 } });
      if (f.outcome.ok || attempt === 12) {
        expect(f.outcome).toEqual(success(NORMAL_OUTPUT));
        return;
      }
      expect(f.outcome).toMatchObject({ ok: false, code: 'memory_limit' });
      await sleep(250);
    }
  }

  it('stops a WebAssembly memory that grows past the ceiling (memory_limit)', async () => {
    const f = await run(
      pool,
      `export default async () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  // Touch only the pages each step adds: the task is about memory, and filling the whole buffer
  // every step made it spend its 1.5 s of CPU first on a loaded machine (cpu_limit, not memory_limit).
  for (let i = 0; i < 32; i++) { const end = memory.buffer.byteLength; memory.grow(1024); new Uint8Array(memory.buffer, end).fill(7); }
  return memory.buffer.byteLength;
};`,
    );
    expect(f.outcome).toEqual(failure('memory_limit', /memory went over its ceiling/));
    await expectRecovers();
  });

  it('stops typed arrays that grow past the ceiling (memory_limit)', async () => {
    const f = await run(pool, `export default async () => { const keep = []; for (let i = 0; i < 48; i++) keep.push(new Uint8Array(32 << 20).fill(i + 1)); return keep.length; };`);
    expect(f.outcome).toEqual(failure('memory_limit', /memory went over its ceiling/));
    await expectRecovers();
  });
});
