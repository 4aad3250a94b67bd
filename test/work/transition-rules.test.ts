import { describe, expect, it, vi } from 'vitest';
import type { Replica, ReplicaOutcome, Validation, Workunit, WorkunitStatus } from '../../coordinator/work/model.js';
import { planTransition, type TransitionPlan, type Validate } from '../../coordinator/work/transition-rules.js';
import { findQuorum, type Candidate } from '../../coordinator/work/validator.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2025, 0, 15, 12);

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

/** An active work unit: quorum 2 of 2, up to 3 errors, 8 replicas, 6 successes. */
function workunit(overrides: Partial<Workunit> = {}): Workunit {
  return {
    id: 1,
    batchId: 1,
    appId: 1,
    inputHash: 'input-hash',
    rngSeed: 'seed',
    hrClass: null,
    expectedOutputHash: null,
    retryFrom: 0,
    status: 'active',
    canonicalReplicaId: null,
    errorReason: null,
    createdAt: NOW - 2 * DAY,
    finishedAt: null,
    minQuorum: 2,
    targetNresults: 2,
    maxErrorResults: 3,
    maxTotalResults: 8,
    maxSuccessResults: 6,
    delayBoundMs: DAY,
    fpopsEst: 1e12,
    priority: 0,
    ...overrides,
    submittedQuorum: overrides.submittedQuorum ?? overrides.minQuorum ?? 2,
  };
}

/** Where a replica ran. By default replica n runs on host n of user 100 + n. */
interface On {
  host?: number;
  user?: number;
}

function replica(id: number, overrides: Partial<Replica> = {}): Replica {
  return {
    id,
    workunitId: 1,
    kind: 'regular',
    status: 'unsent',
    outcome: null,
    validateState: null,
    forfeited: false,
    hostId: null,
    userId: null,
    hostDistrusted: false,
    versionBroken: false,
    holdUntil: null,
    deadline: null,
    receivedAt: null,
    outputHash: null,
    ...overrides,
  };
}

function placed(id: number, on: On): Pick<Replica, 'hostId' | 'userId'> {
  const hostId = on.host ?? id;
  return { hostId, userId: on.user ?? 100 + hostId };
}

const unsent = (id: number): Replica => replica(id);

/** Out on a host; due an hour from now unless a deadline is given. */
function inProgress(id: number, deadline = NOW + HOUR, on: On = {}): Replica {
  return replica(id, { status: 'in_progress', deadline, ...placed(id, on) });
}

/** Returned successfully, waiting for validation, with the given canonical output hash. */
function success(id: number, outputHash: string, on: On = {}): Replica {
  return replica(id, {
    status: 'over',
    outcome: 'success',
    validateState: 'pending',
    deadline: NOW + HOUR,
    receivedAt: NOW - HOUR,
    outputHash,
    ...placed(id, on),
  });
}

/** Over with an outcome other than success (client error, no reply, given back, ...). */
function ended(id: number, outcome: Exclude<ReplicaOutcome, 'success'>, on: On = {}): Replica {
  return replica(id, { status: 'over', outcome, deadline: NOW - HOUR, ...placed(id, on) });
}

const clientError = (id: number, on: On = {}) => ended(id, 'client_error', on);
const noReply = (id: number, on: On = {}) => ended(id, 'no_reply', on);

interface ValidatorOptions {
  validation?: Validation;
  /** Default true, as in the coordinator. */
  distinctUsers?: boolean;
  /** Output by output hash, for tolerance mode. */
  outputs?: Record<string, unknown>;
}

/**
 * The validation the Transitioner wires in: the real findQuorum over candidates built from the
 * successful replicas, with the work unit's min_quorum.
 */
function validator(wu: Workunit, opts: ValidatorOptions = {}): Validate {
  const validation = opts.validation ?? { mode: 'exact' };
  return (successes) => {
    const candidates: Candidate[] = successes.map((r) => ({
      replicaId: r.id,
      hostId: r.hostId ?? -r.id,
      userId: r.userId ?? -r.id,
      outputHash: r.outputHash ?? '',
      output: opts.outputs?.[r.outputHash ?? ''],
    }));
    return findQuorum(candidates, { minQuorum: wu.minQuorum, distinctUsers: opts.distinctUsers ?? true }, validation);
  };
}

