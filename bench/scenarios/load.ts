// The shape of the load at full throughput, shared by the throughput, latency and ceiling runs
// so they are driven the same way: one client process per core, a few dozen hosts, each asking
// for a few dozen tasks at a time and reporting them in one message. The --hosts and
// --tasks-per-message flags change it (the daemon asks for threads + prefetch at a time).
import { availableParallelism } from 'node:os';

export interface Load {
  processes: number;
  hosts: number;
  /** Tasks asked for per tasks.request, and so results per results.report. */
  tasksPerMessage: number;
}

export const DEFAULT_LOAD: Load = {
  processes: Math.max(2, availableParallelism()),
  hosts: 32,
  tasksPerMessage: 32,
};
