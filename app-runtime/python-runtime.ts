// One Python interpreter (Pyodide) in a sandbox worker, loaded once and reused for the tasks of
// one app version (run-python.ts decides which). It is loaded in the worker's realm after SES
// has locked it down, so the JavaScript that Pyodide's bridge could lead to is frozen and its
// Function constructors are tamed; the interpreter's `js` module is an empty object, and
// python-driver.ts then takes the bridge away from Python entirely. What the interpreter can
// reach of the machine is decided by its WebAssembly imports (python-world.ts).
import { loadPyodide, type PyodideAPI } from 'pyodide';
import { canonicalJson } from '../protocol/canonical.js';
import { PYTHON_DRIVER } from './python-driver.js';
import { PythonWorld } from './python-world.js';
import { appConsole, checkpointOverLimit, DEFAULT_CHECKPOINT_LIMITS, type AppBundle, type AppConsole, type AppFailureCode, type AppOutcome, type AppRun, type TaskHost } from './run-app.js';
import { seededRandom } from './prng.js';

/** Where the Pyodide files are: a folder on disk (the daemon) or a URL ending in / (the page). */
export interface PythonAssets {
  indexURL: string;
}

interface PyCallable {
  (...args: unknown[]): unknown;
  destroy(): void;
}

/** What the app's Python calls on its volunteer (the ctx of docs/apps.md, on the JavaScript side). */
interface TaskBridge {
  progress(fraction: number): void;
  /** undefined when saved; the reason when over a limit (the task then ends). */
  checkpoint(json: string): string | undefined;
  random(): number;
  hasFile(name: string): boolean;
  file(name: string): Uint8Array;
}

type DriverResult = { output: string } | { code: AppFailureCode; message: string };

const g = globalThis as unknown as Record<string, unknown>;
/** The realm's own Date.now (Date itself is swapped while a task runs, below). */
const RealDate = Date;

export class PythonRuntime {
  private console: AppConsole | undefined;
  /** A fatal error or an exit of the interpreter: it runs nothing more. */
  broken = false;

  private constructor(
    private readonly py: PyodideAPI,
    private readonly world: PythonWorld,
    private readonly runTaskFn: PyCallable,
  ) {}

