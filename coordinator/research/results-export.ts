// The canonical results of a batch as NDJSON, a page at a time, so a million-unit batch is
// never held in memory: the HTTP route writes each page and waits for the socket to drain.
import type { BlobStore } from '../files/blob-store.js';
import type { ReportStore, ResultRow } from '../store/report-store.js';

const PAGE = 500;

function line(row: ResultRow, blobs: BlobStore): string {
  if (row.status === 'done') {
    // Outputs too large to store inline live in the blob store; both are canonical JSON already.
    const output = row.outputJson ?? (row.outputHash !== null ? blobs.read(row.outputHash).toString('utf8') : 'null');
    return `{"seq":${row.seq},"workunitId":${row.workunitId},"status":"done","output":${output}}\n`;
  }
  return `${JSON.stringify({ seq: row.seq, workunitId: row.workunitId, status: row.status, error: row.errorReason ?? row.status })}\n`;
}

/** Pages of NDJSON lines in seq order. */
export function* resultPages(reports: ReportStore, blobs: BlobStore, batchId: number, onlyDone: boolean): Generator<string> {
  let after = -1;
  for (;;) {
    const rows = reports.results(batchId, after, onlyDone, PAGE);
    if (rows.length === 0) return;
    yield rows.map((r) => line(r, blobs)).join('');
    after = rows[rows.length - 1]!.seq;
    if (rows.length < PAGE) return;
  }
}
