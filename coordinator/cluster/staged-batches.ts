// Whose submission a staged batch is. A batch is staged while its work units stream in, and a
// crash leaves it staged for good. On SQLite the one coordinator knows that any staged batch it
// finds at start is such a leftover. Instances sharing PostgreSQL cannot tell another's live
// submission from a dead one's by the row alone: the instance taking a submission holds it
// (cluster/work-holds.ts), so a batch whose hold lapsed (or that never got one within a minute of
// being begun) was left by an instance that died.
import type { WorkHolds } from './work-holds.js';

/** A batch begun this long ago with no hold at all was begun by an instance that died before taking one. */
const NO_HOLD_GRACE_MS = 60_000;

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
  constructor(private readonly holds: WorkHolds) {}

  hold(batchId: number): Promise<() => Promise<void>> {
    return this.holds.hold(name(batchId));
  }

  async abandoned(batchId: number, createdAt: number, now: number): Promise<boolean> {
    return (await this.holds.lapsed(name(batchId))) ?? now - createdAt > NO_HOLD_GRACE_MS;
  }
}

const name = (batchId: number) => `submission:${batchId}`;
