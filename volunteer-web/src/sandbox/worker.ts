// A sandbox Web Worker: locks its realm down with SES once, then runs one task at a time in a
// fresh Compartment with app-runtime/run-app.ts, exactly as the Node volunteer's worker threads
// do. The page enforces time limits from outside by terminating this worker.
import * as Comlink from 'comlink';
import { lockdownRealm } from '../../../app-runtime/lockdown.js';
import { runApp } from '../../../app-runtime/run-app.js';
import type { SandboxApi } from './messages.js';

lockdownRealm();
// A promise an app rejects and never handles is its own business, not the worker's end.
addEventListener('unhandledrejection', (e) => e.preventDefault());

const api: SandboxApi = {
  async run(job, host) {
    try {
      return await runApp(
        { entry: job.entry, files: job.files },
        {
          input: job.input,
          rngSeed: job.rngSeed,
          ...(job.resume === undefined ? {} : { resume: job.resume }),
          ...(job.checkpointLimits === undefined ? {} : { checkpointLimits: job.checkpointLimits }),
        },
        host,
      );
    } finally {
      // The host callbacks came as a Comlink proxy: close its port, or every task leaks one.
      (host as Partial<Comlink.ProxyMethods>)[Comlink.releaseProxy]?.();
    }
  },
  ping: () => true,
};

Comlink.expose(api);
