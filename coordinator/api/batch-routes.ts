// Batches: submit (JSON or streamed NDJSON), follow, inspect, export results, cancel.
import { once } from 'node:events';
import { createReadStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { errorFields, type Logger } from '../../common/log.js';
import express from 'express';
import { z } from 'zod';
import { BatchChangeSchema, RetryRequestSchema, type BatchErrors, type BatchList, type Cancelled, type Retried, type Submitted, type WorkunitDetail, type WorkunitPage } from '../../protocol/api.js';
import type { StagedBatchKeeper } from '../cluster/staged-batches.js';
import type { OutputFiles } from '../files/output-files.js';
import type { StatusOf } from '../research/batch-status.js';
import { resultPieces } from '../research/results-export.js';
import { validationView } from '../research/validation-view.js';
import type { Store } from '../store/store.js';
import type { Repair } from '../work/repair.js';
import { INGEST_CHUNK, ingestBatch } from '../work/batch-ingest.js';
import { ReplicationSchema } from '../work/model.js';
import { BatchHeaderSchema, MAX_WORKUNITS_PER_BATCH } from '../work/submission.js';
import type { Submission, RawWorkunit } from '../work/submission.js';
import type { Access } from './access.js';
import { ApiError, parse } from './api-error.js';
import { caller } from './auth.js';
import { jsonBody, readJson } from './json-body.js';
import { ndjsonWorkunits } from './ndjson.js';
import { IdParam } from './params.js';

/**
 * A JSON batch body, after decoding. It is parsed whole, on the event loop (4 MiB take about
 * 20 ms; 95 MB took seconds and gigabytes): larger batches come as NDJSON, which streams.
 */
export const MAX_JSON_BATCH_BYTES = 4 * 1024 * 1024;
const JSON_BATCH_TOO_LARGE = `a JSON batch is at most ${MAX_JSON_BATCH_BYTES} bytes (4 MiB); send a larger one as NDJSON (Content-Type: application/x-ndjson, docs/api.md), which streams`;

const JsonBatchSchema = BatchHeaderSchema.omit({ appId: true }).extend({
  workunits: z.array(z.unknown()).min(1).max(MAX_WORKUNITS_PER_BATCH),
});

const num = z.coerce.number();
const NdjsonQuerySchema = z.strictObject({
  name: BatchHeaderSchema.shape.name,
  clientKey: BatchHeaderSchema.shape.clientKey,
  /** `workunits`: each line is `{input, replication?, expectedOutput?}` rather than a bare input. */
  lines: z.enum(['inputs', 'workunits']).default('inputs'),
  appVersion: num.pipe(z.number().int().positive()).optional(),
  minQuorum: num.pipe(ReplicationSchema.shape.minQuorum).optional(),
  targetNresults: num.pipe(ReplicationSchema.shape.targetNresults).optional(),
  maxErrorResults: num.pipe(ReplicationSchema.shape.maxErrorResults).optional(),
  maxTotalResults: num.pipe(ReplicationSchema.shape.maxTotalResults).optional(),
  maxSuccessResults: num.pipe(ReplicationSchema.shape.maxSuccessResults).optional(),
  delayBoundMs: num.pipe(ReplicationSchema.shape.delayBoundMs).optional(),
  fpopsEst: num.pipe(ReplicationSchema.shape.fpopsEst).optional(),
  priority: num.pipe(ReplicationSchema.shape.priority).optional(),
});

const ListQuerySchema = z.strictObject({
  projectId: IdParam.optional(),
  appId: IdParam.optional(),
  archived: z.stringbool().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
const WorkunitsQuerySchema = z.strictObject({
  status: z.enum(['active', 'done', 'failed', 'cancelled']).optional(),
  after: z.coerce.number().int().min(-1).default(-1),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const ErrorsQuerySchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
const ValidationQuerySchema = z.strictObject({
  filter: z.enum(['contested', 'all']).default('contested'),
  after: z.coerce.number().int().min(-1).default(-1),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const ResultsQuerySchema = z.strictObject({ status: z.enum(['done', 'finished']).default('finished') });

async function* arrayChunks(items: unknown[]): AsyncGenerator<RawWorkunit[]> {
  for (let i = 0; i < items.length; i += INGEST_CHUNK) {
    yield items.slice(i, i + INGEST_CHUNK).map((value, j) => ({ value, where: `workunits[${i + j}]` }));
  }
}

export function batchRoutes(deps: {
  store: Store;
  /** Who holds a submission in progress (cluster/staged-batches.ts). */
  stagedBatches: StagedBatchKeeper;
  outputs: OutputFiles;
  submission: Submission;
  access: Access;
  cancelBatch(batchId: number): Promise<number>;
  retryBatch(batchId: number, codes?: string[]): Promise<number>;
  repair: Repair;
  onCommitted(batchId: number): void;
  workAvailable(): void;
  statusOf: StatusOf;
  log: Logger;
  /** Longest NDJSON line: the largest input, plus room for a work unit's other fields. */
  maxLineChars: number;
}): express.Router {
  const { store, outputs, submission, access, log } = deps;
  const router = express.Router();
  const smallJson = jsonBody(16 * 1024);

  router.post('/apps/:id/batches', async (req, res) => {
    const app = await access.app(caller(res).account, parse(IdParam, req.params.id, 'app id'));
    let submitted: Submitted;
    if (req.is('application/x-ndjson') || req.is('application/jsonl')) {
      // Streamed, so it has no limit but its lines and work units: compressed, it would have none at all.
      if ((req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() !== 'identity') {
        throw new ApiError('unsupported_media_type', 'send an NDJSON batch uncompressed (no Content-Encoding)');
      }
      const { name, clientKey, lines, appVersion, ...replication } = parse(NdjsonQuerySchema, req.query, 'batch parameters');
      submitted = await ingestBatch(submission, { appId: app.id, name, clientKey, replication, appVersion }, ndjsonWorkunits(req, INGEST_CHUNK, lines, deps.maxLineChars), undefined, deps.stagedBatches);
      if (!submitted.created) req.resume();
    } else if (req.is('application/json')) {
      const body = await readJson(req, MAX_JSON_BATCH_BYTES, JSON_BATCH_TOO_LARGE);
      const { workunits, ...header } = parse(JsonBatchSchema, body, 'batch');
      submitted = await ingestBatch(submission, { ...header, appId: app.id }, arrayChunks(workunits), undefined, deps.stagedBatches);
    } else {
      throw new ApiError('unsupported_media_type', 'send the batch as application/json or application/x-ndjson');
    }
    if (submitted.created) deps.onCommitted(submitted.batchId);
    const project = await store.catalog.projectById(app.projectId);
    const warnings = project?.status === 'paused' ? [`project ${project.name} is paused: no task of this batch is sent until it is resumed`] : [];
    res.status(submitted.created ? 201 : 200).json({ ...submitted, ...(warnings.length > 0 ? { warnings } : {}) } satisfies Submitted);
  });

  router.get('/batches', async (req, res) => {
    const account = caller(res).account;
    const q = parse(ListQuerySchema, req.query, 'query');
    const now = Date.now();
    const rows = await store.reports.batches({ projectId: q.projectId, appId: q.appId, ownerId: access.ownerFilter(account), archived: q.archived }, q.limit);
    res.json({ batches: await Promise.all(rows.map((b) => deps.statusOf(b, now))) } satisfies BatchList);
  });

  router.get('/batches/:id', async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    res.json(await deps.statusOf(b, Date.now()));
  });

  router.get('/batches/:id/workunits', async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    const q = parse(WorkunitsQuerySchema, req.query, 'query');
    const workunits = await store.reports.workunits(b.id, q.status, q.after, q.limit);
    res.json({ workunits, next: workunits.length === q.limit ? workunits[workunits.length - 1]!.seq : null } satisfies WorkunitPage);
  });

  router.get('/workunits/:id', async (req, res) => {
    const id = parse(IdParam, req.params.id, 'work unit id');
    const wu = await access.workunit(caller(res).account, id);
    res.json({ ...wu, replicas: (await store.reports.replicas(id)) } satisfies WorkunitDetail);
  });

  // A replica's output, inline or uploaded as a file: uploaded outputs are not served to anyone
  // at /files (docs/protocol.md §5), only here, to whoever may see the work unit.
  router.get('/workunits/:id/replicas/:replicaId/output', async (req, res) => {
    const id = parse(IdParam, req.params.id, 'work unit id');
    await access.workunit(caller(res).account, id);
    const replicaId = parse(IdParam, req.params.replicaId, 'replica id');
    const replica = await store.work.replicaForResult(replicaId);
    if (!replica || replica.workunitId !== id) throw new ApiError('not_found', `no replica ${replicaId} in work unit ${id}`);
    const { outputJson, outputHash } = await store.work.output(replicaId);
    if (replica.outcome !== 'success' || outputHash === null) throw new ApiError('not_found', `replica ${replicaId} has no output (it did not succeed)`);
    res.type('application/json');
    if (outputJson !== null) return void res.send(outputJson);
    const path = outputs.pathOf(outputHash);
    if ((await outputs.status(store, outputHash)) !== 'canonical' || !existsSync(path)) {
      throw new ApiError('not_found', `the output file of replica ${replicaId} is not stored (any more): outputs no result can count on are removed`);
    }
    // dotfiles: the path is built from a checked hash, but the data dir may sit under ~/.local.
    res.sendFile(path, { dotfiles: 'allow' });
  });

  router.get('/batches/:id/errors', async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    const q = parse(ErrorsQuerySchema, req.query, 'query');
    res.json({ byCode: (await store.reports.errorCodes(b.id)), errors: (await store.reports.errors(b.id, q.limit)) } satisfies BatchErrors);
  });

  router.get('/batches/:id/validation', async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    const q = parse(ValidationQuerySchema, req.query, 'query');
    res.json(await validationView(store.reports, b.id, { all: q.filter === 'all', afterSeq: q.after, limit: q.limit }));
  });

  router.get('/batches/:id/results', async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    const q = parse(ResultsQuerySchema, req.query, 'query');
    res.status(200);
    res.type('application/x-ndjson');
    res.setHeader('Content-Disposition', `attachment; filename="batch-${b.id}-results.ndjson"`);
    res.setHeader('Cache-Control', 'no-store');
    try {
      for await (const piece of resultPieces(store, outputs, b.id, q.status === 'done')) {
        if (res.destroyed) return;
        if ('file' in piece) await pipeline(createReadStream(piece.file), res, { end: false });
        else if (!res.write(piece.text)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
      res.end();
    } catch (e) {
      // The status line is gone: cutting the connection is the only honest signal of a broken download.
      log.error('results export failed', { batchId: b.id, ...errorFields(e) });
      res.destroy();
    }
  });

  router.post('/batches/:id/cancel', async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    res.json({ cancelled: await deps.cancelBatch(b.id) } satisfies Cancelled);
  });

  router.post('/batches/:id/retry', smallJson, async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    const { codes } = parse(RetryRequestSchema, req.body ?? {}, 'retry');
    res.json({ retried: await deps.retryBatch(b.id, codes) } satisfies Retried);
  });

  router.patch('/batches/:id', smallJson, async (req, res) => {
    const b = await access.batch(caller(res).account, parse(IdParam, req.params.id, 'batch id'));
    const change = parse(BatchChangeSchema, req.body, 'batch change');
    if (change.appVersion !== undefined) {
      await deps.repair.pin(b.id, b.appId, change.appVersion);
      deps.workAvailable();
    }
    if (change.archived !== undefined) {
      // One transaction: a retry cannot reopen the batch between the check and the archiving.
      await store.transaction(async (tx) => {
        const now = (await tx.reports.batch(b.id))!;
        const open = (await tx.reports.workunitCounts(b.id)).active > 0 && !now.cancelled;
        if (change.archived && open) throw new ApiError('conflict', `batch ${b.id} is still running: only a finished or cancelled batch can be archived`);
        await tx.reports.setArchived(b.id, change.archived ? Date.now() : null);
      });
    }
    res.json((await deps.statusOf((await store.reports.batch(b.id))!, Date.now())));
  });

  return router;
}
