// Compares successful results and finds a quorum. Pure: no I/O, no clock.
import { canonicalJson } from '../../protocol/canonical.js';
import type { Validation } from './model.js';

export interface Candidate {
  replicaId: number;
  hostId: number;
  userId: number;
  outputHash: string;
  output: unknown;
}

export type Verdict =
  | { kind: 'canonical'; canonicalId: number; valid: number[]; invalid: number[] }
  | { kind: 'inconclusive'; largestGroup: number };

export interface QuorumRule {
  minQuorum: number;
  /** Count at most one result per user in a group (default policy), not only one per host. */
  distinctUsers: boolean;
}

/** Do two outputs agree under the app's validation mode? */
export function outputsAgree(validation: Validation, a: Candidate, b: Candidate): boolean {
  if (a.outputHash === b.outputHash) return true;
  if (validation.mode === 'exact') return false;
  return withinTolerance(a.output, b.output, validation.absEpsilon, validation.relEpsilon);
}

/** Same JSON structure; numbers equal within absolute OR relative epsilon; everything else equal. */
export function withinTolerance(a: unknown, b: unknown, absEps: number, relEps: number): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    const diff = Math.abs(a - b);
    return diff <= absEps || diff <= relEps * Math.max(Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => withinTolerance(x, b[i], absEps, relEps));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (canonicalJson(ka) !== canonicalJson(kb)) return false;
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    return ka.every((k) => withinTolerance(ra[k], rb[k], absEps, relEps));
  }
  return a === b;
}

/**
 * Finds the largest group of agreeing results from distinct hosts (and users) that reaches the
 * quorum. Each candidate in turn is tried as the canonical result (earliest first, so ties go to
 * the earliest); agreement with the canonical result decides valid or invalid for all of them.
 */
export function findQuorum(candidates: Candidate[], rule: QuorumRule, validation: Validation): Verdict {
  let best: { canonical: Candidate; size: number } | undefined;
  for (const canonical of candidates) {
    const size = distinctSupport(candidates.filter((c) => outputsAgree(validation, canonical, c)), rule);
    if (!best || size > best.size) best = { canonical, size };
  }
  if (!best || best.size < rule.minQuorum) return { kind: 'inconclusive', largestGroup: best?.size ?? 0 };
  const valid: number[] = [];
  const invalid: number[] = [];
  for (const c of candidates) (outputsAgree(validation, best.canonical, c) ? valid : invalid).push(c.replicaId);
  return { kind: 'canonical', canonicalId: best.canonical.replicaId, valid, invalid };
}

/** How many results of a group count towards a quorum: one per host, and per user if the rule says so. */
export function distinctSupport(group: Pick<Candidate, 'hostId' | 'userId'>[], rule: Pick<QuorumRule, 'distinctUsers'>): number {
  const hosts = new Set<number>();
  const users = new Set<number>();
  for (const c of group) {
    if (hosts.has(c.hostId) || (rule.distinctUsers && users.has(c.userId))) continue;
    hosts.add(c.hostId);
    users.add(c.userId);
  }
  return hosts.size;
}
