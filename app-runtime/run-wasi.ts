// Runs one task of a WASI program (wasm32-wasi, preview 1) with the maintained WASI shim
// @bjorn3/browser_wasi_shim, in the daemon's worker threads and the page's Web Workers alike,
// so a program meets the same system on both and replicas agree bit for bit.
//
// What the program can reach is only what the shim's imports give it: stdin, stdout and stderr,
// its arguments, no environment, and one preopened directory ("/") that lives in memory and
// holds the work unit's files. No sockets, no host files. The calls that would read the world
// are replaced: clock_time_get reads a virtual clock that starts at an instant drawn from the
// task's seed and moves 1 µs per reading (and by the time a poll_oneoff sleeps, without
// waiting), random_get reads the seed's xoshiro128** stream (prng.ts). Node's own node:wasi
// is not used: it maps the directory to a real one on the host, gives real clocks and
// randomness, and its documentation says not to rely on it to run untrusted code.
//
// The program runs synchronously on the worker's thread: the volunteer's limits (CPU time,
// memory, a stop by terminating the worker) hold exactly as for a JavaScript app.
import { ConsoleStdout, Directory, File, Inode, OpenFile, PreopenDirectory, WASI, WASIProcExit, wasi as defs } from '@bjorn3/browser_wasi_shim';
import { canonicalJson } from '../protocol/canonical.js';
import { seededWords } from './prng.js';
import { appConsole, checkpointOverLimit, DEFAULT_CHECKPOINT_LIMITS, type AppBundle, type AppOutcome, type AppRun, type TaskHost } from './run-app.js';
import { TaskScope } from './task-scope.js';
import { CHECKPOINT_FILE, fromBase64, toBase64, wasiInput } from './wasi-input.js';

/** Most a program may write to stdout (or leave in its output file): an output file's limit. */
export const MAX_WASI_OUTPUT_BYTES = 16 * 1024 * 1024;
/** 2000-01-01T00:00:00Z: a program's realtime clock starts within 2^28 s (8.5 years) of it. */
const EPOCH_NS = 946_684_800n * 1_000_000_000n;
const TICK_NS = 1_000n;

/** The realm's WebAssembly, as far as this uses it (the project's TypeScript libraries do not describe the global). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => { buffer: ArrayBuffer };
  LinkError: new (...args: never[]) => Error;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
type Started = Parameters<WASI['start']>[0];

/** Runs the program to its exit. Never throws; when it returns, `scope` has ended. */
export function runWasi(bundle: AppBundle, run: AppRun, host: TaskHost, scope = new TaskScope()): Promise<AppOutcome> {
  try {
    return Promise.resolve(runIn(bundle, run, host));
  } finally {
    scope.end();
  }
}

