// The canonical results of a batch as NDJSON, a page of rows at a time, so a million-unit batch
// is never held in memory: the HTTP route writes each piece and waits for the socket to drain.
// Outputs too large to store inline (up to 64 MiB each) come as files to stream, never strings.
import type { BlobStore } from '../files/blob-store.js';
import type { ReportStore } from '../store/report-store.js';

const PAGE = 500;
/** Inline text is handed on once this long. */
const FLUSH_CHARS = 1024 * 1024;

export type ResultPiece = { text: string } | { file: string };

/** Pieces of NDJSON in seq order: text, and files whose bytes go between two texts. */
export function* resultPieces(reports: ReportStore, blobs: BlobStore, batchId: number, onlyDone: boolean): Generator<ResultPiece> {
  let after = -1;
  let text = '';
  for (;;) {
    const rows = reports.results(batchId, after, onlyDone, PAGE);
    for (const row of rows) {
      if (row.status !== 'done') {
        text += `${JSON.stringify({ seq: row.seq, workunitId: row.workunitId, status: row.status, error: row.errorReason ?? row.status })}\n`;
      } else {
        // Outputs are canonical JSON text already, inline or in the blob store.
        const head = `{"seq":${row.seq},"workunitId":${row.workunitId},"status":"done","output":`;
        if (row.outputJson !== null || row.outputHash === null) {
          text += `${head}${row.outputJson ?? 'null'}}\n`;
        } else {
          yield { text: text + head };
          yield { file: blobs.pathOf(row.outputHash) };
          text = '}\n';
        }
      }
      if (text.length >= FLUSH_CHARS) {
        yield { text };
        text = '';
      }
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }
  if (text !== '') yield { text };
}
