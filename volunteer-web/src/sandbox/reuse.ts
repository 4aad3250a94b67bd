// When the page's sandbox worker that ran a task may run the next one: the rule of
// docs/architecture.md ("The page reuses a sandbox worker for tasks of one app version"), pure.
//
// A worker is kept only when nothing of its last task can run in, or be charged to, the next:
// the task's run returned by itself (so app-runtime's task scope has ended, and no host
// capability resumes the app again), the worker then reached its next turn of the event loop
// within a second (so the promise jobs the app left had drained: nothing of it is running, and
// nothing can start it again), and no WebAssembly compilation of the task was still going on
// then (it would take CPU from the next).
// Everything else ends with its worker: a task stopped for its time limit, for waiting
// forever, by an abort or a pause (the page stops them by terminating the worker), one over a
// checkpoint limit, a worker that does not answer in time.
//
// A kept worker runs only tasks of the app version it ran: whatever a task could still leave
// in its realm through what SES cannot freeze (the engine's caches, timing) then reaches only
// the same researcher's app, which sees all of that app's inputs anyway. After
// MAX_TASKS_PER_WORKER tasks a worker is replaced too, so a realm never grows old.

/** Tasks one worker runs at most: a fresh one costs about 0.2 s, 0.04 % of this many 1-second tasks. */
export const MAX_TASKS_PER_WORKER = 500;

/** Codes of a task whose run returned on its own, with the app's failure (the last two are a WASI program's). */
const RETURNED = new Set(['app_load_failed', 'app_exception', 'bad_output', 'app_exit', 'bad_input']);

/** Whether the worker may be kept after its task ended with this outcome (then it depends on whether it drained). */
export function mayKeep(outcome: { ok: true } | { ok: false; code: string }): boolean {
  return outcome.ok || RETURNED.has(outcome.code);
}

/** What the worker said once the promise jobs of its last task had drained; 'late' when it did not say it in time. */
export type Drained = { leftPending: number } | 'late';

export type AfterDrain = { keep: true } | { keep: false; leftover: string | undefined };

/** After a task that may be kept: keep the worker, or replace it (`leftover`: what the task did after it ended, if that is why). */
export function afterDrain(drained: Drained, tasksRun: number): AfterDrain {
  if (drained === 'late') return { keep: false, leftover: 'kept computing' };
  if (drained.leftPending > 0) return { keep: false, leftover: 'left a WebAssembly compilation running' };
  if (tasksRun >= MAX_TASKS_PER_WORKER) return { keep: false, leftover: undefined };
  return { keep: true };
}

/** Whether a worker that ran tasks of `ran` (undefined: none yet) may run a task of `version`. */
export function fits(ran: string | undefined, version: string): boolean {
  return ran === undefined || ran === version;
}
