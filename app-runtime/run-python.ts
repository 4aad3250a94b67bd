// One task of a Python app version (entry main.py, `run(input, ctx)`), in the daemon's worker
// threads and the page's Web Workers alike. Loading Pyodide takes seconds, so a worker keeps
// its interpreter for the next task of the same app version (each task starts from the state
// python-driver.ts recorded: its modules dropped, globals put back, files it wrote removed); a
// task of another version gets a fresh interpreter, so nothing a task could still leave in one
// reaches another researcher's app.
import type { AppBundle, AppOutcome, AppRun, TaskHost } from './run-app.js';
import { PythonRuntime, type PythonAssets } from './python-runtime.js';
import type { TaskScope } from './task-scope.js';

let assets: PythonAssets | undefined;
let current: { version: string; runtime: Promise<PythonRuntime> } | undefined;

/** Where this worker loads Pyodide from: set once by the worker before its first task. */
export function setPythonAssets(a: PythonAssets): void {
  assets = a;
}

/** The interpreter for `version`: the worker's own if it ran that version last, else a new one. */
function runtimeFor(version: string): Promise<PythonRuntime> {
  if (!assets) throw new Error('this worker was not told where Pyodide is (setPythonAssets)');
  if (current?.version !== version) current = { version, runtime: PythonRuntime.load(assets) };
  return current.runtime;
}

/** Runs the task to its end. Never throws; when it returns, `scope` has ended. */
export async function runPython(bundle: AppBundle, run: AppRun, host: TaskHost, scope: TaskScope): Promise<AppOutcome> {
  try {
    let runtime: PythonRuntime;
    try {
      runtime = await runtimeFor(bundle.version ?? `${bundle.entry}:${[...bundle.files.keys()].join(',')}`);
    } catch (e) {
      current = undefined;
      return { ok: false, code: 'app_load_failed', message: `the Python interpreter did not load: ${e instanceof Error ? e.message : String(e)}` };
    }
    const outcome = runtime.run(bundle, run, host);
    if (runtime.broken) current = undefined;
    return outcome;
  } finally {
    scope.end();
  }
}
