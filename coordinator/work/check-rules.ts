// The state machine of checks: replicas of a work unit that is already done, sent to hosts as
// ordinary tasks so that each host is tested against a result other hosts agreed on. A check
// that agrees passes. One that disagrees opens a dispute, which no single result settles: it is
// decided by a larger quorum (twice the one the work unit was submitted with, at least 3) over
// everything said about the work unit, with new checks sent out as arbiters until one answer
// has it. The losing side is caught: the checked host, or the hosts whose wrong answer had been
// accepted. So either mistake — an honest host caught, or colluders upheld — needs as many
// colluders to agree as the larger quorum, besides the ones that made the first decision.
// Pure, like transition-rules.ts; the Transitioner applies the plan.
import { overdue, type Replica, type Workunit } from './model.js';
import type { Verdict } from './validator.js';

/** Results a dispute may use, beyond the quorum that settles it: a few arbiters that did not answer. */
const SPARE_ARBITERS = 2;

/** The quorum that settles a dispute over a work unit. */
export function disputeQuorum(wu: Pick<Workunit, 'submittedQuorum'>): number {
  return Math.max(3, 2 * wu.submittedQuorum);
}

export interface CheckPlan {
  /** Checks in progress past the deadline: over, outcome "no reply". */
  expire: number[];
  /** Results of distrusted hosts, judged against the canonical result for their way back, then forfeited. */
  judgedDistrusted: { id: number; right: boolean }[];
  /** Checks that agree with the result that stands: valid and credited; their hosts passed a check. */
  passed: number[];
  /** Checks on the losing side of a settled dispute: invalid; their hosts are caught. */
  failed: number[];
  /** A dispute went against the canonical result: the new verdict over every counted result. */
  overturn?: { canonicalId: number; valid: number[]; invalid: number[] };
  /** Arbiters to send out. */
  create: number;
  /** A dispute the budget cannot settle: its open checks count for nothing, nobody is caught. */
  unsettled: number[];
  /** Regular replicas still out or unsent on a done work unit: stopped, as on any finish. */
  abort: number[];
  cancelUnsent: number[];
}

/** `validate` finds a quorum of `minQuorum` among successful results; `agrees` compares one with the canonical result. */
export function planChecks(
  wu: Workunit,
  replicas: Replica[],
  now: number,
  agrees: (r: Replica) => boolean,
  validate: (successes: Replica[], minQuorum: number) => Verdict,
): CheckPlan {
  const plan: CheckPlan = { expire: [], judgedDistrusted: [], passed: [], failed: [], create: 0, unsettled: [], abort: [], cancelUnsent: [] };
  for (const r of replicas) {
    if (r.kind !== 'check') {
      if (r.status === 'in_progress') plan.abort.push(r.id);
      if (r.status === 'unsent') plan.cancelUnsent.push(r.id);
    } else if (overdue(r, now)) plan.expire.push(r.id);
  }
  const pendingChecks = replicas.filter((r) => r.kind === 'check' && r.outcome === 'success' && r.validateState === 'pending' && !r.forfeited);
  plan.judgedDistrusted = pendingChecks.filter((r) => r.hostDistrusted).map((r) => ({ id: r.id, right: agrees(r) }));
  const counts = (r: Replica) => !r.forfeited && !r.hostDistrusted;
  const pending = pendingChecks.filter(counts);
  if (pending.length === 0) return plan;
  if (pending.every(agrees)) {
    plan.passed = pending.map((r) => r.id);
    return plan;
  }

  // A dispute: everything said about the work unit, decided by a quorum larger than the one
  // that accepted the canonical result.
  const need = disputeQuorum(wu);
  const evidence = replicas.filter((r) => r.outcome === 'success' && counts(r));
  const verdict = validate(evidence, need);
  if (verdict.kind === 'canonical') {
    const isPending = new Set(pending.map((r) => r.id));
    // Upheld when the winning answer is the canonical one (its first replica may since have been
    // discounted: a host caught meanwhile).
    if (agrees(replicas.find((r) => r.id === verdict.canonicalId)!)) {
      plan.passed = verdict.valid.filter((id) => isPending.has(id));
      plan.failed = verdict.invalid.filter((id) => isPending.has(id));
    } else {
      plan.overturn = { canonicalId: verdict.canonicalId, valid: verdict.valid, invalid: verdict.invalid };
    }
    return plan;
  }
  const checks = replicas.filter((r) => r.kind === 'check' && counts(r));
  // A distrusted host's arbiter out is waited for as anyone's (transition-rules.ts says why).
  const out = (r: Replica) => r.status === 'unsent' || (r.status === 'in_progress' && !plan.expire.includes(r.id));
  const inFlight = replicas.filter((r) => r.kind === 'check' && out(r)).length;
  const used = checks.filter((r) => r.outcome !== 'abandoned' && r.outcome !== 'not_needed' && r.outcome !== 'aborted').length;
  const room = need + SPARE_ARBITERS - used;
  plan.create = Math.max(0, Math.min(need - verdict.largestGroup - inFlight, room));
  if (plan.create === 0 && inFlight === 0) plan.unsettled = pending.map((r) => r.id);
  return plan;
}
