// The work-unit state machine (BOINC's transitioner), as one pure function: given a work
// unit, its replicas, the time and a way to validate, say what must change. The Transitioner
// applies the plan; nothing else decides replica or work-unit states.
import { overdue, type Replica, type Workunit } from './model.js';
import type { Verdict } from './validator.js';

export interface TransitionPlan {
  /** In progress past the deadline: over, outcome "no reply". */
  expire: number[];
  /** Set when validation ran and found a canonical result. */
  verdict?: Extract<Verdict, { kind: 'canonical' }>;
  /** New unsent replicas to create. */
  create: number;
  /** Finished or failed work unit; reason is said for failures. */
  finish?: { status: 'done' } | { status: 'failed'; reason: string };
  /** Replicas out on hosts that are no longer wanted: aborted, and their hosts told. */
  abort: number[];
  /** Replicas never sent that are no longer wanted. */
  cancelUnsent: number[];
  /** Results of distrusted hosts: they count for nothing, and never will. */
  forfeit: number[];
}

export type Validate = (successes: Replica[]) => Verdict;

export function planTransition(wu: Workunit, replicas: Replica[], now: number, validate: Validate): TransitionPlan {
  const plan: TransitionPlan = { expire: [], create: 0, abort: [], cancelUnsent: [], forfeit: [] };
  const unsent = replicas.filter((r) => r.status === 'unsent');
  const running = (): Replica[] => replicas.filter((r) => r.status === 'in_progress' && !plan.expire.includes(r.id));
  // A distrusted (caught) host is not told: it keeps its tasks, and what it returns is recorded,
  // but its results do not count, so the work unit goes on without them.
  const counts = (r: Replica) => !r.forfeited && !r.hostDistrusted;

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
  }

  plan.forfeit = replicas.filter((r) => r.outcome === 'success' && r.validateState === 'pending' && r.hostDistrusted && !r.forfeited).map((r) => r.id);
  // A result its host forfeited when it was caught cheating counts for nothing.
  const successes = replicas.filter((r) => r.outcome === 'success' && counts(r));
  // An error of a broken version was the version's: a fixed one gets a fresh budget.
  const hostsError = (r: Replica) => r.outcome === 'client_error' && !r.versionBroken;
  const errors = replicas.filter((r) => hostsError(r) && counts(r)).length;
  // Given back and never-needed replicas are no one's failure, nor are forfeited ones, those of
  // distrusted hosts, tasks aborted in an open work unit, and errors of a broken version: they do
  // not use up the budget.
  const counted = replicas.filter(
    (r) =>
      r.outcome !== 'abandoned' && r.outcome !== 'not_needed' && r.outcome !== 'aborted' && counts(r) &&
      !(r.outcome === 'client_error' && r.versionBroken),
  ).length;
  // A distrusted host's tasks out are waited for as anyone's, though: a replacement made beside
  // each would often finish first, and the abort that followed would tell it, more often than an
  // honest host in its place, that it was caught. Its task is replaced once it reports (its
  // result forfeited) or expires.
  const inFlight = unsent.length + running().length;

  let largestGroup = 0;
  let inconclusive = false;
  if (successes.length >= wu.minQuorum) {
    const verdict = validate(successes);
    if (verdict.kind === 'canonical') {
      plan.verdict = verdict;
      plan.finish = { status: 'done' };
      stopAll();
      return plan;
    }
    inconclusive = true;
    largestGroup = verdict.largestGroup;
  }

  if (errors > wu.maxErrorResults) {
    plan.finish = { status: 'failed', reason: `too many errors: ${errors} client errors (max_error_results ${wu.maxErrorResults})` };
    stopAll();
    return plan;
  }

  // How many results could still come in, and how many we want.
  const wanted = inconclusive
    ? successes.length + Math.max(1, wu.minQuorum - largestGroup)
    : Math.max(wu.targetNresults, wu.minQuorum);
  const shortfall = Math.max(0, wanted - successes.length - inFlight);
  const room = Math.min(wu.maxTotalResults - counted, wu.maxSuccessResults - successes.length - inFlight);
  plan.create = Math.max(0, Math.min(shortfall, room));

  if (plan.create === 0 && inFlight === 0 && shortfall > 0) {
    plan.finish = {
      status: 'failed',
      reason: inconclusive
        ? `no consensus: ${successes.length} successful results, no ${wu.minQuorum} of them agree`
        : `too many total results: ${counted} replicas (max_total_results ${wu.maxTotalResults}) without a quorum`,
    };
    stopAll();
  }
  return plan;
}
