// The peer's validator, as pure code: two results of a unit agree when their outputs are the
// same JSON and they came from different workers (the coordinator's quorum counts distinct
// hosts; here the two replica queues already guarantee it, and this says so if they ever did not).
import type { CanonicalRecord, ReplicaReturn } from './peer-jobs.js';

export type Verdict =
  | { kind: 'canonical'; record: CanonicalRecord }
  | { kind: 'disagree' }
  | { kind: 'same-worker'; worker: string };

export function judge(a: ReplicaReturn, b: ReplicaReturn): Verdict {
  if (a.worker === b.worker) return { kind: 'same-worker', worker: a.worker };
  if (JSON.stringify(a.output) !== JSON.stringify(b.output)) return { kind: 'disagree' };
  return { kind: 'canonical', record: { output: a.output, workers: [a.worker, b.worker] } };
}

/**
 * Holds the first result of each unit until its sibling arrives (plain variant: completions come
 * one at a time). Results are kept by replica, so a job completed twice (BullMQ delivers at least
 * once: a stalled job runs again) is never paired with itself.
 */
export class Pairing {
  private readonly waiting = new Map<string, { replica: number; result: ReplicaReturn }>();

  /** The pair once both replicas of `key` are in, else undefined. */
  add(key: string, replica: number, result: ReplicaReturn): [ReplicaReturn, ReplicaReturn] | undefined {
    const first = this.waiting.get(key);
    if (!first || first.replica === replica) {
      this.waiting.set(key, { replica, result });
      return undefined;
    }
    this.waiting.delete(key);
    return [first.result, result];
  }

  get pending(): number {
    return this.waiting.size;
  }
}
