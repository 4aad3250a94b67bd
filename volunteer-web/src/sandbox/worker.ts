// A sandbox Web Worker: locks its realm down with SES once, then runs one task at a time in a
// fresh Compartment with app-runtime/run-app.ts, exactly as the Node volunteer's worker threads
// do. The page enforces time limits from outside by terminating this worker, and decides
// whether it runs another task (reuse.ts).
import * as Comlink from 'comlink';
import { lockdownRealm } from '../../../app-runtime/lockdown.js';
import { setPythonAssets } from '../../../app-runtime/run-python.js';
import { runTask } from '../../../app-runtime/run-task.js';
import { TaskScope } from '../../../app-runtime/task-scope.js';
import type { SandboxApi } from './messages.js';

/** The Pyodide package's version, set by the build (vite.config.ts). */
declare const __PYODIDE_VERSION__: string;

lockdownRealm();
// Python apps: Pyodide's files come from the coordinator, beside the page (volunteer-web/vite.config.ts).
// From the worker's location (this script, in assets/): Vite would take a URL made from
// import.meta.url for a file of its own to bundle.
setPythonAssets({ indexURL: new URL(`../pyodide/${__PYODIDE_VERSION__}/`, self.location.href).href });
// A promise an app rejects and never handles is its own business, not the worker's end.
addEventListener('unhandledrejection', (e) => e.preventDefault());

/** The task running or last run: its scope says what it left going on. */
let last: { scope: TaskScope; ended: Promise<void> } | undefined;
let running = false;

const api: SandboxApi = {
  async run(job, host) {
    try {
      if (running) throw new Error('this sandbox is already running a task');
      running = true;
      const scope = new TaskScope();
      let end!: () => void;
      last = { scope, ended: new Promise<void>((resolve) => (end = resolve)) }; // before any await: drained() may come next
      try {
        // The host's calls travel on their own port, the outcome on the worker's: wait for the
        // last log line or progress to arrive before answering, or a program that logs just
        // before it ends (a WASI program's stderr, flushed at exit) would lose it.
        let lastSent: Promise<unknown> = Promise.resolve();
        const remote = host as unknown as Record<'log' | 'progress', (...args: unknown[]) => Promise<unknown>>;
        const outcome = await runTask(
          { entry: job.entry, ...(job.kind === undefined ? {} : { kind: job.kind }), version: job.appVersionHash, files: job.files },
          {
            input: job.input,
            rngSeed: job.rngSeed,
            ...(job.resume === undefined ? {} : { resume: job.resume }),
            ...(job.checkpointLimits === undefined ? {} : { checkpointLimits: job.checkpointLimits }),
          },
          {
            log: (level, text) => void (lastSent = remote.log(level, text)),
            progress: (fraction) => void (lastSent = remote.progress(fraction)),
            checkpoint: (json) => host.checkpoint(json),
          },
          scope,
        );
        await lastSent.catch(() => {});
        return outcome;
      } finally {
        running = false;
        end();
      }
    } finally {
      // The host callbacks came as a Comlink proxy: close its port, or every task leaks one.
      (host as Partial<Comlink.ProxyMethods>)[Comlink.releaseProxy]?.();
    }
  },
  async drained() {
    const task = last;
    if (!task) return { leftPending: 0 };
    await task.ended;
    // A timer runs only once the microtask queue is empty: a leftover promise loop that never
    // ends never lets this answer.
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    return { leftPending: task.scope.pending };
  },
  ping: () => true,
};

Comlink.expose(api);
