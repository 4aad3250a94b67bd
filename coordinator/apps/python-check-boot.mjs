// Entry of the Python check's worker when the coordinator runs from TypeScript sources:
// registers tsx's loader in this thread (loader flags do not reach worker threads on Node 20).
import { register } from 'tsx/esm/api';

register();
await import('./python-check-worker.ts');
