// Splits a streamed NDJSON request body into chunks of work units, one input per line, as it
// arrives: a million-line body is never held in memory whole. A line is held until its newline
// (at most `maxLineChars`), checked for nesting without parsing, then parsed; chunks are handed
// on at `chunkSize` lines or about MAX_CHUNK_CHARS characters, so that what the coordinator does
// with one chunk (encode, hash, insert) stays a short stretch of the event loop.
import { StringDecoder } from 'node:string_decoder';
import { NestingScan } from '../../protocol/json-depth.js';
import { MAX_MESSAGE_NESTING } from '../../protocol/limits.js';
import type { RawWorkunit } from '../work/submission.js';
import { ApiError } from './api-error.js';

/** A chunk is handed on once it holds this many characters, even with fewer lines: each chunk is a few tens of milliseconds of work. */
const MAX_CHUNK_CHARS = 2 * 1024 * 1024;

/** What a line holds: an input, or a whole work unit spec (`{input, replication?, expectedOutput?}`). */
export type LineFormat = 'inputs' | 'workunits';

function parseLine(text: string, lineNo: number, format: LineFormat): RawWorkunit {
  // Before JSON.parse, which is slow on deep nesting, and anything that recurses over the value.
  if (!new NestingScan(MAX_MESSAGE_NESTING).write(text)) {
    throw new ApiError('bad_request', `line ${lineNo}: nested deeper than ${MAX_MESSAGE_NESTING} levels (canonical JSON allows 64)`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    return { value: format === 'inputs' ? { input: value } : value, where: `line ${lineNo}` };
  } catch (e) {
    throw new ApiError('bad_request', `line ${lineNo}: not valid JSON (${(e as Error).message})`);
  }
}

export async function* ndjsonWorkunits(
  body: AsyncIterable<Buffer | string>,
  chunkSize: number,
  format: LineFormat = 'inputs',
  maxLineChars = 4 * 1024 * 1024,
): AsyncGenerator<RawWorkunit[]> {
  const decoder = new StringDecoder('utf8');
  // The unfinished line, as pieces: joined once when its newline arrives, so a long line costs
  // linear time.
  let parts: string[] = [];
  let partChars = 0;
  let lineNo = 0;
  let chunk: RawWorkunit[] = [];
  let chunkChars = 0;
  const lines: string[] = [];
  function* take(): Generator<RawWorkunit[]> {
    for (const line of lines) {
      lineNo++;
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (text.length > maxLineChars) throw new ApiError('too_large', `line ${lineNo} is longer than ${maxLineChars} characters`);
      if (text.trim() === '') continue;
      // A long line goes in a chunk of its own rather than on top of a full one.
      if (chunk.length > 0 && (chunk.length >= chunkSize || chunkChars + text.length > MAX_CHUNK_CHARS)) {
        yield chunk;
        chunk = [];
        chunkChars = 0;
      }
      chunk.push(parseLine(text, lineNo, format));
      chunkChars += text.length;
    }
    lines.length = 0;
  }
  for await (const piece of body) {
    const text = typeof piece === 'string' ? piece : decoder.write(piece);
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      parts.push(text.slice(start, nl));
      lines.push(parts.join(''));
      parts = [];
      partChars = 0;
      start = nl + 1;
    }
    if (start < text.length) {
      parts.push(text.slice(start));
      partChars += text.length - start;
    }
    yield* take();
    if (partChars > maxLineChars + 1) throw new ApiError('too_large', `line ${lineNo + 1} is longer than ${maxLineChars} characters`);
  }
  const rest = decoder.end();
  if (rest !== '') parts.push(rest);
  if (parts.length > 0) lines.push(parts.join(''));
  yield* take();
  if (chunk.length > 0) yield chunk;
}
