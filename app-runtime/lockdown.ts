// Hardens this realm (a worker thread or a Web Worker) with SES before any app code runs:
// shared intrinsics become frozen and the Function constructor is tamed. Call once, first.
import './utc-date.js'; // before SES, which builds the compartments' Date from the realm's
import 'ses';

let done = false;

export function lockdownRealm(): void {
  if (done) return;
  lockdown({
    errorTaming: 'unsafe', // keep stack traces for app authors' error reports
    overrideTaming: 'severe', // libraries loaded before lockdown may assign to inherited properties
    consoleTaming: 'unsafe',
    stackFiltering: 'concise',
    // An app's unhandled rejection is its own failure, not the volunteer's: don't kill the thread.
    errorTrapping: 'none',
    unhandledRejectionTrapping: 'none',
  });
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => { buffer: object } } }).WebAssembly;
  harden(wasm);
  // Not a global of compartments, but reachable through shared WebAssembly memory; harden it
  // so no task can leave state on it for the next.
  harden(new wasm.Memory({ initial: 0, maximum: 1, shared: true }).buffer.constructor);
  done = true;
}
