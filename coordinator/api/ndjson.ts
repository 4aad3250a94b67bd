// Splits a streamed NDJSON request body into chunks of work units, one input per line, as it
// arrives: a million-line body is never held in memory whole.
import { StringDecoder } from 'node:string_decoder';
import { MAX_FILE_BYTES } from '../../protocol/limits.js';
import type { RawWorkunit } from '../work/submission.js';
import { ApiError } from './api-error.js';

const MAX_LINE_CHARS = MAX_FILE_BYTES + 1024;

function parseLine(text: string, lineNo: number): RawWorkunit {
  try {
    return { value: { input: JSON.parse(text) as unknown }, where: `line ${lineNo}` };
  } catch (e) {
    throw new ApiError('bad_request', `line ${lineNo}: not valid JSON (${(e as Error).message})`);
  }
}

export async function* ndjsonWorkunits(body: AsyncIterable<Buffer | string>, chunkSize: number): AsyncGenerator<RawWorkunit[]> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  let chunk: RawWorkunit[] = [];
  const take = (line: string) => {
    lineNo++;
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() !== '') chunk.push(parseLine(text, lineNo));
  };
  for await (const piece of body) {
    pending += typeof piece === 'string' ? piece : decoder.write(piece);
    let nl: number;
    let start = 0;
    while ((nl = pending.indexOf('\n', start)) !== -1) {
      take(pending.slice(start, nl));
      start = nl + 1;
    }
    pending = pending.slice(start);
    if (pending.length > MAX_LINE_CHARS) throw new ApiError('too_large', `line ${lineNo + 1} is longer than ${MAX_LINE_CHARS} characters`);
    if (chunk.length >= chunkSize) {
      yield chunk;
      chunk = [];
    }
  }
  pending += decoder.end();
  if (pending !== '') take(pending);
  if (chunk.length > 0) yield chunk;
}
