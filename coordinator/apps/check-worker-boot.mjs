// Entry of a check worker (check-worker.ts) when the coordinator runs from TypeScript sources:
// registers tsx's loader in this thread (loader flags do not reach worker threads on Node 20),
// then loads the worker's module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
