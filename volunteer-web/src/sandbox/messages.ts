// What the page's main thread and a sandbox worker say to each other, through Comlink.
import type { AppOutcome, CheckpointLimits, TaskHost } from '../../../app-runtime/run-app.js';
import type { AppKind } from '../../../protocol/app-kind.js';

export interface WorkerJob {
  taskId: number;
  /** The app version's hash: a worker runs tasks of one version only (reuse.ts). */
  appVersionHash: string;
  entry: string;
  kind?: AppKind;
  /** Every file of the app version, already verified against its signed manifest. */
  files: Map<string, Uint8Array>;
  input: unknown;
  rngSeed: string;
  /** Canonical JSON of the last checkpoint, when resuming. */
  resume?: string;
  checkpointLimits?: CheckpointLimits;
}

export interface SandboxApi {
  /** Runs one task; refused while another runs. */
  run(job: WorkerJob, host: TaskHost): Promise<AppOutcome>;
  /**
   * Answered once the task running (or last run) has ended and the promise jobs it left have
   * drained, in the worker's next turn of its event loop: `leftPending`, host work it started
   * that still goes on off the thread then (a WebAssembly compilation), which can no longer
   * resume the app but takes CPU. Asked as the task is posted, so that nothing but the worker's
   * own event loop comes between the task's end and the answer.
   */
  drained(): Promise<{ leftPending: number }>;
  /** Answers as soon as the worker's event loop is free: how the page tells busy from idle. */
  ping(): true;
}