function runIn(bundle: AppBundle, run: AppRun, host: TaskHost): AppOutcome {
  const console = appConsole(host);
  const input = wasiInput(run.input);
  if ('problem' in input) return { ok: false, code: 'bad_input', message: input.problem };

  let module: object;
  try {
    // Compiled here, synchronously: nothing of it can outlive the task (task-scope.ts).
    module = new Wasm.Module(bundle.files.get(bundle.entry) ?? new Uint8Array());
  } catch (e) {
    return { ok: false, code: 'app_load_failed', message: `${bundle.entry} does not compile: ${message(e)}` };
  }

  // Inode numbers come from a counter of the shim's module: start it again, so that a program
  // sees the same numbers in every worker, whatever ran there before.
  (Inode as unknown as { next_ino: bigint }).next_ino = 1n;
  const contents = new Map<string, File | Directory>();
  for (const [name, bytes] of input.files) contents.set(name, new File(bytes.slice()));
  const resumed = resumedCheckpoint(run.resume);
  if (resumed) contents.set(CHECKPOINT_FILE, new File(resumed));
  const root = new PreopenDirectory('/', contents);

  let stdoutBytes = 0;
  const stdout: Uint8Array[] = [];
  let overflow = false;
  const out = new ConsoleStdout((chunk) => {
    stdoutBytes += chunk.length;
    if (stdoutBytes > MAX_WASI_OUTPUT_BYTES) overflow = true;
    else stdout.push(chunk.slice());
  });
  const stderr = lines((line) => console.log(line));
  const err = new ConsoleStdout(stderr.write);
  const wasi = new WASI([bundle.entry, ...input.args], [], [new OpenFile(new File(input.stdin.slice(), { readonly: true })), out, err, root], { debug: false });
  const checkpoints = checkpointSaver(root, run, host, resumed);
  deterministic(wasi, run.rngSeed);
  watchCheckpoints(wasi, checkpoints.save);

  let exitCode: number;
  try {
    const instance = new Wasm.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport });
    const { exports } = instance;
    if (!(exports['memory'] instanceof Wasm.Memory) || typeof exports['_start'] !== 'function') {
      return { ok: false, code: 'app_load_failed', message: `${bundle.entry} is not a WASI command: it must export "memory" and "_start"` };
    }
    exitCode = wasi.start(instance as Started);
  } catch (e) {
    if (e instanceof Wasm.LinkError) return { ok: false, code: 'app_load_failed', message: `${bundle.entry} imports what a WASI preview 1 program may not: ${message(e)}` };
    if (checkpoints.failed) return checkpoints.failed;
    return { ok: false, code: 'app_exception', message: `the program stopped: ${message(e)}` };
  } finally {
    stderr.end();
  }
  if (checkpoints.failed) return checkpoints.failed;
  if (exitCode !== 0) return { ok: false, code: 'app_exit', message: `the program exited with code ${exitCode}` };
  if (overflow) return { ok: false, code: 'bad_output', message: `the program wrote more than ${MAX_WASI_OUTPUT_BYTES} bytes to stdout` };

  let bytes: Uint8Array;
  if (input.outputFile !== undefined) {
    const f = root.dir.contents.get(input.outputFile);
    if (!(f instanceof File)) return { ok: false, code: 'bad_output', message: `the program left no file "${input.outputFile}" in its directory` };
    if (f.data.length > MAX_WASI_OUTPUT_BYTES) return { ok: false, code: 'bad_output', message: `"${input.outputFile}" has more than ${MAX_WASI_OUTPUT_BYTES} bytes` };
    bytes = f.data;
  } else bytes = concat(stdout);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, code: 'bad_output', message: 'the output is not UTF-8 text' };
  }
  if (!input.outputJson) return { ok: true, outputJson: canonicalJson(text) };
  try {
    return { ok: true, outputJson: canonicalJson(JSON.parse(text)) };
  } catch (e) {
    return { ok: false, code: 'bad_output', message: `the output is not JSON: ${message(e)}` };
  }
}

