// One task of an app version, whatever its kind: what the sandbox workers of both volunteers
// call. A JavaScript module goes straight to run-app.ts, as it always did.
import { runApp, type AppBundle, type AppOutcome, type AppRun, type TaskHost } from './run-app.js';
import { runWasi } from './run-wasi.js';
import type { TaskScope } from './task-scope.js';

export function runTask(bundle: AppBundle, run: AppRun, host: TaskHost, scope: TaskScope): Promise<AppOutcome> {
  return bundle.kind === 'wasi' ? runWasi(bundle, run, host, scope) : runApp(bundle, run, host, scope);
}
