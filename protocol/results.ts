// How a volunteer turns a finished task into a signed result.
import type { Ed25519 } from './ed25519.js';
import { jsonHash } from './hash.js';
import type { Result, ResultBody, TaskBody } from './messages.js';
import { signBody } from './signing.js';

export type Outcome = { output: unknown; inline?: boolean } | { error: { code: string; message: string } };

/**
 * Builds and signs a result for a task. With `inline: false` the output is left out of the
 * message: upload it first with PUT /files/{outputHash}.
 */
export function buildResult(
  ed: Ed25519,
  hostSeedHex: string,
  task: Pick<TaskBody, 'taskId' | 'workunitId' | 'hostKey'>,
  outcome: Outcome,
  timing: { cpuTimeMs: number; elapsedMs: number } = { cpuTimeMs: 0, elapsedMs: 0 },
): Result {
  const body: ResultBody =
    'error' in outcome
      ? { taskId: task.taskId, workunitId: task.workunitId, hostKey: task.hostKey, outcome: 'error', error: outcome.error, ...timing }
      : { taskId: task.taskId, workunitId: task.workunitId, hostKey: task.hostKey, outcome: 'success', outputHash: jsonHash(outcome.output), ...timing };
  const signature = signBody(ed, hostSeedHex, 'result', body);
  const result: Result = { ...body, signature };
  if ('output' in outcome && outcome.inline !== false) result.output = outcome.output as Result['output'];
  return result;
}