/** Replaces what would read the world: the clocks, sleeping, randomness. */
function deterministic(wasi: WASI, seedHex: string): void {
  const imports = wasi.wasiImport;
  const view = () => new DataView(wasi.inst.exports.memory.buffer);
  const words = seededWords(seedHex);
  // The seed's first word chooses the instant the realtime clock starts at; random_get then
  // reads the stream from its start, as ctx.random() does for a JavaScript app.
  const realtimeStart = EPOCH_NS + BigInt(Number.parseInt(seedHex.slice(0, 7), 16)) * 1_000_000_000n;
  let elapsed = 0n; // since the program started, in ns
  const now = (clock: number): bigint | undefined => {
    if (clock === defs.CLOCKID_REALTIME) return realtimeStart + elapsed;
    if (clock === defs.CLOCKID_MONOTONIC || clock === defs.CLOCKID_PROCESS_CPUTIME_ID || clock === defs.CLOCKID_THREAD_CPUTIME_ID) return elapsed;
    return undefined;
  };
  imports['clock_res_get'] = (clock: number, ptr: number) => {
    if (now(clock) === undefined) return defs.ERRNO_INVAL;
    view().setBigUint64(ptr, TICK_NS, true);
    return defs.ERRNO_SUCCESS;
  };
  imports['clock_time_get'] = (clock: number, _precision: bigint, ptr: number) => {
    elapsed += TICK_NS;
    const t = now(clock);
    if (t === undefined) return defs.ERRNO_INVAL;
    view().setBigUint64(ptr, t, true);
    return defs.ERRNO_SUCCESS;
  };
  imports['random_get'] = (ptr: number, len: number) => {
    const bytes = new Uint8Array(wasi.inst.exports.memory.buffer, ptr, len);
    for (let i = 0; i < len; i += 4) {
      const w = words();
      for (let k = 0; k < 4 && i + k < len; k++) bytes[i + k] = (w >>> (8 * k)) & 0xff;
    }
    return defs.ERRNO_SUCCESS;
  };
  // A sleep: one clock subscription, whose time passes at once. Nothing else can be waited for.
  imports['poll_oneoff'] = (inPtr: number, outPtr: number, count: number, neventsPtr: number) => {
    if (count !== 1) return defs.ERRNO_NOTSUP;
    const s = defs.Subscription.read_bytes(view(), inPtr);
    if (s.eventtype !== defs.EVENTTYPE_CLOCK) return defs.ERRNO_NOTSUP;
    const t = now(s.clockid);
    if (t === undefined) return defs.ERRNO_INVAL;
    const absolute = (s.flags & defs.SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
    const wait = absolute ? s.timeout - t : s.timeout;
    if (wait > 0n) elapsed += wait;
    new defs.Event(s.userdata, defs.ERRNO_SUCCESS, s.eventtype).write_bytes(view(), outPtr);
    view().setUint32(neventsPtr, 1, true);
    return defs.ERRNO_SUCCESS;
  };
  imports['proc_raise'] = () => {
    throw new WASIProcExit(128 + 6); // as a shell reports a program that raised SIGABRT
  };
}

/**
 * The checkpoint convention: whenever the program closes a file or renames one, and the file
 * `checkpoint` of its directory then holds bytes not saved yet, they are saved (a copy, so the
 * program may go on writing). Write `checkpoint.tmp` and rename it to `checkpoint`, and a
 * checkpoint is never half-written. On resume the last one saved is there before the program
 * starts.
 */
function checkpointSaver(root: PreopenDirectory, run: AppRun, host: TaskHost, resumed: Uint8Array | undefined) {
  const limits = run.checkpointLimits ?? DEFAULT_CHECKPOINT_LIMITS;
  let last = resumed;
  let total = 0;
  const state: { failed: AppOutcome | undefined; save: () => void } = {
    failed: undefined,
    save: () => {
      const f = root.dir.contents.get(CHECKPOINT_FILE);
      if (!(f instanceof File) || (last && same(last, f.data))) return;
      const json = JSON.stringify({ wasiCheckpoint: toBase64(f.data) });
      const size = new TextEncoder().encode(json).length;
      const over = checkpointOverLimit(size, total, limits);
      if (over) {
        state.failed = { ok: false, code: 'checkpoint_limit', message: over };
        throw new WASIProcExit(-1); // ends the program now; the failure above is the outcome
      }
      total += size;
      last = f.data.slice();
      // Not waited for: the program runs on, and the volunteer keeps the latest one it got.
      host.checkpoint(json).catch(() => {});
    },
  };
  return state;
}

function watchCheckpoints(wasi: WASI, save: () => void): void {
  const imports = wasi.wasiImport;
  for (const name of ['fd_close', 'path_rename'] as const) {
    const call = imports[name]!;
    imports[name] = (...args: unknown[]) => {
      const r = call(...args);
      save();
      return r;
    };
  }
}

function resumedCheckpoint(resume: string | undefined): Uint8Array | undefined {
  if (resume === undefined) return undefined;
  const saved = (JSON.parse(resume) as { wasiCheckpoint?: unknown }).wasiCheckpoint;
  return typeof saved === 'string' ? fromBase64(saved) : undefined;
}

/** stderr as the app's log: a line each (a last one without its newline too). */
function lines(log: (line: string) => void): { write: (chunk: Uint8Array) => void; end: () => void } {
  const decoder = new TextDecoder();
  let pending = '';
  return {
    write: (chunk) => {
      const parts = (pending + decoder.decode(chunk, { stream: true })).split('\n');
      pending = parts.pop()!;
      for (const p of parts) log(p);
    },
    end: () => {
      pending += decoder.decode();
      if (pending !== '') log(pending);
      pending = '';
    },
  };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
