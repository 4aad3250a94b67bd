// The app runtime shared by the Node daemon and the browser volunteer: loads an app version's
// ES modules into a fresh SES Compartment and runs `run(input, ctx)`. The compartment's global
// object holds only the JavaScript intrinsics (without Date.now, Math.random or a working
// Function constructor), `WebAssembly` and a console that goes to the volunteer's log: no
// network, files, process, timers or host modules. docs/apps.md is the contract.
//
// The realm must be locked down first (lockdownRealm) and this must run in a thread of its
// own: SES confines what code can reach, not how long it runs or how much memory it takes.
import { ModuleSource } from '@endo/module-source';
import { canonicalJson } from '../protocol/canonical.js';
import { MAX_LOG_LINE_CHARS } from '../protocol/limits.js';
import type { AppKind } from '../protocol/app-kind.js';
import { seededRandom } from './prng.js';
import { TaskScope, taskWebAssembly } from './task-scope.js';

/** How much an app may checkpoint: each state, and all of one run's states together. */
export interface CheckpointLimits {
  bytes: number;
  totalBytes: number;
}
/** 16 MiB each (the one limit there was before volunteers could choose), and 64 of those for one run of a task. */
export const DEFAULT_CHECKPOINT_LIMITS: CheckpointLimits = { bytes: 16 * 1024 * 1024, totalBytes: 1024 * 1024 * 1024 };

/** Why a checkpoint of `bytes` may not be kept after `sofar` bytes of this task's, if it may not: one rule for every kind of app. */
export function checkpointOverLimit(bytes: number, sofar: number, limits: CheckpointLimits): string | undefined {
  if (bytes > limits.bytes) return `a checkpoint of ${bytes} bytes is over the volunteer's limit of ${limits.bytes} bytes`;
  if (sofar + bytes > limits.totalBytes) {
    return `this task's checkpoints would come to ${sofar + bytes} bytes, over the volunteer's limit of ${limits.totalBytes} bytes for one task`;
  }
  return undefined;
}
const MAX_LOG_LINES = 200;
const PROGRESS_INTERVAL_MS = 100;
const PROGRESS_PER_INTERVAL = 20;

export interface AppBundle {
  entry: string;
  /** Absent: a JavaScript module (protocol/app-kind.ts). */
  kind?: AppKind;
  /** Every file of the version by name, already checked against the signed manifest. */
  files: ReadonlyMap<string, Uint8Array>;
  /** The version's bundle hash: a worker keeps a Python interpreter for one version (run-python.ts). */
  version?: string;
}

export interface AppRun {
  input: unknown;
  rngSeed: string;
  /** Canonical JSON of the last checkpoint, when resuming. */
  resume?: string;
  /** The volunteer's; DEFAULT_CHECKPOINT_LIMITS when absent. */
  checkpointLimits?: CheckpointLimits;
}

/** What the runtime needs from the volunteer around it. */
export interface TaskHost {
  progress(fraction: number): void;
  /** Persists the state durably; the app waits for it. */
  checkpoint(stateJson: string): Promise<void>;
  log(level: 'debug' | 'info' | 'warn' | 'error', text: string): void;
}

/** `bad_input` is a WASI program's; `app_exit` (a non-zero exit code, in the message) a WASI program's or a Python app's. */
export type AppFailureCode = 'app_load_failed' | 'app_exception' | 'bad_output' | 'checkpoint_limit' | 'bad_input' | 'app_exit';

export type AppOutcome = { ok: true; outputJson: string } | { ok: false; code: AppFailureCode; message: string };

/**
 * Runs one task of an app to its end. Never throws: failures of the app are values. When it
 * returns, `scope` has ended: nothing the app left pending resumes (task-scope.ts).
 */
export async function runApp(bundle: AppBundle, run: AppRun, host: TaskHost, scope = new TaskScope()): Promise<AppOutcome> {
  try {
    return await runIn(scope, bundle, run, host);
  } finally {
    scope.end();
  }
}

async function runIn(scope: TaskScope, bundle: AppBundle, run: AppRun, host: TaskHost): Promise<AppOutcome> {
  // One console for the module code and ctx.log: they share the run's line budget.
  const console = appConsole(host);
  let entry: unknown;
  try {
    const compartment = appCompartment(bundle, console, taskWebAssembly(scope));
    const { namespace } = await compartment.import(bundle.entry);
    entry = (namespace as { default?: unknown }).default;
  } catch (e) {
    return { ok: false, code: 'app_load_failed', message: describe(e) };
  }
  if (typeof entry !== 'function') {
    return { ok: false, code: 'app_load_failed', message: `${bundle.entry} must export default async function run(input, ctx)` };
  }

  // A limit the runtime checks itself ends the task at once, whatever the app does about it:
  // the scope ends (nothing of the app resumes) and the run finishes with the failure.
  let stopped: AppOutcome | undefined;
  let stop!: () => void;
  const stopping = new Promise<void>((resolve) => (stop = resolve));
  const fail = (code: AppFailureCode, message: string) => {
    if (stopped) return;
    stopped = { ok: false, code, message };
    scope.end();
    stop();
  };

  let output: unknown;
  try {
    const { ctx, flushProgress } = makeCtx(scope, bundle, run, host, console, fail);
    try {
      output = await Promise.race([(entry as (input: unknown, ctx: unknown) => unknown)(run.input, ctx), stopping]);
    } finally {
      flushProgress();
    }
  } catch (e) {
    return stopped ?? { ok: false, code: 'app_exception', message: describe(e) };
  }
  if (stopped) return stopped;
  try {
    return { ok: true, outputJson: canonicalJson(output) };
  } catch (e) {
    return { ok: false, code: 'bad_output', message: `the output is not JSON: ${describe(e)}` };
  }
}

