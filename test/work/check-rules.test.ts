// The check state machine (check-rules.ts) as a pure function: a done work unit, its replicas
// (regular ones that decided it, checks sent since), the time, and how results compare.
import { describe, expect, it } from 'vitest';
import { disputeQuorum, planChecks, type CheckPlan } from '../../coordinator/work/check-rules.js';
import type { Replica, Workunit } from '../../coordinator/work/model.js';
import { DEFAULT_REPLICATION } from '../../coordinator/work/model.js';
import { findQuorum, type Verdict } from '../../coordinator/work/validator.js';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

function workunit(overrides: Partial<Workunit> = {}): Workunit {
  return {
    ...DEFAULT_REPLICATION,
    id: 1,
    batchId: 1,
    appId: 1,
    inputHash: 'in',
    rngSeed: 'seed',
    hrClass: null,
    expectedOutputHash: null,
    retryFrom: 0,
    submittedQuorum: 2,
    status: 'done',
    canonicalReplicaId: 1,
    errorReason: null,
    createdAt: NOW - HOUR,
    finishedAt: NOW - HOUR / 2,
    ...overrides,
  };
}

/** Replica `id` on host `id` (user 100 + id). */
function replica(id: number, overrides: Partial<Replica>): Replica {
  return {
    id,
    workunitId: 1,
    kind: 'regular',
    status: 'over',
    outcome: 'success',
    validateState: 'valid',
    forfeited: false,
    hostId: id,
    userId: 100 + id,
    hostDistrusted: false,
    versionBroken: false,
    holdUntil: null,
    deadline: NOW + HOUR,
    receivedAt: NOW - HOUR,
    outputHash: null,
    ...overrides,
  };
}
/** One of the results that decided the work unit. */
const decided = (id: number, output: string, overrides: Partial<Replica> = {}) => replica(id, { outputHash: output, ...overrides });
/** A check that came back with `output`, waiting to be judged. */
const check = (id: number, output: string, overrides: Partial<Replica> = {}) =>
  replica(id, { kind: 'check', validateState: 'pending', outputHash: output, ...overrides });
/** A check (or arbiter) still out. */
const checkOut = (id: number, deadline = NOW + HOUR) => replica(id, { kind: 'check', status: 'in_progress', outcome: null, validateState: null, deadline, outputHash: null });

function plan(wu: Workunit, replicas: Replica[]): CheckPlan {
  const canonical = replicas.find((r) => r.id === wu.canonicalReplicaId)!;
  const validate = (successes: Replica[], minQuorum: number): Verdict =>
    findQuorum(
      successes.map((r) => ({ replicaId: r.id, hostId: r.hostId!, userId: r.userId!, outputHash: r.outputHash!, output: undefined })),
      { minQuorum, distinctUsers: true },
      { mode: 'exact' },
    );
  return planChecks(wu, replicas, NOW, (r) => r.outputHash === canonical.outputHash, validate);
}

const EMPTY: CheckPlan = { expire: [], judgedDistrusted: [], passed: [], failed: [], create: 0, unsettled: [], abort: [], cancelUnsent: [] };

describe('planChecks', () => {
  it('settles a dispute with twice the submitted quorum, and never fewer than 3', () => {
    expect(disputeQuorum({ submittedQuorum: 1 })).toBe(3);
    expect(disputeQuorum({ submittedQuorum: 2 })).toBe(4);
    expect(disputeQuorum({ submittedQuorum: 3 })).toBe(6);
  });

  it('passes a check that agrees with the canonical result', () => {
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'A')])).toEqual({ ...EMPTY, passed: [3] });
  });

  it('does nothing while a check is out, and expires it past its deadline', () => {
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), checkOut(3)])).toEqual(EMPTY);
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), checkOut(3, NOW - 1)])).toEqual({ ...EMPTY, expire: [3] });
  });

  it('opens a dispute on a disagreeing check: arbiters to make up the larger quorum, nobody judged yet', () => {
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B')])).toEqual({ ...EMPTY, create: 2 });
    // With arbiters out, no more.
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), checkOut(4), checkOut(5)])).toEqual(EMPTY);
  });

  it('upholds the canonical result when the arbiters agree with it: the checked host fails', () => {
    const p = plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), check(4, 'A'), check(5, 'A')]);
    expect(p).toEqual({ ...EMPTY, passed: [4, 5], failed: [3] });
  });

  it('overturns it when the arbiters agree with the check: every result judged again', () => {
    const p = plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), check(4, 'B'), check(5, 'B'), check(6, 'B')]);
    expect(p.overturn).toEqual({ canonicalId: 3, valid: [3, 4, 5, 6], invalid: [1, 2] });
    expect(p.passed).toEqual([]);
    expect(p.failed).toEqual([]);
  });

  it('counts a host (and a user) once in a dispute, as in any quorum', () => {
    // 4 and 5 are one user's hosts: B has two distinct supporters, as A has; two more arbiters.
    const p = plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), check(4, 'B'), check(5, 'B', { userId: 104 })]);
    expect(p.overturn).toBeUndefined();
    expect(p.create).toBe(2);
  });

  it('leaves a dispute it cannot settle within its budget unsettled: nobody caught, the checks count for nothing', () => {
    // Four answers, all different: the budget (the quorum plus two spare) is used up.
    const replicas = [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), check(4, 'C'), check(5, 'D'), check(6, 'E'), check(7, 'F'), check(8, 'G')];
    const p = plan(workunit(), replicas);
    expect(p.create).toBe(0);
    expect(p.unsettled).toEqual([3, 4, 5, 6, 7, 8]);
    expect(p.failed).toEqual([]);
  });

  it('judges a distrusted host’s check for its way back, and never counts it', () => {
    const p = plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B', { hostDistrusted: true }), check(4, 'A', { hostDistrusted: true })]);
    expect(p).toEqual({ ...EMPTY, judgedDistrusted: [{ id: 3, right: false }, { id: 4, right: true }] });
  });

  it('does not count a distrusted host on either side of a dispute', () => {
    // 2 was caught since: A has one counted supporter; B two; neither four.
    const p = plan(workunit(), [decided(1, 'A'), decided(2, 'A', { hostDistrusted: true }), check(3, 'B'), check(4, 'B')]);
    expect(p.create).toBe(2);
  });

  it('waits for a distrusted host’s arbiter out as for anyone’s (a second one beside it would tell it)', () => {
    const out = { ...checkOut(5), hostDistrusted: true };
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), checkOut(4), out]).create).toBe(0);
    expect(plan(workunit(), [decided(1, 'A'), decided(2, 'A'), check(3, 'B'), checkOut(4)]).create).toBe(1);
  });

  it('stops a regular replica still out on a done work unit, as any finish does', () => {
    const p = plan(workunit(), [decided(1, 'A'), decided(2, 'A'), replica(3, { status: 'in_progress', outcome: null, validateState: null }),
      replica(4, { status: 'unsent', outcome: null, validateState: null, hostId: null, userId: null })]);
    expect(p).toEqual({ ...EMPTY, abort: [3], cancelUnsent: [4] });
  });
});
