// Hardens this realm (a worker thread or a Web Worker) with SES before any app code runs:
// shared intrinsics become frozen and the Function constructor is tamed. Call once, first.
import './utc-date.js'; // before SES, which builds the compartments' Date from the realm's
import 'ses';
import { redactPaths } from './redact-paths.js';

let done = false;

export function lockdownRealm(): void {
  if (done) return;
  // The realm's one stack-trace hook, which V8 reads from this Error: frames keep the app's
  // module names and lose the volunteer's paths, which app code could otherwise read and send.
  // An accessor, because SES assigns its own hook and then freezes Error; this keeps ours.
  Object.defineProperty(Error, 'prepareStackTrace', { get: () => stackWithoutPaths, set: () => {}, enumerable: false, configurable: false });
  lockdown({
    errorTaming: 'unsafe', // keep stack traces for app authors' error reports
    overrideTaming: 'severe', // libraries loaded before lockdown may assign to inherited properties
    consoleTaming: 'unsafe',
    stackFiltering: 'concise',
    // An app's unhandled rejection is its own failure, not the volunteer's: don't kill the thread.
    errorTrapping: 'none',
    unhandledRejectionTrapping: 'none',
    // Lockdown reports what it did: chiefly the intrinsics it removed because SES does not know
    // them (Chromium 156 has Iterator.prototype.join and .includes, newer than this SES), a
    // warning each, in the volunteer's console on the page. They are removed all the same;
    // only the report is silenced (the daemon dropped its workers' output anyway). No
    // report ever changed what app code can reach.
    reporting: 'none',
  });
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => { buffer: object } } }).WebAssembly;
  harden(wasm);
  // Not a global of compartments, but reachable through shared WebAssembly memory; harden it
  // so no task can leave state on it for the next.
  harden(new wasm.Memory({ initial: 0, maximum: 1, shared: true }).buffer.constructor);
  done = true;
}

/** V8's call sites; only what is safe to show is used. */
interface CallSite {
  getScriptNameOrSourceURL(): unknown;
  toString(): string;
}

function stackWithoutPaths(error: unknown, frames: CallSite[]): string {
  let head: string;
  try {
    head = String(error);
  } catch {
    head = 'Error'; // an app's error whose toString throws
  }
  const lines = frames
    .filter((f) => !String(f.getScriptNameOrSourceURL()).includes('/node_modules/')) // SES and libraries: noise
    .map((f) => `\n  at ${redactPaths(String(f))}`);
  return head + lines.join('');
}
