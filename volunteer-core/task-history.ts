// A volunteer's task list, as BOINC Manager's Tasks tab shows it: each task it was given, where
// it stands (fetched, running, reporting), and once over what came of it (valid and its credit,
// invalid, an error and why, pending validation, not taken, aborted, handed back). Pure rules:
// the page keeps the records in IndexedDB and the daemon in a file, and both feed them what the
// task engine says happened.
import { z } from 'zod';
import { creditAmount, creditUnits } from '../protocol/ledger.js';
import type { CreditReceipt, ResultAck, ResultVerdict } from '../protocol/messages.js';

export type TaskState =
  /** Verified and journalled, waiting for a sandbox (or its app). */
  | 'fetched'
  | 'running'
  /** Over here; its signed result waits to be reported. */
  | 'reporting'
  /** Reported; the coordinator has not judged it yet (or has not said). */
  | 'pending'
  | 'valid'
  | 'invalid'
  | 'error'
  /** The coordinator did not take the result (the work unit was over, or it was refused). */
  | 'not_taken'
  | 'aborted'
  | 'given_back';

export const TASK_STATES = ['fetched', 'running', 'reporting', 'pending', 'valid', 'invalid', 'error', 'not_taken', 'aborted', 'given_back'] as const satisfies readonly TaskState[];

export const ACTIVE_STATES: ReadonlySet<TaskState> = new Set(['fetched', 'running', 'reporting']);

export interface TaskRecord {
  taskId: number;
  workunitId: number;
  project: string;
  app: string;
  state: TaskState;
  receivedAt: number;
  deadline: number;
  /** Time computing in runs that ended (a resumed task adds up its runs). */
  elapsedMs: number;
  progress: number;
  finishedAt?: number;
  /** For 'error' and 'not_taken': the code and message; for 'aborted' and 'given_back': why. */
  error?: { code: string; message: string };
  /** For 'valid' (and a revoked grant): the credit its receipts add up to. */
  credit?: number;
}

const Err = z.object({ code: z.string().max(200), message: z.string().max(4000) });

/** A record as the page (IndexedDB) and the daemon (a file) read it back: one that does not match is left out. */
export const TaskRecordSchema = z.object({
  taskId: z.number().int().positive(),
  workunitId: z.number().int().positive(),
  project: z.string().max(200),
  app: z.string().max(200),
  state: z.enum(TASK_STATES),
  receivedAt: z.number(),
  deadline: z.number(),
  elapsedMs: z.number().nonnegative(),
  progress: z.number().min(0).max(1),
  finishedAt: z.number().optional(),
  error: Err.optional(),
  credit: z.number().optional(),
});

export const recordFor = (task: { taskId: number; workunitId: number; project: string; app: string; deadline: number }, now: number): TaskRecord => ({
  taskId: task.taskId,
  workunitId: task.workunitId,
  project: task.project,
  app: task.app,
  state: 'fetched',
  receivedAt: now,
  deadline: task.deadline,
  elapsedMs: 0,
  progress: 0,
});

/** A run ended: its result is signed (success or error), to be reported. */
export function finishedRun(r: TaskRecord, run: { elapsedMs: number; error?: { code: string; message: string } }, now: number): TaskRecord {
  const { error: _error, ...rest } = r;
  return { ...rest, state: 'reporting', elapsedMs: r.elapsedMs + run.elapsedMs, finishedAt: now, ...(run.error ? { error: run.error, progress: r.progress } : { progress: 1 }) };
}

/** The coordinator answered for the result. */
export function acknowledged(r: TaskRecord, ack: Pick<ResultAck, 'status' | 'error'>, now: number): TaskRecord {
  if (ack.status === 'rejected') return { ...r, state: 'not_taken', finishedAt: r.finishedAt ?? now, error: ack.error ?? { code: 'rejected', message: 'the coordinator did not take the result' } };
  // An error result is over once reported; a success waits for its quorum (credit or not).
  if (r.error) return { ...r, state: 'error' };
  // Credit may have come before the acknowledgement (a report cut short and sent again).
  return r.state === 'valid' || r.state === 'invalid' ? r : { ...r, state: 'pending' };
}

/**
 * What the coordinator told of a reported result (results.verdicts, or pushed with
 * results.judged): valid, or invalid (it lost its quorum vote: "Completed, marked as invalid").
 * It changes only a success still waiting for its verdict — one being reported too, since a push
 * may come before the report's acknowledgement; the receipts, signed, have the last word on credit.
 */
export function judged(r: TaskRecord, verdict: ResultVerdict): TaskRecord {
  if (r.error || (r.state !== 'pending' && r.state !== 'reporting')) return r;
  if (verdict === 'invalid' || verdict === 'valid') return { ...r, state: verdict };
  return r;
}

/** Tasks whose results wait for their verdict: what the engine asks about (awaitingVerdict). */
export const awaitingVerdict = (records: Iterable<Pick<TaskRecord, 'taskId' | 'state'>>): number[] => [...records].filter((r) => r.state === 'pending').map((r) => r.taskId);

/**
 * What this host's receipts say of its tasks: a task with a grant is valid (credit: the sum of
 * its receipts); one whose later entries took everything back is invalid.
 */
