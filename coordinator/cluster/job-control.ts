// How the event sources of a background job reach it, wherever it runs. A host caught by a
// sentinel, a lowered credit cap or priority bound is recorded in the transaction that decides
// it; the job is then kicked. In a coordinator the job runs under a lease (cluster/
// singleton-jobs.ts): a kick runs a turn at once where this instance holds it, and is nothing
// elsewhere, since the holder finds the recorded work at its next turn. A core on its own runs
// the job by itself, unfenced.
import { UNFENCED, type Fence } from './fence.js';

/** The jobs whose work arrives as events (the rest only run on their own time). */
export type KickedJob = 'host-recheck' | 'credit-correction' | 'priority-lowering';

export interface JobControl {
  /** A turn soon, where this instance runs the job. */
  kick(): void;
  /** For a write made for the job outside its turns (a request's first chunk): false where another instance runs it. */
  fence: Fence;
}

export interface JobControls {
  control(job: KickedJob): JobControl;
}

/** The job run in this process by `run`, its failures told to `onError`. */
export function localControl(run: () => Promise<void>, onError: (e: unknown) => void): JobControl {
  return { kick: () => void run().catch(onError), fence: UNFENCED };
}
