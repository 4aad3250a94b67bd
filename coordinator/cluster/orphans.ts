// What an instance that died left, taken up by the instances still alive: two leased jobs.
//
// An instance gives up the tasks of a host whose last connection to it closed once the host has
// been gone for the grace period (volunteers/disconnect-grace.ts), and makes the replicas of the
// batches submitted to it (work/batch-ingest.ts's ReplicaMaker). Both live in its memory and die
// with it. Hosts and batches name their instance (migration 19), and every instance holds a lease
// while it lives (instance-lease.ts), so the database tells what a dead one left:
// - `orphaned-hosts`: hosts holding tasks whose instance's lease lapsed at least a grace period
//   ago (and this instance has been up that long), and that no instance has online (asked of
//   every instance), are given up as the timer would have: their tasks end as "no reply" and
//   are reissued. A host that came back to another instance names that one now, and is left
//   alone; one holding no task is named by none.
// - `orphaned-batches`: committed batches short of replicas whose instance's lease lapsed get
//   the rest, a chunk per transaction. Making a batch's replicas locks its progress row, so the
//   dead instance's last chunk (still open in the database) and this one never both count.
// Each transaction asks the job's fence first. Time is the database's, as the leases' is.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorFields, type Logger } from '../../common/log.js';
import type { Core } from '../core.js';
import { INGEST_CHUNK } from '../work/batch-ingest.js';
import type { Fence } from './fence.js';
import { INSTANCE_LEASE_PREFIX } from './instance-lease.js';

/** A host holding tasks whose instance's lease lapsed at `lapsedAt`. */
export interface OrphanedHost {
  hostId: number;
  instance: string;
  lapsedAt: number;
}

/**
 * Those whose grace period is over by `now`. It counts from when their instance's lease lapsed,
 * or from `upSince` (when this instance took its own) if that is later: a host can only come back
 * while some instance runs, so one whose instance died while no other ran has its grace period
 * from the next start, as a start has always given.
 */
export function graceOver(hosts: OrphanedHost[], now: number, graceMs: number, upSince: number): OrphanedHost[] {
  return hosts.filter((h) => Math.max(h.lapsedAt, upSince) + graceMs <= now);
}

/** Of those, the hosts to give up: not connected to any instance. */
export function toGiveUp(due: OrphanedHost[], online: ReadonlySet<number>): OrphanedHost[] {
  return due.filter((h) => !online.has(h.hostId));
}

type OrphanCore = Pick<Core, 'store' | 'leases' | 'service' | 'submission'>;

export interface OrphanedHostsDeps {
  /** Which hosts are connected to any instance; rejects when an instance did not answer. */
  onlineEverywhere(): Promise<Set<number>>;
  /** --disconnect-grace-ms. */
  graceMs: number;
  /** When this instance took its own lease, by the database's clock. */
  upSince: number;
  log: Logger;
}

/** One turn of `orphaned-hosts`. */
export async function giveUpOrphanedHosts(core: OrphanCore, deps: OrphanedHostsDeps, fence: Fence): Promise<void> {
  const now = await core.leases.now();
  // Those holding no task are left to no one: a dead instance's hosts stop being looked at.
  const forgotten = await core.store.transaction(async (tx) => ((await fence(tx.sql)) ? tx.work.forgetIdleHostsOfLapsedInstances(INSTANCE_LEASE_PREFIX, now) : undefined));
  if (forgotten === undefined) return;
  const due = graceOver(await core.store.work.hostsOfLapsedInstances(INSTANCE_LEASE_PREFIX, now), now, deps.graceMs, deps.upSince);
  if (due.length === 0) return;
  let online: Set<number>;
  try {
    online = await deps.onlineEverywhere();
  } catch (e) {
    // A host may be on the instance that did not answer: asked again at the next turn.
    deps.log.warn('could not tell which hosts are connected; hosts whose instance is gone are looked at again next turn', { hosts: due.length, ...errorFields(e) });
    return;
  }
  for (const h of toGiveUp(due, online)) {
    const tasks = await core.store.transaction(async (tx) => {
      if (!(await fence(tx.sql))) return undefined;
      // The ledger's turn before any row lock, as every transaction that judges takes it.
      await tx.ledger.takeTurn();
      // Still on that instance: one that connected to another since is that one's.
      if (!(await tx.work.hostOnLapsedInstance(INSTANCE_LEASE_PREFIX, h.hostId, h.instance, now - deps.graceMs))) return 0;
      return core.service.giveUpHost(tx, h.hostId);
    });
    if (tasks === undefined) return;
    if (tasks > 0) deps.log.info('gave up the tasks of a host whose instance is gone', { hostId: h.hostId, instance: h.instance, tasks, graceMs: deps.graceMs });
  }
}

/** One turn of `orphaned-batches`; `onReplicasMade` after each chunk (watchers and idle hosts are told). */
export async function resumeOrphanedBatches(core: OrphanCore, fence: Fence, log: Logger, onReplicasMade: (batchId: number) => void): Promise<void> {
  const now = await core.leases.now();
  for (const { id, instance } of await core.store.work.batchesOfLapsedInstances(INSTANCE_LEASE_PREFIX, now)) {
    log.warn('making the replicas of a batch whose instance is gone', { batchId: id, instance });
    let workunits = 0;
    for (;;) {
      const part = await core.submission.makeReplicaPart(id, INGEST_CHUNK, fence);
      if (part.step === 'fenced') return;
      workunits += part.workunits;
      if (part.workunits > 0) onReplicasMade(id);
      if (part.step === 'done') break;
      await nextTurn();
    }
    log.info('made the replicas of a batch whose instance is gone', { batchId: id, instance, workunits });
  }
}