  /** Loads an interpreter; `loadMs` is what it took. */
  static async load(assets: PythonAssets): Promise<PythonRuntime> {
    const world = new PythonWorld();
    let runtime: PythonRuntime | undefined;
    const py = await withLoadShims(world, () =>
      loadPyodide({
        indexURL: assets.indexURL,
        // The `js` module: nothing (by default it is the worker's global object).
        jsglobals: harden(Object.create(null) as object),
        // A fixed hash seed: set and dict iteration orders of strings agree between replicas; a
        // fixed locale (a browser's would be its language).
        env: { PYTHONHASHSEED: '0', HOME: '/home/pyodide', TZ: 'UTC', LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' },
        stdout: (line) => runtime?.console?.log(line),
        stderr: (line) => runtime?.console?.warn(line),
        checkAPIVersion: true,
      }),
    );
    // The loader gives Node's modules to the interpreter through a global `require` when there
    // is none; nothing else may find it there.
    if (typeof g['require'] === 'function' && (g['require'] as { name?: string }).name !== 'require') delete g['require'];
    py.setStdin({ error: true });
    py.setStdout({ batched: (line) => runtime?.console?.log(line) });
    py.setStderr({ batched: (line) => runtime?.console?.warn(line) });
    py.unregisterJsModule('js');
    py.unregisterJsModule('pyodide_js');
    // In a namespace of its own: __main__ is put back before every task like any module.
    const namespace = (py.globals.get('dict') as PyCallable)() as { get(key: string): unknown; set(key: string, v: unknown): void };
    namespace.set('__name__', '_vg_driver');
    py.runPython(PYTHON_DRIVER, { globals: namespace as never });
    const runTaskFn = namespace.get('_vg_run_task') as PyCallable;
    runtime = new PythonRuntime(py, world, runTaskFn);
    return runtime;
  }

  /** Runs one task to its end, synchronously. Never throws. */
  run(bundle: AppBundle, run: AppRun, host: TaskHost): AppOutcome {
    if (this.broken) return { ok: false, code: 'app_exception', message: 'the Python interpreter stopped in an earlier task' };
    const console = appConsole(host);
    const sources: Record<string, string> = {};
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (const [name, bytes] of bundle.files) {
      if (!name.endsWith('.py')) continue;
      try {
        sources[name] = decoder.decode(bytes);
      } catch {
        return { ok: false, code: 'app_load_failed', message: `${name} is not UTF-8 text` };
      }
    }
    const limits = run.checkpointLimits ?? DEFAULT_CHECKPOINT_LIMITS;
    let checkpointed = 0;
    let failed: AppOutcome | undefined;
    const random = seededRandom(run.rngSeed);
    const progress = throttled(host);
    const bridge: TaskBridge = harden({
      progress: (fraction: unknown) => {
        if (typeof fraction === 'number' && Number.isFinite(fraction)) progress.update(Math.min(1, Math.max(0, fraction)));
      },
      checkpoint: (json: unknown) => {
        if (failed) return failed.ok ? 'stopped' : failed.message;
        if (typeof json !== 'string') return 'a checkpoint is JSON text';
        const canonical = canonicalJson(JSON.parse(json));
        const bytes = new TextEncoder().encode(canonical).length;
        const over = checkpointOverLimit(bytes, checkpointed, limits);
        if (over) {
          failed = { ok: false, code: 'checkpoint_limit', message: over };
          return over;
        }
        checkpointed += bytes;
        // Not waited for (Python runs synchronously): the volunteer keeps the latest it got.
        host.checkpoint(canonical).catch(() => {});
        return undefined;
      },
      random: () => random(),
      hasFile: (name: unknown) => typeof name === 'string' && bundle.files.has(name),
      file: (name: unknown) => (typeof name === 'string' ? bundle.files.get(name)?.slice() : undefined) ?? new Uint8Array(),
    });

    this.console = console;
    this.world.begin(run.rngSeed);
    // Emscripten's in-memory file system stamps files with Date.now(): the task's clock too.
    const world = this.world;
    g['Date'] = class TaskDate extends RealDate {
      static override now(): number {
        return world.dateNow();
      }
    };
    let text: string;
    try {
      text = this.runTaskFn(bundle.entry, JSON.stringify(sources), canonicalJson(run.input), run.resume, run.rngSeed, bridge) as string;
    } catch (e) {
      // Only the interpreter itself fails this way (a fatal error, os._exit): it is not reused.
      this.broken = true;
      return { ok: false, code: 'app_exception', message: `the Python interpreter stopped: ${e instanceof Error ? e.message : String(e)}` };
    } finally {
      g['Date'] = RealDate;
      this.world.end();
      this.console = undefined;
      progress.flush();
    }
    if (failed) return failed;
    const result = JSON.parse(text) as DriverResult;
    if ('code' in result) return { ok: false, code: result.code, message: result.message };
    return { ok: true, outputJson: canonicalJson(JSON.parse(result.output)) };
  }
}

/** A few progress updates per 100 ms, and the last one at the end (as run-app.ts does). */
function throttled(host: TaskHost): { update(f: number): void; flush(): void } {
  let windowStart = -Infinity;
  let inWindow = 0;
  let held: number | undefined;
  return {
    update(f) {
      const now = RealDate.now();
      if (now - windowStart >= 100) {
        windowStart = now;
        inWindow = 0;
      }
      if (++inWindow > 20) {
        held = f;
        return;
      }
      held = undefined;
      host.progress(f);
    },
    flush() {
      if (held !== undefined) host.progress(held);
      held = undefined;
    },
  };
}

/**
 * Pyodide's loader, with what it needs of the locked-down realm: Emscripten marks the Math
 * functions it imports with a `.sig` property, which frozen intrinsics refuse, so it is given
 * a Math of its own while it loads; and WebAssembly's instantiate gives the module the imports
 * python-world.ts decides. Both globals are put back once it has loaded.
 */
async function withLoadShims<T>(world: PythonWorld, load: () => Promise<T>): Promise<T> {
  const realMath = g['Math'] as Record<PropertyKey, unknown>;
  const realWasm = g['WebAssembly'] as Record<PropertyKey, unknown> & {
    instantiate(source: unknown, imports?: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
    instantiateStreaming?(source: unknown, imports?: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
    Memory: abstract new (...args: never[]) => { buffer: ArrayBuffer };
  };
  const math: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(realMath)) {
    const v = realMath[key];
    math[key] = typeof v === 'function' ? (...args: unknown[]) => (v as (...a: unknown[]) => unknown)(...args) : v;
  }
  const wasm: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(realWasm)) wasm[key] = realWasm[key];
  const remember = <R extends { instance: { exports: Record<string, unknown> } }>(r: R): R => {
    const memory = r.instance.exports['memory'];
    if (memory instanceof realWasm.Memory) world.setMemory(() => memory.buffer);
    return r;
  };
  const rememberImported = (imports: Record<string, Record<string, unknown>> | undefined) => {
    // With dynamic linking, Emscripten makes the memory itself and imports it.
    const memory = imports?.['env']?.['memory'];
    if (memory instanceof realWasm.Memory) world.setMemory(() => memory.buffer);
  };
  wasm['instantiate'] = async (source: unknown, imports?: Record<string, Record<string, unknown>>) => {
    rememberImported(imports);
    const r = await realWasm.instantiate(source, imports && world.imports(imports));
    return 'instance' in r ? remember(r) : r;
  };
  wasm['instantiateStreaming'] = async (source: unknown, imports?: Record<string, Record<string, unknown>>) => {
    // Compiled from the bytes, so that the imports above apply however the loader fetched them.
    const response = (await source) as { arrayBuffer(): Promise<ArrayBuffer> };
    rememberImported(imports);
    return remember(await realWasm.instantiate(await response.arrayBuffer(), imports && world.imports(imports)));
  };
  g['Math'] = math;
  g['WebAssembly'] = wasm;
  try {
    return await load();
  } finally {
    g['Math'] = realMath;
    g['WebAssembly'] = realWasm;
  }
}
