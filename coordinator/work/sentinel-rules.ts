// The state machine of a sentinel: a work unit whose answer the researcher knows. To a host it
// is a work unit like any other, and it runs like one: the same replicas, the same quorum, its
// credit granted when a quorum of right answers is in. What differs is hidden: each result is
// judged on arrival against the known answer (a wrong one catches its host), and it never
// fails — once the rest of its batch is finished, it finishes too, drawn or not.
// Pure, like transition-rules.ts; the Transitioner applies the plan.
import { overdue, type Replica, type Workunit } from './model.js';
import { distinctSupport } from './validator.js';

export interface SentinelPlan {
  /** In progress past the deadline: over, outcome "no reply". */
  expire: number[];
  /** Results judged now against the known answer; those of distrusted hosts are then forfeited. */
  judged: { id: number; right: boolean }[];
  /** New unsent replicas, while the right answers fall short of a quorum. */
  create: number;
  /** Done: a quorum of right answers is in, or the batch has no other open work. */
  finish?: { canonicalId: number | null; credited: number[] };
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
  distinctUsers: boolean,
): SentinelPlan {
  const plan: SentinelPlan = { expire: [], judged: [], create: 0, abort: [], cancelUnsent: [] };
  const running = () => replicas.filter((r) => r.status === 'in_progress' && !plan.expire.includes(r.id));
  const unsent = replicas.filter((r) => r.status === 'unsent');
  const stopAll = () => {
    plan.abort = running().map((r) => r.id);
    plan.cancelUnsent = unsent.map((r) => r.id);
  };
  if (wu.status !== 'active') {
    stopAll();
    return plan;
  }
  for (const r of replicas) {
    if (overdue(r, now)) plan.expire.push(r.id);
    if (r.outcome === 'success' && r.validateState === 'pending' && !r.forfeited) plan.judged.push({ id: r.id, right: matches(r) });
  }
  const counts = (r: Replica) => !r.forfeited && !r.hostDistrusted;
  const judgedRight = new Set(plan.judged.filter((j) => j.right).map((j) => j.id));
  const right = replicas.filter((r) => counts(r) && (r.validateState === 'valid' || judgedRight.has(r.id)));
  const support = distinctSupport(right.map((r) => ({ hostId: r.hostId!, userId: r.userId ?? -r.id })), { distinctUsers });

  if (support >= wu.minQuorum || !batchHasOpenWork) {
    plan.finish = { canonicalId: right[0]?.id ?? null, credited: right.map((r) => r.id) };
    stopAll();
    return plan;
  }
  // Short of a quorum of right answers: as many replicas out as could make it up. A distrusted
  // host's task out is waited for as anyone's (transition-rules.ts says why).
  const inFlight = unsent.length + running().length;
  const counted = replicas.filter((r) => r.outcome !== 'abandoned' && r.outcome !== 'not_needed' && r.outcome !== 'aborted' && counts(r)).length;
  plan.create = Math.max(0, Math.min(wu.minQuorum - support - inFlight, wu.maxTotalResults - counted));
  return plan;
}