export function creditOutcomes(receipts: Iterable<Pick<CreditReceipt, 'taskId' | 'amount'>>): Map<number, { state: 'valid' | 'invalid'; credit: number }> {
  const byTask = new Map<number, { granted: boolean; taken: boolean; units: number }>();
  for (const r of receipts) {
    const t = byTask.get(r.taskId) ?? { granted: false, taken: false, units: 0 };
    if (r.amount >= 0) t.granted = true;
    else t.taken = true;
    t.units += creditUnits(r.amount);
    byTask.set(r.taskId, t);
  }
  const out = new Map<number, { state: 'valid' | 'invalid'; credit: number }>();
  for (const [taskId, t] of byTask) {
    if (!t.granted) continue;
    out.set(taskId, { state: t.taken && t.units <= 0 ? 'invalid' : 'valid', credit: creditAmount(Math.max(0, t.units)) });
  }
  return out;
}

/** A task as its receipts say (creditOutcomes): valid and its credit, or invalid; unchanged if it says so already. */
export function credited(r: TaskRecord, o: { state: 'valid' | 'invalid'; credit: number }, now: number): TaskRecord {
  return r.state === o.state && r.credit === o.credit ? r : { ...r, state: o.state, credit: o.credit, finishedAt: r.finishedAt ?? now };
}

/**
 * Time left for a running or waiting task, in ms, or undefined when there is nothing to go by.
 * From its own progress once it has some (elapsed × (1 − p) / p, BOINC's "dynamic" estimate);
 * before that, from the median time the same app's finished tasks took here.
 */
export function remainingMs(r: Pick<TaskRecord, 'app' | 'progress' | 'state'>, elapsedMs: number, history: readonly Pick<TaskRecord, 'app' | 'state' | 'elapsedMs' | 'error'>[]): number | undefined {
  if (!ACTIVE_STATES.has(r.state) || r.state === 'reporting') return r.state === 'reporting' ? 0 : undefined;
  if (r.progress >= 0.01 && elapsedMs > 0) return (elapsedMs * (1 - r.progress)) / r.progress;
  const done = history.filter((h) => h.app === r.app && !h.error && h.elapsedMs > 0 && !ACTIVE_STATES.has(h.state)).map((h) => h.elapsedMs).sort((a, b) => a - b);
  if (done.length === 0) return undefined;
  return Math.max(0, done[Math.floor(done.length / 2)]! - elapsedMs);
}

/**
 * Which records to drop to keep at most `max`: the oldest of those that are over. Tasks still
 * held are kept whatever their number (the engine holds few).
 */
export function overflow(records: readonly TaskRecord[], max: number): number[] {
  if (records.length <= max) return [];
  return records
    .filter((r) => !ACTIVE_STATES.has(r.state))
    .sort((a, b) => (a.finishedAt ?? a.receivedAt) - (b.finishedAt ?? b.receivedAt) || a.taskId - b.taskId)
    .slice(0, records.length - max)
    .map((r) => r.taskId);
}

/**
 * A task list in memory: a record per task, the latest `max` kept (overflow). The page and the
 * daemon each keep it their own way (stored: IndexedDB, a file).
 */
export abstract class TaskList {
  protected readonly records = new Map<number, TaskRecord>();

  constructor(private readonly max: number) {}

  get(taskId: number): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** Newest first. */
  list(): TaskRecord[] {
    return [...this.records.values()].sort((a, b) => b.receivedAt - a.receivedAt || b.taskId - a.taskId);
  }

  /** Stores a record (new or changed), then drops the oldest finished ones past the most kept. */
  put(r: TaskRecord): void {
    this.records.set(r.taskId, r);
    const dropped = overflow([...this.records.values()], this.max);
    for (const id of dropped) this.records.delete(id);
    this.stored(r, dropped);
  }

  /** Changes a record that exists; returns it. */
  update(taskId: number, change: (r: TaskRecord) => TaskRecord): TaskRecord | undefined {
    const r = this.records.get(taskId);
    if (!r) return undefined;
    const next = change(r);
    if (next !== r) this.put(next);
    return next;
  }

  /** A record was stored (new or changed) and the tasks `dropped` were let go: keep it so. */
  protected abstract stored(r: TaskRecord, dropped: readonly number[]): void;
}

/** What an error code means, in the words a volunteer reads (docs/apps.md and docs/protocol.md). */
const ERROR_WORDS: Record<string, string> = {
  app_exception: 'the app threw an error (a bug in the app or its input; another volunteer gets the task)',
  cpu_limit: 'the task computed longer than your limit allows (Settings › Advanced › Stop a task after)',
  app_stalled: 'the app waited for something that could never happen, so it was stopped',
  worker_crashed: 'the browser’s sandbox worker failed while running it (often: out of memory)',
  checkpoint_limit: 'the app wrote more checkpoint data than your storage limits allow',
  bad_signature: 'the task or its app did not carry a valid signature of the coordinator, so it never ran',
  hash_mismatch: 'a downloaded file was not what the coordinator signed, so it never ran',
  download_failed: 'its app or input could not be downloaded',
  bad_output: 'the app returned something that is not JSON',
  output_too_large: 'the output was larger than the coordinator accepts',
  upload_refused: 'the coordinator refused the upload of its output',
  workunit_finished: 'other volunteers had finished the work unit already; no credit is lost by that',
  aborted: 'the task was withdrawn before the result arrived',
  not_assigned: 'the coordinator no longer counted this task as this computer’s',
  conflict: 'the coordinator had another result for this task',
};

export function explainError(code: string): string {
  return ERROR_WORDS[code] ?? 'the task failed here and goes to another volunteer';
}
