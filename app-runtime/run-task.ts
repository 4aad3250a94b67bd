// One task of an app version, whatever its kind: what the sandbox workers of both volunteers
// call. A JavaScript module goes straight to run-app.ts, as it always did.
import { runApp, type AppBundle, type AppOutcome, type AppRun, type TaskHost } from './run-app.js';
import { runPython } from './run-python.js';
import { runWasi } from './run-wasi.js';
import type { TaskScope } from './task-scope.js';

export function runTask(bundle: AppBundle, run: AppRun, host: TaskHost, scope: TaskScope): Promise<AppOutcome> {
  if (bundle.kind === 'wasi') return runWasi(bundle, run, host, scope);
  if (bundle.kind === 'python') return runPython(bundle, run, host, scope);
  return runApp(bundle, run, host, scope);
}
