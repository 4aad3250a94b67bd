// Request bodies within a limit per route, counted after decoding: a body that says it is over
// the limit is refused before a byte of it is read, a compressed one (gzip, deflate, br) is
// inflated a piece at a time and refused as soon as the inflated size passes the limit (a few
// kilobytes of gzip can inflate to gigabytes), and each piece can be looked at as it arrives
// (JSON nesting) so that a bad body is refused before it is all in. Nothing here parses.
import type { Request } from 'express';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { ApiError } from './api-error.js';

export interface BodyLimit {
  /** Most bytes, after decoding. */
  limit: number;
  /** What the 413 says, e.g. "a project is at most 64 KiB of JSON". */
  tooLarge: string;
  /** Looks at each decoded piece as it arrives; a message ends the reading with a 400 saying it. */
  inspect?(piece: Buffer): string | undefined;
}

/** Whether the request has a body at all (a length, or chunked). */
export function hasBody(req: Pick<Request, 'headers'>): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** The body as it arrives, decoded; refuses encodings this coordinator does not speak. */
function decoded(req: Request, allowCompressed: boolean): Readable {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity') return req;
  if (!allowCompressed) throw new ApiError('unsupported_media_type', `this body cannot be sent with Content-Encoding: ${encoding}; send it uncompressed`);
  const inflate = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
  if (!inflate) throw new ApiError('unsupported_media_type', `Content-Encoding ${encoding} is not supported (gzip, deflate, br or none)`);
  req.pipe(inflate);
  return inflate;
}

/** Stops reading a body the coordinator refused: the rest is discarded, and the connection closed after the answer. */
export function abandon(req: Request, stream?: Readable): void {
  if (stream && stream !== req) {
    req.unpipe(stream as Transform);
    stream.destroy();
  }
  req.resume();
}

/**
 * Reads a whole body within its limit (and its encoding, which may be compressed unless
 * `allowCompressed` is false). Throws an ApiError: 413 over the limit, 415 for an encoding it
 * does not speak, 400 for a bad gzip stream or what `inspect` finds.
 */
export async function readBody(req: Request, limit: BodyLimit, allowCompressed = true): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const encoded = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() !== 'identity';
  // A compressed body's length says nothing of its inflated size, but it may not be larger either.
  if (Number.isFinite(declared) && declared > limit.limit) {
    abandon(req);
    throw new ApiError('too_large', limit.tooLarge);
  }
  let stream: Readable;
  try {
    stream = decoded(req, allowCompressed);
  } catch (e) {
    abandon(req);
    throw e;
  }
  const pieces: Buffer[] = [];
  let size = 0;
  try {
    // Not destroyed when the loop ends early: destroying the request would take the answer's socket with it.
    for await (const piece of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      size += piece.length;
      if (size > limit.limit) throw new ApiError('too_large', limit.tooLarge);
      const problem = limit.inspect?.(piece);
      if (problem !== undefined) throw new ApiError('bad_request', problem);
      pieces.push(piece);
    }
  } catch (e) {
    abandon(req, stream);
    if (e instanceof ApiError) throw e;
    throw new ApiError('bad_request', encoded ? `the body does not decode: ${(e as Error).message}` : `the body was cut off: ${(e as Error).message}`);
  }
  return Buffer.concat(pieces, size);
}
