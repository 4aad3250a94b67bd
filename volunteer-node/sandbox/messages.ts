// Messages between the daemon's main thread and a sandbox worker thread.
import type { AppOutcome, CheckpointLimits } from '../../app-runtime/run-app.js';
import type { AppKind } from '../../protocol/app-kind.js';

export interface RunJob {
  type: 'run';
  taskId: number;
  entry: string;
  kind?: AppKind;
  /** The app version: a thread keeps a Python interpreter for the tasks of one version. */
  appVersionHash?: string;
  files: [name: string, bytes: Uint8Array][];
  input: unknown;
  rngSeed: string;
  resume?: string;
  checkpointLimits?: CheckpointLimits;
}

export type ToWorker = RunJob | { type: 'checkpointed'; seq: number; error?: string };

export type FromWorker =
  /** `tid`: the OS thread id, so the main thread can read this thread's CPU time. */
  | { type: 'ready'; tid: number | null }
  /**
   * After 'done', once no app code of the last task is left running. `leftPending`: host work
   * it started that is still going on off the thread (a WebAssembly compilation); it can no
   * longer resume app code, but it uses CPU, so the worker is replaced rather than reused.
   */
  | { type: 'idle'; leftPending: number }
  | { type: 'progress'; taskId: number; fraction: number }
  | { type: 'checkpoint'; taskId: number; seq: number; stateJson: string }
  | { type: 'log'; taskId: number; level: 'debug' | 'info' | 'warn' | 'error'; text: string }
  | { type: 'done'; taskId: number; outcome: AppOutcome };
