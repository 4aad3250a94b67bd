// The upload check of a Python app version: every .py file compiles with the Python that
// volunteers run (Pyodide, in a worker thread of the coordinator), and the entry defines `run`
// at its top level. Nothing of the app runs: the check only parses and compiles. Loading
// Pyodide takes seconds, so one worker is kept for the next upload and ended when idle; a check
// that takes longer than CHECK_MS ends its worker and refuses the version.
import { Worker } from 'node:worker_threads';

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './python-check-boot.mjs' : './python-check-worker.js', import.meta.url);
/** Loading Pyodide and compiling a large version, on a loaded machine. */
const CHECK_MS = 120_000;
const IDLE_MS = 60_000;

interface Checker {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, (problem: string | undefined) => void>;
  idle: NodeJS.Timeout | undefined;
}

let checker: Checker | undefined;
let nextId = 1;

function start(): Checker {
  const worker = new Worker(WORKER_URL, { stdout: true, stderr: true });
  worker.stdout.resume();
  worker.stderr.resume();
  const c: Checker = { worker, pending: new Map(), idle: undefined, ready: Promise.resolve() };
  c.ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { ready?: true; id?: number; problem?: string }) => {
      if (m.ready) return resolve();
      const answer = c.pending.get(m.id!);
      c.pending.delete(m.id!);
      answer?.(m.problem);
    });
    const fail = (why: string) => {
      if (checker === c) checker = undefined;
      reject(new Error(why));
      for (const answer of c.pending.values()) answer(`the Python check stopped: ${why}`);
      c.pending.clear();
    };
    worker.on('error', (e) => fail(e.message));
    worker.on('exit', (code) => fail(`its worker exited with code ${code}`));
  });
  c.ready.catch(() => {});
  worker.unref();
  return c;
}

/** What is wrong with the version's Python, naming the file and line, or undefined. */
export async function pythonProblem(files: { name: string; bytes: Uint8Array }[], entry: string): Promise<string | undefined> {
  const sources: Record<string, string> = {};
  for (const f of files) {
    if (!f.name.endsWith('.py')) continue;
    try {
      sources[f.name] = new TextDecoder('utf-8', { fatal: true }).decode(f.bytes);
    } catch {
      return `${f.name}: not UTF-8 text`;
    }
  }
  if (!(entry in sources)) return `the entry ${entry} is not among the version's files`;
  const c = (checker ??= start());
  if (c.idle) clearTimeout(c.idle);
  const id = nextId++;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string | undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(`the Python check took longer than ${CHECK_MS / 1000} s`);
        if (checker === c) checker = undefined;
        void c.worker.terminate();
      }, CHECK_MS);
      c.pending.set(id, resolve);
      c.ready.then(
        () => c.worker.postMessage({ id, files: sources, entry }),
        (e: Error) => resolve(`the Python check could not start: ${e.message}`),
      );
    });
  } finally {
    clearTimeout(timer);
    if (checker === c && c.pending.size === 0) {
      c.idle = setTimeout(() => {
        if (checker === c && c.pending.size === 0) {
          checker = undefined;
          void c.worker.terminate();
        }
      }, IDLE_MS);
      c.idle.unref();
    }
  }
}
