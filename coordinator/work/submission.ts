// Creates batches of work units and their first replicas; cancels batches.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { sha256Hex } from '../../protocol/hash.js';
import { MAX_FILE_BYTES, MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { BlobStore } from '../files/blob-store.js';
import type { Store } from '../store/store.js';
import { checkReplication, DEFAULT_REPLICATION, ReplicationSchema, type Replication } from './model.js';
import type { Outbox } from './outbox.js';
import type { Transitioner } from './transitioner.js';

export const MAX_WORKUNITS_PER_BATCH = 1_000_000;

export const BatchSpecSchema = z.strictObject({
  appId: z.number().int().positive(),
  name: z.string().trim().min(1).max(200),
  /** Makes the submission idempotent: the same key returns the batch made the first time. */
  clientKey: z.string().min(1).max(200).optional(),
  replication: ReplicationSchema.partial().default({}),
  workunits: z
    .array(z.strictObject({ input: z.json(), replication: ReplicationSchema.partial().optional() }))
    .min(1)
    .max(MAX_WORKUNITS_PER_BATCH),
});
export type BatchSpec = z.input<typeof BatchSpecSchema>;

export interface Submitted {
  batchId: number;
  created: boolean;
  workunits: number;
}

export class SubmissionError extends Error {
  override name = 'SubmissionError';
}

export class Submission {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly transitioner: Transitioner,
  ) {}

  /** All or nothing: every work unit and its first replicas commit in one transaction. */
  submitBatch(spec: BatchSpec, now = Date.now()): Submitted {
    const parsed = BatchSpecSchema.safeParse(spec);
    if (!parsed.success) throw new SubmissionError(`invalid batch: ${z.prettifyError(parsed.error)}`);
    const b = parsed.data;
    const app = this.store.catalog.appById(b.appId);
    if (!app) throw new SubmissionError(`app ${b.appId} does not exist`);
    if (this.store.catalog.versionsOfApp(app.id).length === 0) throw new SubmissionError(`app ${app.name} has no app version yet`);

    // Encode, check and store large inputs before the transaction; blobs are idempotent.
    const prepared = b.workunits.map((w, i) => {
      const replication: Replication = { ...DEFAULT_REPLICATION, ...b.replication, ...w.replication };
      const problem = checkReplication(replication);
      if (problem) throw new SubmissionError(`work unit ${i}: ${problem}`);
      const json = canonicalJson(w.input);
      const bytes = utf8(json);
      if (bytes.length > MAX_FILE_BYTES) throw new SubmissionError(`work unit ${i}: input is larger than ${MAX_FILE_BYTES} bytes`);
      const inline = bytes.length <= MAX_INLINE_JSON_BYTES;
      const inputHash = inline ? sha256Hex(bytes) : this.blobs.put(bytes);
      return { replication, inputJson: inline ? json : null, inputHash, size: bytes.length, inline };
    });

    return this.store.transaction(() => {
      if (b.clientKey !== undefined) {
        const existing = this.store.work.batchIdByClientKey(app.projectId, b.clientKey);
        if (existing !== undefined) {
          const counts = this.store.work.batchCounts(existing);
          const total = counts.active + counts.done + counts.failed + counts.cancelled;
          return { batchId: existing, created: false, workunits: total };
        }
      }
      const batchId = this.store.work.insertBatch({ projectId: app.projectId, appId: app.id, name: b.name, clientKey: b.clientKey ?? null, now });
      for (const p of prepared) {
        if (!p.inline) this.store.catalog.recordFile(p.inputHash, p.size, now);
        const id = this.store.work.insertWorkunit(
          { ...p.replication, batchId, appId: app.id, inputJson: p.inputJson, inputHash: p.inputHash, rngSeed: randomBytes(32).toString('hex') },
          now,
        );
        this.store.work.insertReplicas(id, p.replication.priority, p.replication.targetNresults, now);
      }
      return { batchId, created: true, workunits: prepared.length };
    });
  }

  /** Cancels the batch's open work units; their replicas out on hosts are aborted. */
  cancelBatch(batchId: number, outbox: Outbox, now = Date.now()): number {
    return this.store.transaction(() => {
      const ids = this.store.work.activeWorkunitsOfBatch(batchId);
      for (const id of ids) {
        this.store.work.finishWorkunit(id, 'cancelled', null, 'cancelled by the researcher', now);
        this.transitioner.transition(id, now, outbox);
      }
      this.store.work.markBatchCancelled(batchId);
      return ids.length;
    });
  }
}
