// What the page's main thread and a sandbox worker say to each other, through Comlink.
import type { AppOutcome, CheckpointLimits, TaskHost } from '../../../app-runtime/run-app.js';

export interface WorkerJob {
  taskId: number;
  entry: string;
  /** Every file of the app version, already verified against its signed manifest. */
  files: Map<string, Uint8Array>;
  input: unknown;
  rngSeed: string;
  /** Canonical JSON of the last checkpoint, when resuming. */
  resume?: string;
  checkpointLimits?: CheckpointLimits;
}

export interface SandboxApi {
  run(job: WorkerJob, host: TaskHost): Promise<AppOutcome>;
  /** Answers as soon as the worker's event loop is free: how the page tells busy from idle. */
  ping(): true;
}