function appCompartment(bundle: AppBundle, console: object, WebAssembly: object): Compartment {
  return new Compartment({
    __options__: true,
    name: 'app',
    globals: { WebAssembly, console },
    // Files are flat: "./util.js" names the version's own util.js and nothing else does.
    resolveHook: (specifier: string) => {
      const name = /^\.\/([A-Za-z0-9_][A-Za-z0-9._-]*)$/.exec(specifier)?.[1];
      if (name === undefined || !bundle.files.has(name)) {
        throw new Error(`app code may import only its own files, as "./name.js"; "${specifier}" is not one`);
      }
      return name;
    },
    importHook: async (name: string) => {
      const bytes = bundle.files.get(name);
      if (!bytes || !/\.m?js$/.test(name)) throw new Error(`"${name}" is not a JavaScript file of this app version`);
      // Named app:main.js in stack frames, the names redact-paths.ts keeps.
      return new ModuleSource(new TextDecoder('utf-8', { fatal: true }).decode(bytes), `app:${name}`);
    },
  });
}

function makeCtx(
  scope: TaskScope,
  bundle: AppBundle,
  run: AppRun,
  host: TaskHost,
  console: AppConsole,
  fail: (code: AppFailureCode, message: string) => void,
): { ctx: object; flushProgress: () => void } {
  const random = seededRandom(run.rngSeed);
  const limits = run.checkpointLimits ?? DEFAULT_CHECKPOINT_LIMITS;
  let checkpointed = 0; // bytes handed to the volunteer by this run
  // An app may call progress in a tight loop: pass on a few updates per interval, no more.
  let windowStart = -Infinity;
  let inWindow = 0;
  let dropped: number | undefined; // the latest update held back, delivered at the end
  const flushProgress = () => {
    if (dropped !== undefined) host.progress(dropped);
    dropped = undefined;
  };
  const ctx = Object.freeze({
    resume: run.resume === undefined ? undefined : (JSON.parse(run.resume) as unknown),
    random: () => random(),
    log: console.log,
    progress: (fraction: unknown) => {
      if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return;
      const now = Date.now(); // the host realm's clock; the app has none
      if (now - windowStart >= PROGRESS_INTERVAL_MS) {
        windowStart = now;
        inWindow = 0;
      }
      const clamped = Math.min(1, Math.max(0, fraction));
      if (++inWindow > PROGRESS_PER_INTERVAL) {
        dropped = clamped;
        return;
      }
      dropped = undefined;
      host.progress(clamped);
    },
    file: (name: unknown) =>
      scope.settle(async () => {
        const bytes = typeof name === 'string' ? bundle.files.get(name) : undefined;
        if (!bytes) throw new Error(`this app version has no file ${JSON.stringify(name)}`);
        return bytes.slice(); // a copy: one task cannot change what the next one reads
      }),
    checkpoint: (state: unknown) =>
      scope.settle(async () => {
        const json = canonicalJson(state);
        const bytes = new TextEncoder().encode(json).length;
        const over = checkpointOverLimit(bytes, checkpointed, limits);
        if (over) return fail('checkpoint_limit', over);
        checkpointed += bytes;
        await host.checkpoint(json);
      }),
  });
  return { ctx, flushProgress };
}

export type AppConsole = Readonly<Record<'log' | 'info' | 'debug' | 'warn' | 'error', (...args: unknown[]) => void>>;

/** The app's console: its lines go to the volunteer's log, at most MAX_LOG_LINES of them a run. */
export function appConsole(host: TaskHost): AppConsole {
  let lines = 0;
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    if (++lines > MAX_LOG_LINES) {
      // Said once, so that the log shows it was cut rather than ending early.
      if (lines === MAX_LOG_LINES + 1) host.log('warn', `(the app logged more than ${MAX_LOG_LINES} lines in this run; the rest are not kept)`);
      return;
    }
    host.log(level, args.map(text).join(' ').slice(0, MAX_LOG_LINE_CHARS));
  };
  return harden({ log: at('info'), info: at('info'), debug: at('debug'), warn: at('warn'), error: at('error') });
}

function text(v: unknown): string {
  try {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** An app's error, whatever it threw, as a short message (calling its code can throw too). */
function describe(e: unknown): string {
  try {
    if (e instanceof Error) {
      // The app's own frame nearest to it (the host may have thrown it): the host's frames say
      // nothing to the app's author.
      const frame = (e.stack ?? '').split('\n').find((l) => /^\s+at .*\bapp:[\w.-]+:\d+:\d+/.test(l))?.trim();
      return frame ? `${e.name}: ${e.message} (${frame})` : `${e.name}: ${e.message}`;
    }
    return `threw ${text(e)}`;
  } catch {
    return 'threw a value that cannot be described';
  }
}
