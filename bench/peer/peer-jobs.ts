// What the peer's jobs are, shared by the producer, the workers and the validator: the same
// trivial app and inputs as the throughput scenario, two replica queues so that the two jobs of
// a work unit always go to different workers, and where canonical results are recorded.
import type { TrivialInput } from '../apps.js';

/** One queue per replica. A worker serves one of them, so no worker ever runs both jobs of a unit. */
export const REPLICA_QUEUES = ['replica-a', 'replica-b'] as const;
/** The flow variant's parents: one per work unit, processed by the validator once both children are done. */
export const VALIDATE_QUEUE = 'validate';

export type Variant =
  /** Two plain jobs per unit added with Queue.addBulk; the validator reads completions from QueueEvents. */
  | 'plain'
  /** One flow per unit (FlowProducer.addBulk): a parent in VALIDATE_QUEUE with the two jobs as children. */
  | 'flow';

export interface ReplicaJob {
  unit: number;
  input: TrivialInput;
}

/** What a worker returns: the app's output, and who computed it (a host's key in the coordinator's result). */
export interface ReplicaReturn {
  output: unknown;
  worker: string;
}

/** BullMQ refuses custom ids that are integers (they would collide with its own); phases keep warm-up and measured runs apart. */
export const jobId = (phase: string, unit: number): string => `${phase}-${unit}`;

export function unitOf(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

/** The hash where the validator records each unit's canonical result, field = unit. */
export const canonicalKey = (phase: string): string => `vg-peer:canonical:${phase}`;

export interface CanonicalRecord {
  output: unknown;
  workers: [string, string];
}
