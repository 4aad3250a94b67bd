// The vocabulary of the work lifecycle (BOINC's): work units, their replicas, and the
// parameters that govern replication and validation. Plain data, shared by store and logic.
import { z } from 'zod';
import type { ReplicaOutcome, ReplicaStatus, Replication, ValidateState, WorkunitState as WorkunitStatus } from '../../protocol/api.js';

// The replication parameters, their defaults and the states researchers see are part of the
// API's vocabulary, defined once in protocol/api.ts.
export { DEFAULT_REPLICATION, ReplicationSchema, type Replication } from '../../protocol/api.js';
export type { ReplicaOutcome, ReplicaStatus, ValidateState, WorkunitState as WorkunitStatus } from '../../protocol/api.js';

export function checkReplication(r: Replication): string | undefined {
  if (r.targetNresults < r.minQuorum) return 'targetNresults must be at least minQuorum';
  if (r.maxSuccessResults < r.minQuorum) return 'maxSuccessResults must be at least minQuorum';
  if (r.maxTotalResults < r.targetNresults) return 'maxTotalResults must be at least targetNresults';
  return undefined;
}

export const ValidationSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('exact') }),
  z.strictObject({
    mode: z.literal('tolerance'),
    absEpsilon: z.number().nonnegative().default(0),
    relEpsilon: z.number().nonnegative().default(0),
  }),
]);
export type Validation = z.infer<typeof ValidationSchema>;

export interface Workunit extends Replication {
  id: number;
  batchId: number;
  appId: number;
  inputHash: string;
  rngSeed: string;
  hrClass: string | null;
  /** Set for sentinels: the SHA-256 of the canonical JSON of the answer the researcher knows. */
  expectedOutputHash: string | null;
  /** The quorum it was submitted with: more than minQuorum while adaptive replication lowered it to 1. */
  submittedQuorum: number;
  /** Replicas with ids up to this are from before it was last retried: they count for nothing. */
  retryFrom: number;
  status: WorkunitStatus;
  canonicalReplicaId: number | null;
  errorReason: string | null;
  createdAt: number;
  finishedAt: number | null;
}

/**
 * What a replica is for: `regular` work; a `sentinel`'s replica (its work unit's answer is known);
 * a `check` made after its work unit was done, to test a host against the canonical result.
 */
export type ReplicaKind = 'regular' | 'sentinel' | 'check';

/** Whether a result for a replica can still count: its work unit is open, or it checks a done one. */
export function workunitTakesResults(kind: ReplicaKind, workunitStatus: WorkunitStatus): boolean {
  return workunitStatus === 'active' || (kind === 'check' && workunitStatus === 'done');
}

export interface Replica {
  id: number;
  workunitId: number;
  kind: ReplicaKind;
  status: ReplicaStatus;
  outcome: ReplicaOutcome | null;
  validateState: ValidateState | null;
  /** Lost by a host caught cheating: invalid, and never counted in a quorum or a budget again. */
  forfeited: boolean;
  hostId: number | null;
  userId: number | null;
  /** Its host is distrusted (caught): its results count for nothing, its tasks out for nothing. */
  hostDistrusted: boolean;
  /** It was sent with a version since found broken: its error was the version's, and uses up no budget. */
  versionBroken: boolean;
  deadline: number | null;
  /** Out on a host: taken back if no progress is reported by then (see `overdue`). */
  holdUntil: number | null;
  receivedAt: number | null;
  outputHash: string | null;
}

/** A task out past its deadline, or held past its hold time without progress: it gets "no reply". */
export function overdue(r: Replica, now: number): boolean {
  return r.status === 'in_progress' && ((r.deadline !== null && r.deadline < now) || (r.holdUntil !== null && r.holdUntil < now));
}

export interface AppPolicy {
  id: number;
  projectId: number;
  name: string;
  validation: Validation;
  homogeneousRedundancy: boolean;
  adaptiveReplication: boolean;
}
