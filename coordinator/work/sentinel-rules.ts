// The state machine of a sentinel: a work unit whose answer the researcher knows. Each result is
// judged on arrival against that answer, not by a quorum; the scheduler keeps sending the
// sentinel to new hosts while its batch has other open work, and it finishes with the batch.
// Pure, like transition-rules.ts; the Transitioner applies the plan.
import type { Replica, Workunit } from './model.js';

export interface SentinelPlan {
  /** In progress past the deadline: over, outcome "no reply" (nobody's failure: not reissued). */
  expire: number[];
  /** Results that match the known answer. */
  passed: number[];
  /** Results that do not: their hosts are caught. */
  failed: number[];
  /** Set once the batch has no other open work. */
  finish?: { status: 'done'; canonicalId: number } | { status: 'failed'; reason: string };
  abort: number[];
  cancelUnsent: number[];
}

/**
 * `matches` says whether a successful result is the known answer; `batchHasOpenWork` whether the
 * sentinel's batch still has open work units that are not sentinels.
 */
export function planSentinel(
  wu: Workunit,
  replicas: Replica[],
  now: number,
  matches: (r: Replica) => boolean,
  batchHasOpenWork: boolean,
): SentinelPlan {
  const plan: SentinelPlan = { expire: [], passed: [], failed: [], abort: [], cancelUnsent: [] };
  const stopAll = () => {
    plan.abort = replicas.filter((r) => r.status === 'in_progress').map((r) => r.id);
    plan.cancelUnsent = replicas.filter((r) => r.status === 'unsent').map((r) => r.id);
  };
  if (wu.status !== 'active') {
    stopAll();
    return plan;
  }
  for (const r of replicas) {
    if (r.status === 'in_progress' && r.deadline !== null && r.deadline < now) plan.expire.push(r.id);
    if (r.outcome === 'success' && r.validateState === 'pending') (matches(r) ? plan.passed : plan.failed).push(r.id);
  }
  if (!batchHasOpenWork) {
    const right = replicas.find((r) => r.validateState === 'valid' || plan.passed.includes(r.id));
    plan.finish = right
      ? { status: 'done', canonicalId: right.id }
      : { status: 'failed', reason: 'sentinel: no host returned the expected output' };
    stopAll();
  }
  return plan;
}
