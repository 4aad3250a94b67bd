// The words a volunteer shows for tasks.request's `limited` (docs/protocol.md): which of its own
// quotas keeps work back, and what makes it grow back. Shared by the daemon (its idle reason,
// in the live display, the log and `volunteer-grid-volunteer status`) and the page.
import type { TaskLimit } from '../protocol/messages.js';

/** "00:00 UTC": the time of day, in UTC, when a daily quota starts again. */
function utcTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

/** Why the coordinator sent fewer tasks than asked for, as a volunteer reads it. */
export function describeLimit(limit: TaskLimit): string {
  if (limit.by === 'in_flight') {
    return `quota: holds ${limit.held} of ${limit.allowed} tasks it may have in flight; more as results are validated`;
  }
  const resets = `resets at ${utcTime(limit.resetsAt)}`;
  const [only, ...more] = limit.apps;
  if (only && more.length === 0) return `daily quota of ${only.allowed} tasks of ${only.project}/${only.app} used; ${resets}`;
  const apps = limit.apps.map((a) => `${a.project}/${a.app} ${a.used} of ${a.allowed}`).join(', ');
  return `daily quotas used (${apps}); ${resets}`;
}
