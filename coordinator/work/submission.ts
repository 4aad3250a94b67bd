// Creates batches of work units; cancels batches.
//
// A batch is written in steps so that a huge one never blocks the coordinator: `begin` makes a
// staged batch (invisible to everyone), `addChunk` inserts work units a chunk per transaction,
// `commit` makes the whole batch visible in one tiny transaction, and the replica maker then
// creates the replicas chunk by chunk. A failure before commit discards the staged rows, and a
// crash leaves only staged rows, which the coordinator discards at start: all or nothing.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { describeIssues } from '../../common/zod-message.js';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson, type JsonValue } from '../../protocol/canonical.js';
import { sha256Hex } from '../../protocol/hash.js';
import { MAX_FILE_BYTES, MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { Submitted } from '../../protocol/api.js';
import { UNFENCED, type Fence, type Step } from '../cluster/fence.js';
import type { BlobStore, Incoming } from '../files/blob-store.js';
import type { Repositories, Store, Tx } from '../store/store.js';
import { priorityProblem } from './priority-bounds.js';
import { checkReplication, DEFAULT_REPLICATION, ReplicationSchema, type AppPolicy, type Replication } from './model.js';
import type { Outbox } from './outbox.js';
import type { Transitioner } from './transitioner.js';
import { DomainError } from '../domain-error.js';

export const MAX_WORKUNITS_PER_BATCH = 1_000_000;

export const BatchHeaderSchema = z.strictObject({
  appId: z.number().int().positive(),
  name: z.string().trim().min(1).max(200),
  /** Makes the submission idempotent: the same key returns the batch made the first time. */
  clientKey: z.string().min(1).max(200).optional(),
  replication: ReplicationSchema.partial().default({}),
  /** Pins the batch to this version of the app (by default its tasks go out with the newest). */
  appVersion: z.number().int().positive().optional(),
});
export type BatchHeader = z.input<typeof BatchHeaderSchema>;

/**
 * Any value, here: canonicalJson, which encodes it next, refuses what is not JSON. Checking it
 * twice cost more than the encoding (a schema walk of a 4 MiB input held the event loop 200 ms).
 */
const AnyJson = z.custom<JsonValue>((v) => v !== undefined, { message: 'Required: any JSON value' });

export const WorkunitSpecSchema = z.strictObject({
  input: AnyJson,
  replication: ReplicationSchema.partial().optional(),
  /** Makes the work unit a sentinel: the answer is known, and every result is checked against it. */
  expectedOutput: AnyJson.optional(),
});
export type WorkunitSpec = z.input<typeof WorkunitSpecSchema>;

export interface BatchSpec extends BatchHeader {
  workunits: WorkunitSpec[];
}

/** What a submission answers (the API's body). */
export type { Submitted } from '../../protocol/api.js';

/** A work unit as received, with where it was (for error messages: "line 12"). */
export interface RawWorkunit {
  value: unknown;
  where: string;
}

export class SubmissionError extends DomainError {
  override name = 'SubmissionError';
}

/** A sentinel's known answer, as the validator compares it: canonical JSON, inline, and its hash. */
function expectedOutput(value: unknown, where: string): { json: string; hash: string } {
  let json: string;
  try {
    json = canonicalJson(value);
  } catch (e) {
    throw new SubmissionError(`${where}: expectedOutput cannot be encoded: ${(e as Error).message}`);
  }
  const bytes = utf8(json);
  if (bytes.length > MAX_INLINE_JSON_BYTES) throw new SubmissionError(`${where}: expectedOutput is larger than ${MAX_INLINE_JSON_BYTES} bytes (a sentinel's answer is kept inline)`);
  return { json, hash: sha256Hex(bytes) };
}

/** A batch being written. */
/** A work unit ready to insert: checked, its input encoded, and staged when it travels as a file. */
interface Prepared {
  replication: Replication;
  inputJson: string | null;
  inputHash: string;
  size: number;
  incoming?: Incoming;
  expected: { json: string; hash: string } | undefined;
}

export interface Stage {
  batchId: number;
  app: AppPolicy;
  replication: Partial<Replication>;
  count: number;
  sentinels: number;
}

/** The highest priority a project's work units may ask for in the queue (priority-bounds.ts). */
export interface PriorityPolicy {
  maxOfApp(appId: number, r?: Repositories): Promise<number>;
}

export class Submission {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly transitioner: Transitioner,
    private readonly priorities: PriorityPolicy,
    /** The largest input, as canonical JSON (--max-input-bytes). */
    private readonly maxInputBytes: number = MAX_FILE_BYTES,
    /** This instance, recorded on the batches it begins: it makes their replicas (null: a core on its own). */
    private readonly instance: string | null = null,
  ) {}

  /** Starts a batch, or returns the one already made with this client key. */
  async begin(header: BatchHeader, now = Date.now(), within?: Tx): Promise<Stage | Submitted> {
    const r = within ?? this.store;
    const parsed = BatchHeaderSchema.safeParse(header);
    if (!parsed.success) throw new SubmissionError(`invalid batch: ${describeIssues(parsed.error)}`);
    const h = parsed.data;
    const app = await r.catalog.appById(h.appId);
    if (!app) throw new SubmissionError(`app ${h.appId} does not exist`, 'not_found');
    if ((await r.catalog.versionsOfApp(app.id)).length === 0) throw new SubmissionError(`app ${app.name} has no app version yet; upload one first`);
    const problem = checkReplication({ ...DEFAULT_REPLICATION, ...h.replication }) ?? priorityProblem(h.replication.priority, await this.priorities.maxOfApp(app.id, r));
    if (problem) throw new SubmissionError(`replication: ${problem}`);
    return await this.store.within(within, async (tx) => {
      if (h.clientKey !== undefined) {
        const existing = await tx.work.batchByClientKey(app.projectId, h.clientKey);
        if (existing?.staged) throw new SubmissionError(`a batch with client key "${h.clientKey}" is still being submitted; retry when it is done`, 'conflict');
        if (existing) return { batchId: existing.id, created: false, workunits: existing.workunits };
      }
      const batchId = await tx.work.insertBatch({ projectId: app.projectId, appId: app.id, name: h.name, clientKey: h.clientKey ?? null, now, instance: this.instance });
      if (h.appVersion !== undefined) {
        const v = (await tx.catalog.versionsOfApp(app.id)).find((x) => x.version === h.appVersion);
        if (!v) throw new SubmissionError(`app ${app.name} has no version ${h.appVersion}`);
        if (v.broken || v.retiredAt !== null) throw new SubmissionError(`version ${h.appVersion} of app ${app.name} is ${v.broken ? 'broken' : 'retired'}`);
        await tx.work.pinBatch(batchId, v.id);
      }
      return { batchId, app, replication: h.replication, count: 0, sentinels: 0 };
    });
  }

  /** Validates and inserts work units into a staged batch, in one transaction. */
  async addChunk(stage: Stage, raw: RawWorkunit[], now = Date.now(), within?: Tx): Promise<void> {
    if (stage.count + raw.length > MAX_WORKUNITS_PER_BATCH) throw new SubmissionError(`a batch has at most ${MAX_WORKUNITS_PER_BATCH} work units`);
    // Read per chunk: an admin who lowers it while a batch streams in holds the rest to it.
    const maxPriority = await this.priorities.maxOfApp(stage.app.id, within ?? this.store);
    // Encode and check before the transaction, and write large inputs to temp files; they are
    // put in place in it (BlobStore.keep), and whatever was not kept goes after.
    const staged: Incoming[] = [];
    try {
      await this.insertChunk(stage, raw.map(({ value, where }) => this.prepare(stage, value, where, maxPriority, staged)), now, within);
    } finally {
      for (const s of staged) this.blobs.drop(s);
    }
  }

  /** A work unit checked and encoded, its input staged if it is large (`staged` collects what was). */
  private prepare(stage: Stage, value: unknown, where: string, maxPriority: number, staged: Incoming[]): Prepared {
    // Nothing here recurses deeper than canonical JSON allows (64 levels): the schema stops at the
    // input and the expected output, and canonicalJson refuses deeper nesting as it meets it.
    const w = WorkunitSpecSchema.safeParse(value);
    if (!w.success) throw new SubmissionError(`${where}: ${describeIssues(w.error)}`);
    const replication: Replication = { ...DEFAULT_REPLICATION, ...stage.replication, ...w.data.replication };
    const problem = checkReplication(replication) ?? priorityProblem(replication.priority, maxPriority);
    if (problem) throw new SubmissionError(`${where}: ${problem}`);
    let json: string;
    try {
      json = canonicalJson(w.data.input);
    } catch (e) {
      throw new SubmissionError(`${where}: input cannot be encoded: ${(e as Error).message}`);
    }
    const bytes = utf8(json);
    if (bytes.length > this.maxInputBytes) throw new SubmissionError(`${where}: the input is larger than ${this.maxInputBytes} bytes (the coordinator's --max-input-bytes)`);
    const expected = w.data.expectedOutput === undefined ? undefined : expectedOutput(w.data.expectedOutput, where);
    if (bytes.length <= MAX_INLINE_JSON_BYTES) return { replication, inputJson: json, inputHash: sha256Hex(bytes), size: bytes.length, expected };
    const incoming = this.blobs.stage(bytes);
    staged.push(incoming);
    return { replication, inputJson: null, inputHash: incoming.sha256, size: bytes.length, incoming, expected };
  }

  private async insertChunk(stage: Stage, prepared: Prepared[], now: number, within: Tx | undefined): Promise<void> {
    // One draw of randomness for the chunk: a call per work unit was a sixth of ingest time.
    const seeds = randomBytes(32 * prepared.length);
    const rows = prepared.map((p, i) => ({
      ...p.replication,
      batchId: stage.batchId,
      seq: stage.count + i,
      appId: stage.app.id,
      inputJson: p.inputJson,
      inputHash: p.inputHash,
      rngSeed: seeds.toString('hex', 32 * i, 32 * (i + 1)),
      expectedOutputJson: p.expected?.json ?? null,
      expectedOutputHash: p.expected?.hash ?? null,
    }));
    await this.store.within(within, async (tx) => {
      for (const p of prepared) if (p.incoming) await this.blobs.keep(p.incoming, () => tx.catalog.recordFile(p.inputHash, p.size, now));
      await tx.work.insertWorkunits(rows, now);
    });
    // Counted once the chunk is in: a chunk that failed leaves the stage as it was.
    stage.count += prepared.length;
    stage.sentinels += prepared.filter((p) => p.expected).length;
  }

  /** Makes the staged batch visible, all at once. */
  async commit(stage: Stage, within?: Tx): Promise<Submitted> {
    if (stage.count === 0) throw new SubmissionError('a batch needs at least one work unit');
    // Sentinels stay open while their batch has work to check; a batch of only sentinels has none.
    if (stage.sentinels === stage.count) throw new SubmissionError('a batch needs at least one work unit without expectedOutput (sentinels are mixed into the rest of the batch)');
    if (!(await (within ?? this.store).work.unstageBatch(stage.batchId, stage.count))) throw new Error(`batch ${stage.batchId} is not staged`);
    return { batchId: stage.batchId, created: true, workunits: stage.count };
  }

  /** Deletes part of a staged batch, if the fence allows: done when nothing of it is left. */
  async discardPart(batchId: number, fence: Fence = UNFENCED, limit = 5000): Promise<Step> {
    return await this.store.transaction(async (tx) => {
      if (!(await fence(tx.sql))) return 'fenced';
      return (await tx.work.deleteStagedBatchPart(batchId, limit)) < limit ? 'done' : 'more';
    });
  }

  /** Creates the first replicas of the next `limit` work units of a committed batch; true when none are left. */
  async makeReplicas(batchId: number, limit: number, now = Date.now(), within?: Tx): Promise<boolean> {
    return (await this.store.within(within, (tx) => this.replicate(tx, batchId, limit, now))).done;
  }

  /**
   * makeReplicas for a job under a lease (another instance's batch, left when it died): the fence
   * asked first in the transaction; how many work units got their replicas.
   */
  async makeReplicaPart(batchId: number, limit: number, fence: Fence, now = Date.now()): Promise<{ step: Step; workunits: number }> {
    return await this.store.transaction(async (tx) => {
      if (!(await fence(tx.sql))) return { step: 'fenced', workunits: 0 };
      const { done, workunits } = await this.replicate(tx, batchId, limit, now);
      return { step: done ? 'done' : 'more', workunits };
    });
  }

  private async replicate(tx: Tx, batchId: number, limit: number, now: number): Promise<{ done: boolean; workunits: number }> {
    // Locked: another instance making this batch's replicas waits, then starts where this one stopped.
    const through = await tx.work.lockReplicasThrough(batchId);
    if (through === undefined) return { done: true, workunits: 0 };
    const wus = await tx.work.workunitsAfter(batchId, through, limit);
    // Cancelled while waiting for its replicas: it gets none.
    const sets = wus.filter((w) => w.status === 'active').map((w) => ({ workunitId: w.id, priority: w.priority, count: w.target_nresults, kind: w.sentinel ? 'sentinel' as const : 'regular' as const }));
    await tx.work.insertReplicaSets(sets, now);
    if (wus.length > 0) await tx.work.setReplicasThrough(batchId, wus[wus.length - 1]!.id);
    return { done: wus.length < limit, workunits: wus.length };
  }

  /** A whole batch in one transaction: for small batches made in-process (the demo, tests). */
  async submitBatch(spec: BatchSpec, now = Date.now(), within?: Tx): Promise<Submitted> {
    const { workunits, ...header } = spec;
    return await this.store.within(within, async (tx) => {
      const stage = await this.begin(header, now, tx);
      if (!('app' in stage)) return stage;
      await this.addChunk(stage, workunits.map((value, i) => ({ value, where: `workunits[${i}]` })), now, tx);
      const submitted = await this.commit(stage, tx);
      await this.makeReplicas(stage.batchId, Number.MAX_SAFE_INTEGER, now, tx);
      return submitted;
    });
  }


  /**
   * Cancels up to `limit` open work units of the batch, in one transaction; their replicas out on
   * hosts are aborted. The batch is marked cancelled with its first part, so a crash midway
   * leaves a cancelled batch with open work units, which the coordinator finishes at start.
   */
  async cancelBatchPart(batchId: number, limit: number, outbox: Outbox, now = Date.now(), fence: Fence = UNFENCED): Promise<{ cancelled: number; done: boolean; fenced?: true }> {
    return await this.store.transaction(async (tx) => {
      if (!(await fence(tx.sql))) return { cancelled: 0, done: false, fenced: true };
      const ids = await tx.work.activeWorkunitsOfBatch(batchId, limit);
      for (const id of ids) {
        await tx.work.finishWorkunit(id, 'cancelled', null, 'cancelled by the researcher', now);
        await this.transitioner.transition(tx, id, now, outbox);
      }
      // A batch that already finished stays done: there was nothing left to cancel.
      if (ids.length > 0) await tx.work.markBatchCancelled(batchId);
      return { cancelled: ids.length, done: ids.length < limit };
    });
  }
}
