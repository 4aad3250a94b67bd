// Entry of a sandbox worker when the daemon runs from TypeScript sources: registers tsx's
// loader in this thread (loader flags do not reach worker threads on Node 20), then loads
// the real entry.
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
