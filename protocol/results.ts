// How a volunteer turns a finished task into a signed result.
import type { Ed25519 } from './ed25519.js';
import type { AppLog } from './app-log.js';
import { jsonHash } from './hash.js';
import { MAX_MEASURED_MS } from './limits.js';
import type { Result, ResultBody, TaskBody, UnsignedResult } from './messages.js';
import { resultBody, signBody } from './signing.js';

/** A task either produced an output or failed with an error, never both (the schema refuses both). */
export type Outcome =
  | { output: unknown; inline?: boolean; error?: never }
  | { error: { code: string; message: string }; output?: never; inline?: never };

/**
 * Builds a result for a task, unsigned: protocol 3 signs a report's results together
 * (signed-lists.ts). With `inline: false` the output is left out of the message: upload it first
 * with PUT /files/{outputHash}.
 */
export function buildUnsignedResult(
  task: Pick<TaskBody, 'taskId' | 'workunitId' | 'hostKey'>,
  outcome: Outcome,
  measuredMs: { cpuTimeMs: number; elapsedMs: number } = { cpuTimeMs: 0, elapsedMs: 0 },
  log?: AppLog,
): UnsignedResult {
  const { taskId, workunitId, hostKey } = task;
  const timing = { cpuTimeMs: measured(measuredMs.cpuTimeMs), elapsedMs: measured(measuredMs.elapsedMs) };
  const logged = log && log.lines.length > 0 ? { log: log.lines, ...(log.omitted > 0 ? { logOmitted: log.omitted } : {}) } : {};
  // An error carries no output, even from a caller that passed one along.
  if (outcome.error !== undefined) return { taskId, workunitId, hostKey, outcome: 'error', error: outcome.error, ...timing, ...logged };
  const result: UnsignedResult = { taskId, workunitId, hostKey, outcome: 'success', outputHash: jsonHash(outcome.output), ...timing, ...logged };
  if (outcome.inline !== false) result.output = outcome.output as UnsignedResult['output'];
  return result;
}

/** As buildUnsignedResult, signed on its own as protocol 2 reports it. */
export function buildResult(
  ed: Ed25519,
  hostSeedHex: string,
  task: Pick<TaskBody, 'taskId' | 'workunitId' | 'hostKey'>,
  outcome: Outcome,
  measuredMs?: { cpuTimeMs: number; elapsedMs: number },
  log?: AppLog,
): Result {
  const result = buildUnsignedResult(task, outcome, measuredMs, log);
  return { ...result, signature: signBody(ed, hostSeedHex, 'result', resultBody(result)) };
}

/**
 * A measurement the schema accepts. Wall-clock time read with Date.now() goes backwards when
 * the clock is set back mid-task, and a negative elapsedMs would get the whole report refused
 * on every retry: such a glitch counts as 0.
 */
function measured(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.min(Math.max(ms, 0), MAX_MEASURED_MS);
}
