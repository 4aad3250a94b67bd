// The upload check of a Python app version: every .py file compiles with the Python that
// volunteers run (Pyodide, in a worker thread of the coordinator: check-worker.ts), and the entry
// defines `run` at its top level. Nothing of the app runs: the check only parses and compiles.
// Loading Pyodide takes seconds, so the worker is kept for the next upload and ended when idle;
// a check that takes longer than CHECK_MS ends its worker and refuses the version.
import { CheckWorker } from './check-worker.js';

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './python-check-worker.ts' : './python-check-worker.js', import.meta.url);
/** Loading Pyodide and compiling a large version, on a loaded machine. */
const CHECK_MS = 120_000;
const IDLE_MS = 60_000;

/** The version's .py files by name, and its entry; answered with a problem or null. */
export interface PythonRequest {
  files: Record<string, string>;
  entry: string;
}

const python = new CheckWorker<PythonRequest, string | null>({ url: WORKER_URL, checkMs: CHECK_MS, idleMs: IDLE_MS });

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
  const c = await python.check({ files: sources, entry });
  if ('answer' in c) return c.answer ?? undefined;
  return c.failed === 'crash' ? `the Python check stopped: ${c.message}` : `the Python check ${c.message}`;
}
