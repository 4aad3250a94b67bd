// The canonical results of a batch as NDJSON, a page of rows at a time, so a million-unit batch
// is never held in memory: the HTTP route writes each piece and waits for the socket to drain.
// Outputs too large to store inline (up to 64 MiB each) come as files to stream, never strings;
// a file goes in only if it is canonical JSON, so every line is one JSON object the coordinator
// framed, whatever a volunteer uploaded.
import type { OutputFiles } from '../files/output-files.js';
import type { Repositories } from '../store/store.js';

const PAGE = 500;
/** Inline text is handed on once this long. */
const FLUSH_CHARS = 1024 * 1024;

export type ResultPiece = { text: string } | { file: string };

/** Pieces of NDJSON in seq order: text, and files whose bytes go between two texts. */
export async function* resultPieces(db: Repositories, outputs: OutputFiles, batchId: number, onlyDone: boolean): AsyncGenerator<ResultPiece> {
  let after = -1;
  let text = '';
  for (;;) {
    const rows = await db.reports.results(batchId, after, onlyDone, PAGE);
    for (const row of rows) {
      if (row.status !== 'done') {
        text += `${JSON.stringify({ seq: row.seq, workunitId: row.workunitId, status: row.status, error: row.errorReason ?? row.status })}\n`;
      } else {
        // Outputs are canonical JSON text already: inline ones as the coordinator encoded them,
        // files as checked (a result accepted before files were checked may name one that is not).
        const head = `{"seq":${row.seq},"workunitId":${row.workunitId},"status":"done","output":`;
        const file = row.outputJson === null && row.outputHash !== null ? await outputs.status(db, row.outputHash) : undefined;
        if (file === undefined) {
          text += `${head}${row.outputJson ?? 'null'}}\n`;
        } else if (file === 'canonical') {
          yield { text: text + head };
          yield { file: outputs.pathOf(row.outputHash!) };
          text = '}\n';
        } else {
          const error = file === 'missing' ? 'its output file is missing' : 'its output file is not canonical JSON (accepted before outputs were checked)';
          text += `${JSON.stringify({ seq: row.seq, workunitId: row.workunitId, status: row.status, error })}\n`;
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
