// A sandbox worker thread: locks its realm down with SES, then runs one task at a time in a
// fresh Compartment. The main thread enforces CPU and memory limits from outside.
import { readlinkSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { lockdownRealm } from '../../app-runtime/lockdown.js';
import { setPythonAssets } from '../../app-runtime/run-python.js';
import { runTask } from '../../app-runtime/run-task.js';
import { TaskScope } from '../../app-runtime/task-scope.js';
import type { FromWorker, ToWorker } from './messages.js';

const port = parentPort;
if (!port) throw new Error('worker-main.ts runs as a worker thread');

lockdownRealm();
// Python apps: Pyodide from the daemon's own installation, loaded on this thread when a task needs it.
setPythonAssets({ indexURL: fileURLToPath(new URL('.', import.meta.resolve('pyodide'))) });
// A promise an app rejects and never handles is its own business, not the thread's end.
process.on('unhandledRejection', () => {});

const send = (m: FromWorker) => port.postMessage(m);
const pendingCheckpoints = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
let seq = 0;

port.on('message', (m: ToWorker) => {
  if (m.type === 'checkpointed') {
    const p = pendingCheckpoints.get(m.seq);
    pendingCheckpoints.delete(m.seq);
    if (m.error === undefined) p?.resolve();
    else p?.reject(new Error(m.error));
    return;
  }
  const { taskId } = m;
  const scope = new TaskScope();
  void runTask(
    {
      entry: m.entry,
      ...(m.kind === undefined ? {} : { kind: m.kind }),
      ...(m.appVersionHash === undefined ? {} : { version: m.appVersionHash }),
      files: new Map(m.files),
    },
    {
      input: m.input,
      rngSeed: m.rngSeed,
      ...(m.resume === undefined ? {} : { resume: m.resume }),
      ...(m.checkpointLimits === undefined ? {} : { checkpointLimits: m.checkpointLimits }),
    },
    {
      progress: (fraction) => send({ type: 'progress', taskId, fraction }),
      log: (level, text) => send({ type: 'log', taskId, level, text }),
      checkpoint: (stateJson) =>
        new Promise<void>((resolve, reject) => {
          const s = ++seq;
          pendingCheckpoints.set(s, { resolve, reject });
          send({ type: 'checkpoint', taskId, seq: s, stateJson });
        }),
    },
    scope,
  ).then((outcome) => {
    pendingCheckpoints.clear(); // the scope has ended: their answers would settle nothing
    send({ type: 'done', taskId, outcome });
    // Runs only once the microtask queue is empty: a worker still busy with work the app left
    // behind never says it is idle, and the pool replaces it.
    setImmediate(() => send({ type: 'idle', leftPending: scope.pending }));
  });
});

send({ type: 'ready', tid: osThreadId() });

/** Linux names the calling thread in /proc/thread-self; elsewhere CPU time is not readable. */
function osThreadId(): number | null {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}