/** Validation that must not run. */
const mustNotValidate: Validate = () => {
  throw new Error('validation must not run here');
};

/** Plans a transition at NOW, validating with findQuorum (exact mode unless told otherwise). */
function plan(wu: Workunit, replicas: Replica[], validate: Validate | ValidatorOptions = {}): TransitionPlan {
  return planTransition(wu, replicas, NOW, typeof validate === 'function' ? validate : validator(wu, validate));
}

function expectNothingStopped(p: TransitionPlan): void {
  expect(p.abort).toEqual([]);
  expect(p.cancelUnsent).toEqual([]);
}

function failureReason(p: TransitionPlan): string {
  expect(p.finish?.status).toBe('failed');
  if (p.finish?.status !== 'failed') throw new Error('not failed');
  return p.finish.reason;
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('planTransition', () => {
  describe('a work unit starting out', () => {
    it('creates target_nresults replicas when there are none', () => {
      const p = plan(workunit({ minQuorum: 2, targetNresults: 3 }), []);
      expect(p.create).toBe(3);
      expect(p.finish).toBeUndefined();
      expect(p.expire).toEqual([]);
    });

    it('creates nothing more while its replicas are unsent or in progress', () => {
      const p = plan(workunit(), [unsent(1), inProgress(2)]);
      expect(p).toEqual({ expire: [], create: 0, abort: [], cancelUnsent: [], forfeit: [] });
    });

    it('does not validate before min_quorum successful results exist', () => {
      const wu = workunit({ minQuorum: 3, targetNresults: 3 });
      const validate = vi.fn(validator(wu));
      const p = plan(wu, [success(1, 'A'), success(2, 'A'), inProgress(3)], validate);
      expect(validate).not.toHaveBeenCalled();
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(0);
    });

    it('validates exactly the successful results once min_quorum of them exist', () => {
      const wu = workunit();
      const validate = vi.fn(validator(wu));
      plan(wu, [success(1, 'A'), clientError(2), success(3, 'A'), noReply(4)], validate);
      expect(validate).toHaveBeenCalledTimes(1);
      expect(validate.mock.calls[0]![0].map((r) => r.id)).toEqual([1, 3]);
    });
  });

  describe('reaching a quorum', () => {
    it('makes a canonical result from min_quorum equal outputs (exact mode) and finishes the work unit', () => {
      const p = plan(workunit(), [success(1, 'A'), success(2, 'A')]);
      expect(p.verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 2], invalid: [] });
      expect(p.finish).toEqual({ status: 'done' });
      expect(p.create).toBe(0);
      expectNothingStopped(p);
    });

    it('aborts replicas still in progress and cancels unsent ones once the work unit is done', () => {
      const p = plan(workunit({ targetNresults: 4 }), [success(1, 'A'), success(2, 'A'), inProgress(3), unsent(4)]);
      expect(p.finish).toEqual({ status: 'done' });
      expect(p.abort).toEqual([3]);
      expect(p.cancelUnsent).toEqual([4]);
      expect(p.create).toBe(0);
    });

    it('accepts outputs that differ within tolerance, which exact mode would reject', () => {
      const outputs = { h1: { energy: -1.2345678, steps: 1000 }, h2: { energy: -1.2345679, steps: 1000 } };
      const replicas = [success(1, 'h1'), success(2, 'h2')];

      const tolerant = plan(workunit(), replicas, { validation: { mode: 'tolerance', absEpsilon: 0, relEpsilon: 1e-6 }, outputs });
      expect(tolerant.verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 2], invalid: [] });
      expect(tolerant.finish).toEqual({ status: 'done' });

      const exact = plan(workunit(), replicas, { validation: { mode: 'exact' }, outputs });
      expect(exact.verdict).toBeUndefined();
      expect(exact.finish).toBeUndefined();
      expect(exact.create).toBe(1);
    });

    it('rejects outputs outside tolerance', () => {
      const outputs = { h1: { energy: -1.2 }, h2: { energy: -1.3 } };
      const p = plan(
        workunit(),
        [success(1, 'h1'), success(2, 'h2')],
        { validation: { mode: 'tolerance', absEpsilon: 0.01, relEpsilon: 0.01 }, outputs },
      );
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
    });

    it('marks results that disagree with the canonical result invalid', () => {
      const p = plan(workunit({ targetNresults: 3 }), [success(1, 'A'), success(2, 'B'), success(3, 'A')]);
      expect(p.verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 3], invalid: [2] });
      expect(p.finish).toEqual({ status: 'done' });
    });
  });

  describe('disagreement', () => {
    it('asks for exactly one more replica when two results disagree', () => {
      const p = plan(workunit(), [success(1, 'A'), success(2, 'B')]);
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
      expectNothingStopped(p);
    });

    it('does not ask for more while the tie-breaking replica is still out', () => {
      const p = plan(workunit(), [success(1, 'A'), success(2, 'B'), inProgress(3)]);
      expect(p.create).toBe(0);
      expect(p.finish).toBeUndefined();
      expectNothingStopped(p);
    });

    it('two disagreeing results, then a third agreeing with one: canonical, the odd one invalid', () => {
      const wu = workunit();
      const first = plan(wu, [success(1, 'A'), success(2, 'B')]);
      expect(first.create).toBe(1);

      const second = plan(wu, [success(1, 'A'), success(2, 'B'), success(3, 'B')]);
      expect(second.verdict).toEqual({ kind: 'canonical', canonicalId: 2, valid: [2, 3], invalid: [1] });
      expect(second.finish).toEqual({ status: 'done' });
      expect(second.create).toBe(0);
    });

    it('with a quorum of 3 and two agreeing, asks for one more to complete the quorum', () => {
      const p = plan(workunit({ minQuorum: 3, targetNresults: 3 }), [success(1, 'A'), success(2, 'A'), success(3, 'B')]);
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
    });
  });

  describe('distinct hosts and users', () => {
    it('does not let two hosts of one user form a quorum when distinctUsers is on', () => {
      const colluders = [success(1, 'A', { host: 1, user: 7 }), success(2, 'A', { host: 2, user: 7 })];

      const strict = plan(workunit(), colluders, { distinctUsers: true });
      expect(strict.verdict).toBeUndefined();
      expect(strict.finish).toBeUndefined();
      expect(strict.create).toBe(1);

      const lax = plan(workunit(), colluders, { distinctUsers: false });
      expect(lax.verdict?.canonicalId).toBe(1);
      expect(lax.finish).toEqual({ status: 'done' });
    });

    it('lets honest users outvote one user with several hosts', () => {
      const wu = workunit({ targetNresults: 3 });
      const replicas = [
        success(1, 'WRONG', { host: 1, user: 7 }),
        success(2, 'WRONG', { host: 2, user: 7 }),
        success(3, 'RIGHT', { host: 3, user: 8 }),
      ];
      const before = plan(wu, replicas, { distinctUsers: true });
      expect(before.verdict).toBeUndefined();
      expect(before.create).toBe(1);

      const after = plan(wu, [...replicas, success(4, 'RIGHT', { host: 4, user: 9 })], { distinctUsers: true });
      expect(after.verdict).toEqual({ kind: 'canonical', canonicalId: 3, valid: [3, 4], invalid: [1, 2] });
      expect(after.finish).toEqual({ status: 'done' });
    });

    it('never counts the same host twice', () => {
      const p = plan(workunit(), [success(1, 'A', { host: 5 }), success(2, 'A', { host: 5 })], { distinctUsers: false });
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
    });

    it('needs min_quorum distinct hosts even when more results agree', () => {
      const p = plan(
        workunit({ minQuorum: 3, targetNresults: 3 }),
        [success(1, 'A', { host: 5 }), success(2, 'A', { host: 5 }), success(3, 'A', { host: 6 })],
        { distinctUsers: false },
      );
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
    });
  });

  describe('deadlines', () => {
    it('expires a replica past its deadline ("no reply") and issues a replacement', () => {
      const p = plan(workunit(), [success(1, 'A'), inProgress(2, NOW - 1)]);
      expect(p.expire).toEqual([2]);
      expect(p.create).toBe(1);
      expect(p.finish).toBeUndefined();
      expectNothingStopped(p); // an expired replica is not also aborted
    });

    it('leaves replicas that are not yet due alone', () => {
      const p = plan(workunit(), [inProgress(1, NOW - 1), inProgress(2, NOW + 1)]);
      expect(p.expire).toEqual([1]);
      expect(p.create).toBe(1);
    });

    it('counts a late success on a "no reply" replica towards the quorum', () => {
      // Replica 2 missed its deadline (replica 3 replaced it) but then reported: success.
      const late: Replica = { ...success(2, 'A'), deadline: NOW - 2 * HOUR, receivedAt: NOW - HOUR };
      const p = plan(workunit(), [success(1, 'A'), late, inProgress(3)]);
      expect(p.verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 2], invalid: [] });
      expect(p.finish).toEqual({ status: 'done' });
      expect(p.abort).toEqual([3]); // the replacement is no longer needed
    });

    it('does not reissue beyond max_total_results, and fails the work unit', () => {
      const p = plan(workunit({ maxTotalResults: 3 }), [success(1, 'A'), noReply(2), inProgress(3, NOW - 1)]);
      expect(p.expire).toEqual([3]);
      expect(p.create).toBe(0);
      expect(failureReason(p)).not.toBe('');
    });

    // Aborted in an open work unit means taken from a host caught cheating.
    it.each(['abandoned', 'not_needed', 'aborted'] as const)('does not count a %s replica towards max_total_results', (outcome) => {
      const p = plan(workunit({ maxTotalResults: 3 }), [success(1, 'A'), ended(2, outcome), inProgress(3, NOW - 1)]);
      expect(p.expire).toEqual([3]);
      expect(p.create).toBe(1);
      expect(p.finish).toBeUndefined();
    });

    it('does not count a forfeited result, in the quorum or towards max_total_results', () => {
      const forfeited = { ...success(2, 'A'), validateState: 'invalid' as const, forfeited: true };
      const p = plan(workunit({ maxTotalResults: 3 }), [success(1, 'A'), forfeited, inProgress(3, NOW - 1)]);
      expect(p.verdict).toBeUndefined();
      expect(p.expire).toEqual([3]);
      expect(p.create).toBe(1);
      expect(p.finish).toBeUndefined();
    });

    it.each(['no_reply', 'client_error'] as const)('counts a %s replica towards max_total_results', (outcome) => {
      const p = plan(workunit({ maxTotalResults: 3 }), [success(1, 'A'), ended(2, outcome), inProgress(3, NOW - 1)]);
      expect(p.create).toBe(0);
      expect(p.finish?.status).toBe('failed');
    });
  });

  describe('client errors', () => {
    it('replaces a replica that ended in a client error', () => {
      const p = plan(workunit(), [inProgress(1), clientError(2)]);
      expect(p.create).toBe(1);
      expect(p.finish).toBeUndefined();
      expectNothingStopped(p);
    });

    it('keeps going with max_error_results errors', () => {
      const p = plan(workunit({ maxErrorResults: 2 }), [clientError(1), clientError(2), inProgress(3)]);
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
    });

    it('fails the work unit with "too many errors" when errors exceed max_error_results', () => {
      const p = plan(workunit({ maxErrorResults: 2 }), [clientError(1), clientError(2), clientError(3), inProgress(4), unsent(5)]);
      expect(failureReason(p)).toContain('too many errors');
      expect(p.create).toBe(0);
      expect(p.verdict).toBeUndefined();
      expect(p.abort).toEqual([4]);
      expect(p.cancelUnsent).toEqual([5]);
    });
  });

  describe('giving up', () => {
    it('fails when max_total_results is reached without a quorum', () => {
      const p = plan(workunit({ maxTotalResults: 4 }), [success(1, 'A'), noReply(2), clientError(3), noReply(4)]);
      expect(p.create).toBe(0);
      expect(p.verdict).toBeUndefined();
      expect(failureReason(p).length).toBeGreaterThan(0);
    });

    it('fails with "no consensus" when max_total_results is reached with disagreeing results', () => {
      const p = plan(workunit({ maxTotalResults: 3 }), [success(1, 'A'), success(2, 'B'), noReply(3)]);
      expect(p.create).toBe(0);
      expect(failureReason(p)).toContain('no consensus');
    });

    it('fails with "no consensus" after max_success_results disagreeing results', () => {
      const p = plan(workunit({ maxSuccessResults: 3 }), [success(1, 'A'), success(2, 'B'), success(3, 'C')]);
      expect(p.create).toBe(0);
      expect(p.verdict).toBeUndefined();
      expect(failureReason(p)).toContain('no consensus');
    });

    it('never plans more successful results than max_success_results', () => {
      // A quorum of 3 with no two agreeing would want two more, but only one is allowed.
      const p = plan(workunit({ minQuorum: 3, targetNresults: 3, maxSuccessResults: 4 }), [success(1, 'A'), success(2, 'B'), success(3, 'C')]);
      expect(p.create).toBe(1);
      expect(p.finish).toBeUndefined();
    });

    it('waits for a replica still in progress before giving up for lack of consensus', () => {
      const wu = workunit({ maxSuccessResults: 4, targetNresults: 4 });
      const disagreeing = [success(1, 'A'), success(2, 'B'), success(3, 'C')];

      const waiting = plan(wu, [...disagreeing, inProgress(4)]);
      expect(waiting.finish).toBeUndefined();
      expect(waiting.create).toBe(0);
      expectNothingStopped(waiting);

      const agreed = plan(wu, [...disagreeing, success(4, 'B')]);
      expect(agreed.verdict).toEqual({ kind: 'canonical', canonicalId: 2, valid: [2, 4], invalid: [1, 3] });
      expect(agreed.finish).toEqual({ status: 'done' });

      const stillApart = plan(wu, [...disagreeing, success(4, 'D')]);
      expect(failureReason(stillApart)).toContain('no consensus');
    });
  });

  describe('errors of a version found broken', () => {
    it('use up neither the error budget nor the total: a fixed version gets a fresh start', () => {
      const broken = (r: Replica): Replica => ({ ...r, versionBroken: true });
      const p = plan(workunit({ maxErrorResults: 0, maxTotalResults: 2 }), [broken(clientError(1)), broken(clientError(2))]);
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(2);
    });
  });

  describe('hosts caught cheating (distrusted)', () => {
    const caught = <T extends Replica>(r: T): T => ({ ...r, hostDistrusted: true });

    it('does not count their results: a pending one is forfeited, and another replica is made', () => {
      const p = plan(workunit(), [success(1, 'A'), caught(success(2, 'A'))]);
      expect(p.verdict).toBeUndefined();
      expect(p.forfeit).toEqual([2]);
      expect(p.create).toBe(1);
      expectNothingStopped(p);
    });

    it('waits for their tasks out as for anyone’s: a replica made beside one would finish first, and its abort tell', () => {
      const p = plan(workunit(), [success(1, 'A'), caught(inProgress(2))]);
      expect(p.create).toBe(0);
      expect(p.forfeit).toEqual([]);
      expectNothingStopped(p);
      // Replaced once it reports (its result forfeited) or misses its deadline.
      const reported = plan(workunit(), [success(1, 'A'), caught(success(2, 'A'))]);
      expect([reported.create, reported.forfeit]).toEqual([1, [2]]);
      const late = plan(workunit(), [success(1, 'A'), caught(inProgress(2, NOW - 1))]);
      expect([late.create, late.expire]).toEqual([1, [2]]);
    });

    it('does not let their errors or their results use up the budgets', () => {
      const wu = workunit({ maxErrorResults: 0, maxTotalResults: 2 });
      const p = plan(wu, [caught(clientError(1)), caught(success(2, 'X')), success(3, 'A')]);
      expect(p.finish).toBeUndefined();
      expect(p.create).toBe(1);
    });

    it('aborts their tasks out with everyone else’s once the work unit is done', () => {
      const p = plan(workunit(), [success(1, 'A'), success(2, 'A'), caught(inProgress(3))]);
      expect(p.finish).toEqual({ status: 'done' });
      expect(p.abort).toEqual([3]);
    });

    it('does not forfeit a result already judged before its host was caught', () => {
      const judged = { ...caught(success(1, 'A')), validateState: 'invalid' as const };
      const p = plan(workunit(), [judged, success(2, 'A')]);
      expect(p.forfeit).toEqual([]);
    });
  });

  describe('work units that are no longer active', () => {
    it.each<WorkunitStatus>(['cancelled', 'done', 'failed'])('a %s work unit aborts in-progress replicas and cancels unsent ones', (status) => {
      const p = plan(workunit({ status }), [success(1, 'A'), success(2, 'A'), inProgress(3), unsent(4), inProgress(5), clientError(6)], mustNotValidate);
      expect(p.abort).toEqual([3, 5]);
      expect(p.cancelUnsent).toEqual([4]);
      expect(p.create).toBe(0);
      expect(p.verdict).toBeUndefined();
      expect(p.finish).toBeUndefined();
    });
  });
});
