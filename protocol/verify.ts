// What a volunteer checks before it runs anything: shared by the Node daemon and the browser.
import type { Ed25519 } from './ed25519.js';
import { jsonHash, sha256Hex } from './hash.js';
import { AppManifestSchema, type AppManifest, type SignedTaskList, type Task, type UnsignedTask } from './messages.js';
import { inputMatches, taskBody, verifyBody } from './signing.js';

/** Why a task of protocol 2 (signed on its own) must not run, or undefined when it verifies. Inline inputs are checked too. */
export function taskProblem(ed: Ed25519, coordinatorKey: string, hostKey: string, task: Task): string | undefined {
  if (!verifyBody(ed, coordinatorKey, 'task', taskBody(task), task.signature)) return 'the task signature does not verify with the coordinator key';
  return ownTaskProblem(hostKey, task);
}

/**
 * Protocol 3: why each task of a reply must not run (undefined for those that may), given the
 * reply's task list. One signature check for the reply; each task must hash to the list's entry at
 * its place, so a task changed, added, dropped or moved is refused.
 */
export function listedTaskProblems(
  ed: Ed25519,
  coordinatorKey: string,
  hostKey: string,
  tasks: readonly UnsignedTask[],
  list: SignedTaskList | undefined,
): (string | undefined)[] {
  const whole = taskListProblem(ed, coordinatorKey, hostKey, tasks.length, list);
  return tasks.map((t, i) => {
    if (whole) return whole;
    if (jsonHash(taskBody(t)) !== list!.taskHashes[i]) return `task ${t.taskId} is not the one the task list signs at its place`;
    return ownTaskProblem(hostKey, t);
  });
}

function taskListProblem(ed: Ed25519, coordinatorKey: string, hostKey: string, count: number, list: SignedTaskList | undefined): string | undefined {
  if (!list) return 'the reply has no task list to verify its tasks with';
  const { taskHashes, signature } = list;
  if (!verifyBody(ed, coordinatorKey, 'taskList', { hostKey: list.hostKey, taskHashes }, signature)) return 'the task list signature does not verify with the coordinator key';
  if (list.hostKey !== hostKey) return 'the task list was issued to another host';
  if (taskHashes.length !== count) return `the task list signs ${taskHashes.length} tasks, the reply has ${count}`;
  return undefined;
}

/** What a task must be whatever signed it: for this host, its inline input the one it names. */
function ownTaskProblem(hostKey: string, task: UnsignedTask): string | undefined {
  if (task.hostKey !== hostKey) return 'the task was issued to another host';
  if (task.input !== undefined && !inputMatches(task.input, task.inputHash)) return 'the inline input does not match inputHash';
  return undefined;
}

export interface SignedAppVersion {
  bundleHash: string;
  manifest: unknown;
  signature: string;
}

/** Checks an app version document: its hash is the one asked for, and the coordinator signed it. */
export function appVersionProblem(
  ed: Ed25519,
  coordinatorKey: string,
  expectedHash: string,
  v: SignedAppVersion,
): { manifest: AppManifest } | { problem: string } {
  const parsed = AppManifestSchema.safeParse(v.manifest);
  if (!parsed.success) return { problem: 'the app manifest is malformed' };
  if (jsonHash(parsed.data) !== expectedHash) return { problem: 'the app manifest does not hash to the bundle hash of the task' };
  if (!verifyBody(ed, coordinatorKey, 'appVersion', parsed.data, v.signature)) return { problem: 'the app version signature does not verify with the coordinator key' };
  return { manifest: parsed.data };
}

/** Checks a downloaded file against its manifest entry. */
export function fileProblem(entry: { name: string; sha256: string; size: number }, bytes: Uint8Array): string | undefined {
  if (bytes.length !== entry.size) return `file ${entry.name} has ${bytes.length} bytes, the manifest says ${entry.size}`;
  if (sha256Hex(bytes) !== entry.sha256) return `file ${entry.name} does not match its SHA-256`;
  return undefined;
}
