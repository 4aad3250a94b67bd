import { describe, expect, it } from 'vitest';
import type { Validation } from '../../coordinator/work/model.js';
import { findQuorum, outputsAgree, withinTolerance, type Candidate, type QuorumRule } from '../../coordinator/work/validator.js';

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

const EXACT: Validation = { mode: 'exact' };
const tolerance = (absEpsilon: number, relEpsilon: number): Validation => ({ mode: 'tolerance', absEpsilon, relEpsilon });

/** A result of replica `replicaId`; by default from host `replicaId` of user 100 + host. */
function candidate(replicaId: number, outputHash: string, more: Partial<Candidate> = {}): Candidate {
  const hostId = more.hostId ?? replicaId;
  return { replicaId, hostId, userId: 100 + hostId, outputHash, output: undefined, ...more };
}

const quorum = (minQuorum: number, distinctUsers = true): QuorumRule => ({ minQuorum, distinctUsers });

// ---------------------------------------------------------------------------------------------
// withinTolerance
// ---------------------------------------------------------------------------------------------

describe('withinTolerance', () => {
  describe('numbers', () => {
    it('requires exact equality with both epsilons zero', () => {
      expect(withinTolerance(1.5, 1.5, 0, 0)).toBe(true);
      expect(withinTolerance(0.1 + 0.2, 0.3, 0, 0)).toBe(false);
    });

    it('accepts a difference up to the absolute epsilon, inclusive', () => {
      expect(withinTolerance(1, 1.25, 0.5, 0)).toBe(true);
      expect(withinTolerance(1, 1.5, 0.5, 0)).toBe(true); // exactly at the bound
      expect(withinTolerance(1, 1.75, 0.5, 0)).toBe(false);
      expect(withinTolerance(-1, -1.75, 0.5, 0)).toBe(false);
    });

    it('accepts a difference up to the relative epsilon of the larger magnitude', () => {
      expect(withinTolerance(1000, 1000.5, 0, 1e-3)).toBe(true);
      expect(withinTolerance(1000, 1002, 0, 1e-3)).toBe(false);
      expect(withinTolerance(-1000, -1000.5, 0, 1e-3)).toBe(true);
      // 10% of 100 (the larger) is 10, so 90 and 100 agree; 10% of 90 would not be enough.
      expect(withinTolerance(90, 100, 0, 0.1)).toBe(true);
      expect(withinTolerance(100, 90, 0, 0.1)).toBe(true);
    });

    it('uses absolute OR relative epsilon: absolute rescues values near zero', () => {
      // Relative alone cannot accept any difference from zero ...
      expect(withinTolerance(0, 1e-9, 0, 1e-3)).toBe(false);
      // ... but the absolute epsilon does.
      expect(withinTolerance(0, 1e-9, 1e-6, 1e-3)).toBe(true);
    });

    it('uses absolute OR relative epsilon: relative rescues large values', () => {
      expect(withinTolerance(1e9, 1e9 + 10, 1e-6, 0)).toBe(false);
      expect(withinTolerance(1e9, 1e9 + 10, 1e-6, 1e-6)).toBe(true);
    });

    it('rejects a difference beyond both epsilons', () => {
      expect(withinTolerance(10, 12, 1, 0.1)).toBe(false);
    });
  });

  describe('structure', () => {
    it('requires the same keys in objects, in any order', () => {
      expect(withinTolerance({ a: 1, b: 2 }, { b: 2, a: 1 }, 0, 0)).toBe(true);
      expect(withinTolerance({ a: 1 }, { b: 1 }, 1, 1)).toBe(false);
      expect(withinTolerance({ a: 1 }, { a: 1, b: 2 }, 1, 1)).toBe(false);
      expect(withinTolerance({ a: 1, b: 2 }, { a: 1 }, 1, 1)).toBe(false);
    });

    it('rejects arrays of different lengths, however large the epsilons', () => {
      expect(withinTolerance([1, 2], [1, 2, 3], 1e9, 1e9)).toBe(false);
      expect(withinTolerance([1, 2, 3], [1, 2], 1e9, 1e9)).toBe(false);
      expect(withinTolerance([], [0], 1e9, 1e9)).toBe(false);
    });

    it('compares arrays element by element, in order', () => {
      expect(withinTolerance([1, 2, 3], [1.01, 2.01, 2.99], 0.02, 0)).toBe(true);
      expect(withinTolerance([1, 2, 3], [3, 2, 1], 0.02, 0)).toBe(false);
      expect(withinTolerance([], [], 0, 0)).toBe(true);
    });

    it('rejects values of different kinds', () => {
      expect(withinTolerance(1, '1', 1, 1)).toBe(false);
      expect(withinTolerance([1], { 0: 1 }, 1, 1)).toBe(false);
      expect(withinTolerance({ 0: 1 }, [1], 1, 1)).toBe(false);
      expect(withinTolerance(null, {}, 1, 1)).toBe(false);
      expect(withinTolerance({}, null, 1, 1)).toBe(false);
      expect(withinTolerance(null, 0, 1, 1)).toBe(false);
      expect(withinTolerance(0, false, 1, 1)).toBe(false);
      expect(withinTolerance({ a: 1 }, { a: [1] }, 1, 1)).toBe(false);
    });

    it('applies tolerance at every depth of nested objects and arrays', () => {
      const a = { result: { energy: -12.5, forces: [[0.1, 0.2], [0.3, 0.4]] }, meta: { steps: 1000, ok: true } };
      const close = { meta: { ok: true, steps: 1000 }, result: { forces: [[0.1001, 0.2], [0.3, 0.3999]], energy: -12.5001 } };
      const farDeep = { meta: { ok: true, steps: 1000 }, result: { forces: [[0.1, 0.2], [0.3, 0.5]], energy: -12.5 } };
      const missingDeep = { meta: { ok: true }, result: { forces: [[0.1, 0.2], [0.3, 0.4]], energy: -12.5 } };
      expect(withinTolerance(a, close, 1e-3, 0)).toBe(true);
      expect(withinTolerance(a, farDeep, 1e-3, 0)).toBe(false);
      expect(withinTolerance(a, missingDeep, 1e-3, 0)).toBe(false);
    });
  });

  describe('non-numbers must be equal', () => {
    it('compares strings exactly, even numeric-looking ones', () => {
      expect(withinTolerance('abc', 'abc', 0, 0)).toBe(true);
      expect(withinTolerance('abc', 'abd', 1e9, 1e9)).toBe(false);
      expect(withinTolerance('1.0', '1', 1e9, 1e9)).toBe(false);
      expect(withinTolerance({ label: 'x', v: 1 }, { label: 'y', v: 1 }, 1e9, 1e9)).toBe(false);
    });

    it('compares booleans and null exactly', () => {
      expect(withinTolerance(true, true, 0, 0)).toBe(true);
      expect(withinTolerance(true, false, 1e9, 1e9)).toBe(false);
      expect(withinTolerance(null, null, 0, 0)).toBe(true);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// outputsAgree
// ---------------------------------------------------------------------------------------------

describe('outputsAgree', () => {
  it('exact mode: agrees exactly when canonical output hashes are equal', () => {
    expect(outputsAgree(EXACT, candidate(1, 'h1'), candidate(2, 'h1'))).toBe(true);
    expect(outputsAgree(EXACT, candidate(1, 'h1'), candidate(2, 'h2'))).toBe(false);
  });

  it('exact mode: does not look inside outputs', () => {
    const a = candidate(1, 'h1', { output: { x: 1 } });
    const b = candidate(2, 'h2', { output: { x: 1 } });
    expect(outputsAgree(EXACT, a, b)).toBe(false);
  });

  it('tolerance mode: different hashes agree when the outputs are within tolerance', () => {
    const a = candidate(1, 'h1', { output: { x: 1.0 } });
    const b = candidate(2, 'h2', { output: { x: 1.0005 } });
    expect(outputsAgree(tolerance(1e-3, 0), a, b)).toBe(true);
    expect(outputsAgree(tolerance(1e-4, 0), a, b)).toBe(false);
  });

  it('tolerance mode: equal hashes agree', () => {
    expect(outputsAgree(tolerance(0, 0), candidate(1, 'h1', { output: { x: 1 } }), candidate(2, 'h1', { output: { x: 1 } }))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// findQuorum
// ---------------------------------------------------------------------------------------------

describe('findQuorum', () => {
  it('finds a canonical result when min_quorum results agree', () => {
    expect(findQuorum([candidate(1, 'A'), candidate(2, 'A')], quorum(2), EXACT)).toEqual({
      kind: 'canonical',
      canonicalId: 1,
      valid: [1, 2],
      invalid: [],
    });
  });

  it('is inconclusive below min_quorum and reports the largest agreeing group', () => {
    expect(findQuorum([candidate(1, 'A'), candidate(2, 'B')], quorum(2), EXACT)).toEqual({ kind: 'inconclusive', largestGroup: 1 });
    expect(findQuorum([candidate(1, 'A'), candidate(2, 'A'), candidate(3, 'B')], quorum(3), EXACT)).toEqual({
      kind: 'inconclusive',
      largestGroup: 2,
    });
  });

  it('is inconclusive with no candidates', () => {
    expect(findQuorum([], quorum(1), EXACT)).toEqual({ kind: 'inconclusive', largestGroup: 0 });
  });

  it('accepts a single result when min_quorum is 1', () => {
    expect(findQuorum([candidate(1, 'A')], quorum(1), EXACT)).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1], invalid: [] });
  });

  it('picks the canonical result from the agreeing group, not simply the first result', () => {
    const verdict = findQuorum([candidate(1, 'A'), candidate(2, 'B'), candidate(3, 'B')], quorum(2), EXACT);
    expect(verdict).toEqual({ kind: 'canonical', canonicalId: 2, valid: [2, 3], invalid: [1] });
  });

  it('marks every result that disagrees with the canonical one invalid', () => {
    const verdict = findQuorum(
      [candidate(1, 'A'), candidate(2, 'B'), candidate(3, 'A'), candidate(4, 'C'), candidate(5, 'A')],
      quorum(3),
      EXACT,
    );
    expect(verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 3, 5], invalid: [2, 4] });
  });

  it('never counts the same host twice', () => {
    const sameHost = [candidate(1, 'A', { hostId: 9 }), candidate(2, 'A', { hostId: 9 })];
    expect(findQuorum(sameHost, quorum(2, false), EXACT)).toEqual({ kind: 'inconclusive', largestGroup: 1 });
    expect(findQuorum(sameHost, quorum(2, true), EXACT)).toEqual({ kind: 'inconclusive', largestGroup: 1 });
  });

  it('with distinctUsers, does not let one user form a quorum from several hosts', () => {
    const colluders = [candidate(1, 'A', { hostId: 1, userId: 7 }), candidate(2, 'A', { hostId: 2, userId: 7 })];
    expect(findQuorum(colluders, quorum(2, true), EXACT)).toEqual({ kind: 'inconclusive', largestGroup: 1 });
    expect(findQuorum(colluders, quorum(2, false), EXACT)).toMatchObject({ kind: 'canonical', canonicalId: 1 });
  });

  it('with distinctUsers, prefers the group backed by more users over one backed by more hosts', () => {
    const verdict = findQuorum(
      [
        candidate(1, 'WRONG', { hostId: 1, userId: 7 }),
        candidate(2, 'WRONG', { hostId: 2, userId: 7 }),
        candidate(3, 'WRONG', { hostId: 3, userId: 7 }),
        candidate(4, 'RIGHT', { hostId: 4, userId: 8 }),
        candidate(5, 'RIGHT', { hostId: 5, userId: 9 }),
      ],
      quorum(2, true),
      EXACT,
    );
    expect(verdict).toEqual({ kind: 'canonical', canonicalId: 4, valid: [4, 5], invalid: [1, 2, 3] });
  });

  it('finds a quorum in tolerance mode among outputs with different hashes', () => {
    const verdict = findQuorum(
      [
        candidate(1, 'h1', { output: { t: 300.0 } }),
        candidate(2, 'h2', { output: { t: 350.0 } }),
        candidate(3, 'h3', { output: { t: 300.02 } }),
      ],
      quorum(2),
      tolerance(0.05, 0),
    );
    expect(verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 3], invalid: [2] });
  });

  it('in tolerance mode, a structurally different output is invalid', () => {
    const verdict = findQuorum(
      [
        candidate(1, 'h1', { output: { t: [1, 2] } }),
        candidate(2, 'h2', { output: { t: [1, 2, 0] } }),
        candidate(3, 'h3', { output: { t: [1, 2.001] } }),
      ],
      quorum(2),
      tolerance(0.01, 0),
    );
    expect(verdict).toEqual({ kind: 'canonical', canonicalId: 1, valid: [1, 3], invalid: [2] });
  });
});
