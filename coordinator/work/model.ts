// The vocabulary of the work lifecycle (BOINC's): work units, their replicas, and the
// parameters that govern replication and validation. Plain data, shared by store and logic.
import { z } from 'zod';

export const ReplicationSchema = z.strictObject({
  /** Agreeing successful results from distinct hosts needed for a canonical result. */
  minQuorum: z.number().int().min(1).max(16),
  /** Replicas created at once when the work unit is created. */
  targetNresults: z.number().int().min(1).max(16),
  /** More client errors than this fail the work unit. */
  maxErrorResults: z.number().int().min(0).max(64),
  /** More replicas than this (excluding given back and not needed) fail the work unit. */
  maxTotalResults: z.number().int().min(1).max(64),
  /** This many successful results without agreement fail the work unit ("no consensus"). */
  maxSuccessResults: z.number().int().min(1).max(64),
  /** Time a host has to return a result (deadline = sent + delayBoundMs). */
  delayBoundMs: z.number().int().min(1000).max(90 * 24 * 3600 * 1000),
  /** Estimated floating-point operations: drives credit (cobblestones). */
  fpopsEst: z.number().positive().max(1e21),
  /** Higher goes first. */
  priority: z.number().int().min(-1000).max(1000),
});
export type Replication = z.infer<typeof ReplicationSchema>;

export const DEFAULT_REPLICATION: Replication = {
  minQuorum: 2,
  targetNresults: 2,
  maxErrorResults: 3,
  maxTotalResults: 8,
  maxSuccessResults: 6,
  delayBoundMs: 24 * 3600 * 1000,
  fpopsEst: 1e10,
  priority: 0,
};

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

export type WorkunitStatus = 'active' | 'done' | 'failed' | 'cancelled';
export type ReplicaStatus = 'unsent' | 'in_progress' | 'over';
export type ReplicaOutcome = 'success' | 'client_error' | 'no_reply' | 'aborted' | 'abandoned' | 'not_needed';
export type ValidateState = 'pending' | 'valid' | 'invalid';

export interface Workunit extends Replication {
  id: number;
  batchId: number;
  appId: number;
  inputHash: string;
  rngSeed: string;
  hrClass: string | null;
  status: WorkunitStatus;
  canonicalReplicaId: number | null;
  errorReason: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export interface Replica {
  id: number;
  workunitId: number;
  status: ReplicaStatus;
  outcome: ReplicaOutcome | null;
  validateState: ValidateState | null;
  hostId: number | null;
  userId: number | null;
  deadline: number | null;
  receivedAt: number | null;
  outputHash: string | null;
}

export interface AppPolicy {
  id: number;
  projectId: number;
  name: string;
  validation: Validation;
  homogeneousRedundancy: boolean;
  adaptiveReplication: boolean;
}
