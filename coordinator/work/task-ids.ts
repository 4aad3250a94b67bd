// The ids a host knows its tasks by. A replica's own id is sequential: it said when the replica
// was made, and so which kind it was (a check is made when it is sent, long after its batch's
// replicas; a sentinel's replicas wait in a queue of their own). A task id is drawn at random
// when the replica is assigned instead, and the task names no work unit: nothing in it tells of
// order, kind or history (docs/security.md, "Identifiers"). The coordinator maps it back to the
// replica where a host names it (results, progress, give-backs, holding lists, uploads).
import { randomBytes } from 'node:crypto';

/**
 * An unguessable task id: a uniform integer in [1, 2^53), a safe integer that every JSON reader
 * (a double) keeps exact, so the wire type stays a number.
 */
export function randomTaskId(): number {
  for (;;) {
    const b = randomBytes(8);
    const id = (b.readUInt32BE(0) & 0x1fffff) * 2 ** 32 + b.readUInt32BE(4);
    if (id > 0) return id;
  }
}

/** A replica as far as its task's ids go. */
export interface TaskIds {
  replicaId: number;
  taskId: number;
  workunitId: number;
}

/**
 * What the task carries as `workunitId`, which its result must repeat: its own task id, which
 * names no work unit. A task sent before migration 17 kept its replica's id as task id and named
 * its work unit's real id; that is how it is told apart (a random id is never drawn equal to its
 * replica's id), and it keeps what it was signed with.
 */
export function workunitRef(r: TaskIds): number {
  return r.taskId === r.replicaId ? r.workunitId : r.taskId;
}
