// Submits a batch from a stream of work units without blocking the event loop: each chunk is
// validated and inserted in its own short transaction, with a turn of the event loop between
// chunks, into a staged batch that becomes visible only when the last chunk is in.
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { UNFENCED, type Fence } from '../cluster/fence.js';
import { SOLE_KEEPER, type StagedBatchKeeper } from '../cluster/staged-batches.js';
import type { BatchHeader, RawWorkunit, Submission, Submitted } from './submission.js';

/** Work units per transaction: a few tens of milliseconds of work. */
export const INGEST_CHUNK = 2000;
const RETRY_MS = 1000;

export async function ingestBatch(
  submission: Submission,
  header: BatchHeader,
  chunks: AsyncIterable<RawWorkunit[]>,
  onProgress: (workunits: number) => void = () => {},
  keeper: StagedBatchKeeper = SOLE_KEEPER,
): Promise<Submitted> {
  const stage = await submission.begin(header);
  if (!('app' in stage)) {
    // Already submitted with this client key; the body is not needed.
    return stage;
  }
  // Other instances leave it alone while this one holds it (cluster/staged-batches.ts).
  const release = await keeper.hold(stage.batchId);
  try {
    for await (const chunk of chunks) {
      for (let i = 0; i < chunk.length; i += INGEST_CHUNK) {
        await submission.addChunk(stage, chunk.slice(i, i + INGEST_CHUNK));
        onProgress(stage.count);
        await nextTurn();
      }
    }
    return await submission.commit(stage);
  } catch (e) {
    await discardStaged(submission, stage.batchId);
    throw e;
  } finally {
    await release();
  }
}

/** Deletes a staged batch a chunk at a time, each asking the fence; false when it refused (a part may be left). */
export async function discardStaged(submission: Submission, batchId: number, fence: Fence = UNFENCED): Promise<boolean> {
  for (;;) {
    const step = await submission.discardPart(batchId, fence);
    if (step !== 'more') return step === 'done';
    await nextTurn();
  }
}

/** Creates the replicas of committed batches a chunk at a time; run after commits and at start. */
export class ReplicaMaker {
  private pending = new Set<number>();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly submission: Submission,
    private readonly onError: (e: unknown) => void,
    private readonly onReplicasMade: (batchId: number) => void = () => {},
  ) {}

  add(batchIds: Iterable<number>): void {
    for (const id of batchIds) this.pending.add(id);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.pending.size > 0 && !this.stopped) this.add([]);
    });
  }

  /** Resolves when every batch added so far has all its replicas. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  stop(): void {
    this.stopped = true;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0 && !this.stopped) {
      const [batchId] = this.pending;
      try {
        const done = await this.submission.makeReplicas(batchId!, INGEST_CHUNK);
        this.onReplicasMade(batchId!);
        if (done) this.pending.delete(batchId!);
      } catch (e) {
        // Kept pending: a transient failure (e.g. a full disk) must not leave work units without replicas.
        this.onError(e);
        await sleep(RETRY_MS);
      }
      await nextTurn();
    }
  }
}
