// Cancelling a batch: its open work units end a chunk at a time (a huge batch never stalls the
// loop), and hosts are told to abort their tasks after each chunk commits. The first chunk marks
// the batch cancelled, so one cut short is found again in the database: a batch cancelled with
// work units still open. The instance answering the researcher holds the cancellation while it
// runs (cluster/work-holds.ts); the resume job finishes those whose holder is gone, so two
// instances never cancel one batch side by side.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UNFENCED, type Fence } from '../cluster/fence.js';
import type { WorkHolds } from '../cluster/work-holds.js';
import type { Store } from '../store/store.js';
import { Outbox, type HostNotifier } from './outbox.js';
import type { Submission } from './submission.js';

/** Work units cancelled per transaction. */
const CHUNK = 500;

export class Cancellations {
  constructor(
    private readonly store: Store,
    private readonly submission: Submission,
    private readonly notifier: HostNotifier,
    private readonly holds: WorkHolds,
    private readonly clock: () => number,
  ) {}

  /** Cancels a batch's open work units, held while it runs (a researcher's request); resolves with how many. */
  async cancel(batchId: number): Promise<number> {
    const release = await this.holds.hold(name(batchId));
    try {
      return (await this.finish(batchId, UNFENCED)).cancelled;
    } finally {
      await release();
    }
  }

  /** Batches cancelled with work units still open whose cancellation nobody is running: its instance died. */
  async abandoned(): Promise<number[]> {
    const left: number[] = [];
    for (const batchId of await this.store.work.cancelledBatchesWithActiveWorkunits()) {
      if ((await this.holds.lapsed(name(batchId))) !== false) left.push(batchId);
    }
    return left;
  }

  /** Cancels what is open in the batch, each chunk asking the fence; `fenced` when it refused. */
  async finish(batchId: number, fence: Fence): Promise<{ cancelled: number; fenced: boolean }> {
    let cancelled = 0;
    for (;;) {
      const outbox = new Outbox();
      const part = await this.submission.cancelBatchPart(batchId, CHUNK, outbox, this.clock(), fence);
      outbox.flush(this.notifier);
      cancelled += part.cancelled;
      if (part.fenced || part.done) return { cancelled, fenced: part.fenced === true };
      await nextTurn();
    }
  }
}

const name = (batchId: number) => `cancellation:${batchId}`;
