// What a researcher sees of a batch: counts, throughput, ETA and a finished-per-bucket series.
import type { BatchState, BatchStatus, BlockedReason, ReplicaCounts, SeriesPoint } from '../../protocol/api.js';
import type { BatchRow, ReportStore } from '../store/report-store.js';

export const THROUGHPUT_WINDOW_MS = 60_000;
const MAX_BUCKETS = 120;
const MIN_BUCKET_MS = 1000;

/** Buckets wide enough that the batch's life fits in MAX_BUCKETS, in round seconds. */
export function bucketSize(spanMs: number): number {
  const raw = Math.max(MIN_BUCKET_MS, Math.ceil(spanMs / MAX_BUCKETS));
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
  return steps.find((s) => s >= raw) ?? Math.ceil(raw / 86_400_000) * 86_400_000;
}

/** A batch's status as shown, given how to tell why it cannot move. */
export type StatusOf = (batch: BatchRow, now: number) => Promise<BatchStatus>;

export async function batchStatus(
  reports: ReportStore,
  batch: BatchRow,
  now: number,
  blockage: (open: number, replicas: ReplicaCounts) => Promise<BlockedReason[]> = async () => [],
): Promise<BatchStatus> {
  const counts = await reports.workunitCounts(batch.id);
  const total = counts.active + counts.done + counts.failed + counts.cancelled;
  const replicas = await reports.replicaCounts(batch.id);

  const open = counts.active > 0;
  const status: BatchState = batch.cancelled ? 'cancelled' : open ? 'active' : 'done';
  const finishedAt = open ? null : await reports.lastFinished(batch.id);
  const end = finishedAt ?? now;

  // Throughput over the last minute of the batch's life (or its whole life if shorter), in
  // whole seconds of its life, as finishes are counted.
  const life = end - batch.createdAt;
  const fromSecond = Math.max(0, Math.ceil((life - THROUGHPUT_WINDOW_MS) / 1000));
  const windowMs = Math.max(1, life - fromSecond * 1000);
  const perSecond = ((await reports.finishedSince(batch.id, fromSecond)) * 1000) / windowMs;
  const etaMs = !open ? 0 : perSecond > 0 ? Math.round((counts.active / perSecond) * 1000) : null;

  const bucketMs = bucketSize(end - batch.createdAt);
  const byBucket = new Map<number, SeriesPoint>();
  for (const row of await reports.finishedSeries(batch.id, bucketMs / 1000)) {
    const b = Math.max(0, row.bucket); // a clock set back may finish one before its batch began
    const point = byBucket.get(b) ?? { t: batch.createdAt + b * bucketMs, done: 0, failed: 0 };
    point.done += row.done;
    point.failed += row.failed;
    byBucket.set(b, point);
  }
  const lastBucket = Math.floor((end - batch.createdAt) / bucketMs);
  const points = Array.from({ length: lastBucket + 1 }, (_, b) => byBucket.get(b) ?? { t: batch.createdAt + b * bucketMs, done: 0, failed: 0 });

  return {
    id: batch.id,
    projectId: batch.projectId,
    projectName: batch.projectName,
    appId: batch.appId,
    appName: batch.appName,
    name: batch.name,
    clientKey: batch.clientKey,
    status,
    appVersion: batch.pinnedVersion,
    archived: batch.archived,
    createdAt: batch.createdAt,
    finishedAt,
    workunits: { total, ...counts },
    replicas,
    throughput: { workunitsPerSecond: Math.round(perSecond * 100) / 100, windowMs },
    etaMs,
    series: { bucketMs, points },
    blocked: batch.cancelled ? [] : await blockage(counts.active, replicas),
  };
}
