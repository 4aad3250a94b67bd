// How a volunteer turns a finished task into a signed result.
import type { Ed25519 } from './ed25519.js';
import type { AppLog } from './app-log.js';
import { jsonHash } from './hash.js';
import { MAX_MEASURED_MS } from './limits.js';
import type { Result, ResultBody, TaskBody } from './messages.js';
import { signBody } from './signing.js';

/** A task either produced an output or failed with an error, never both (the schema refuses both). */
export type Outcome =
  | { output: unknown; inline?: boolean; error?: never }
  | { error: { code: string; message: string }; output?: never; inline?: never };

/**
 * Builds and signs a result for a task. With `inline: false` the output is left out of the
 * message: upload it first with PUT /files/{outputHash}.
 */
export function buildResult(
  ed: Ed25519,
  hostSeedHex: string,
  task: Pick<TaskBody, 'taskId' | 'workunitId' | 'hostKey'>,
  outcome: Outcome,
  measuredMs: { cpuTimeMs: number; elapsedMs: number } = { cpuTimeMs: 0, elapsedMs: 0 },
  log?: AppLog,
): Result {
  const { taskId, workunitId, hostKey } = task;
  const timing = { cpuTimeMs: measured(measuredMs.cpuTimeMs), elapsedMs: measured(measuredMs.elapsedMs) };
  const logged = log && log.lines.length > 0 ? { log: log.lines, ...(log.omitted > 0 ? { logOmitted: log.omitted } : {}) } : {};
  if (outcome.error !== undefined) {
    // An error carries no output, even from a caller that passed one along.
    const body: ResultBody = { taskId, workunitId, hostKey, outcome: 'error', error: outcome.error, ...timing, ...logged };
    return { ...body, signature: signBody(ed, hostSeedHex, 'result', body) };
  }
  const body: ResultBody = { taskId, workunitId, hostKey, outcome: 'success', outputHash: jsonHash(outcome.output), ...timing, ...logged };
  const result: Result = { ...body, signature: signBody(ed, hostSeedHex, 'result', body) };
  if (outcome.inline !== false) result.output = outcome.output as Result['output'];
  return result;
}

/**
 * A measurement the schema accepts. Wall-clock time read with Date.now() goes backwards when
 * the clock is set back mid-task, and a negative elapsedMs would get the whole report refused
 * on every retry: such a glitch counts as 0.
 */
function measured(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.min(Math.max(ms, 0), MAX_MEASURED_MS);
}
