// Whose submission a staged batch is. A batch is staged while its work units stream in, and a
// crash leaves it staged for good. On SQLite the one coordinator knows that any staged batch it
// finds at start is such a leftover. Instances sharing PostgreSQL cannot tell another's live
// submission from a dead one's by the row alone: the instance taking a submission holds a lease
// on it, renewed while it streams, so a batch whose lease lapsed (or that never got one within a
// minute of being begun) was left by an instance that died.
import type { Lease, Leases } from './leases.js';

/** How long a submission's lease lasts unrenewed: how soon another instance may clear what a dead one left. */
const LEASE_MS = 15_000;
/** A batch begun this long ago with no lease at all was begun by an instance that died before taking one. */
const NO_LEASE_GRACE_MS = 60_000;

export interface StagedBatchKeeper {
  /** Marks the batch as this instance's submission until the returned function is called. */
  hold(batchId: number): Promise<() => Promise<void>>;
  /** Whether a staged batch begun at `createdAt` was left by an instance that is gone. */
  abandoned(batchId: number, createdAt: number, now: number): Promise<boolean>;
}

/** One coordinator: every staged batch it did not begin in this run is a leftover. */
export const SOLE_KEEPER: StagedBatchKeeper = {
  hold: async () => async () => undefined,
  abandoned: async () => true,
};

export class LeasedStagedBatches implements StagedBatchKeeper {
  constructor(private readonly leases: Leases) {}

  async hold(batchId: number): Promise<() => Promise<void>> {
    let lease: Lease | undefined = await this.leases.acquire(name(batchId), LEASE_MS);
    const renew = setInterval(() => {
      if (lease) void this.leases.renew(lease, LEASE_MS).then((l) => (lease = l), () => undefined);
    }, LEASE_MS / 3);
    renew.unref();
    return async () => {
      clearInterval(renew);
      if (lease) await this.leases.forget(lease);
    };
  }

  async abandoned(batchId: number, createdAt: number, now: number): Promise<boolean> {
    const expired = await this.leases.expired(name(batchId));
    return expired ?? now - createdAt > NO_LEASE_GRACE_MS;
  }
}

const name = (batchId: number) => `submission:${batchId}`;
