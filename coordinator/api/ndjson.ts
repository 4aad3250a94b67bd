// Splits a streamed NDJSON request body into chunks of work units, one input per line, as it
// arrives: a million-line body is never held in memory whole.
import { StringDecoder } from 'node:string_decoder';
import { MAX_FILE_BYTES } from '../../protocol/limits.js';
import type { RawWorkunit } from '../work/submission.js';
import { ApiError } from './api-error.js';

const MAX_LINE_CHARS = MAX_FILE_BYTES + 1024;
/** A chunk is handed on at this many characters even if it has fewer lines: memory stays bounded. */
const MAX_CHUNK_CHARS = 16 * 1024 * 1024;

/** What a line holds: an input, or a whole work unit spec (`{input, replication?, expectedOutput?}`). */
export type LineFormat = 'inputs' | 'workunits';

function parseLine(text: string, lineNo: number, format: LineFormat): RawWorkunit {
  try {
    const value = JSON.parse(text) as unknown;
    return { value: format === 'inputs' ? { input: value } : value, where: `line ${lineNo}` };
  } catch (e) {
    throw new ApiError('bad_request', `line ${lineNo}: not valid JSON (${(e as Error).message})`);
  }
}

export async function* ndjsonWorkunits(body: AsyncIterable<Buffer | string>, chunkSize: number, format: LineFormat = 'inputs'): AsyncGenerator<RawWorkunit[]> {
  const decoder = new StringDecoder('utf8');
  // The unfinished line, as pieces: joined once when its newline arrives, so a long line costs
  // linear time.
  let parts: string[] = [];
  let partChars = 0;
  let lineNo = 0;
  let chunk: RawWorkunit[] = [];
  let chunkChars = 0;
  const take = (line: string) => {
    lineNo++;
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() === '') return;
    chunk.push(parseLine(text, lineNo, format));
    chunkChars += text.length;
  };
  for await (const piece of body) {
    const text = typeof piece === 'string' ? piece : decoder.write(piece);
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      parts.push(text.slice(start, nl));
      take(parts.join(''));
      parts = [];
      partChars = 0;
      start = nl + 1;
    }
    if (start < text.length) {
      parts.push(text.slice(start));
      partChars += text.length - start;
    }
    if (partChars > MAX_LINE_CHARS) throw new ApiError('too_large', `line ${lineNo + 1} is longer than ${MAX_LINE_CHARS} characters`);
    if (chunk.length >= chunkSize || chunkChars >= MAX_CHUNK_CHARS) {
      yield chunk;
      chunk = [];
      chunkChars = 0;
    }
  }
  const rest = decoder.end();
  if (rest !== '') parts.push(rest);
  if (parts.length > 0) take(parts.join(''));
  if (chunk.length > 0) yield chunk;
}
