// Hardens this realm (a worker thread or a Web Worker) with SES before any app code runs:
// shared intrinsics become frozen and the Function constructor is tamed. Call once, first.
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
  harden((globalThis as unknown as { WebAssembly: object }).WebAssembly);
  done = true;
}
