// JSON bodies: within a limit per route (after decoding: a gzip bomb stops at the limit), nested
// no deeper than any message may be (checked as the bytes arrive, before anything parses them:
// JSON.parse spends a second on 4 MiB of brackets), and parsed only then. A body in any other
// content type is a 415, not a confusing "expected object".
import type { NextFunction, Request, Response } from 'express';
import { MAX_MESSAGE_NESTING } from '../../protocol/limits.js';
import { NestingScan } from '../../protocol/json-depth.js';
import { ApiError, type ApiErrorCode } from './api-error.js';
import { hasBody, readBody } from './body.js';

/**
 * Reads and parses a JSON body of at most `limit` bytes, saying `tooLarge` when it is over.
 * `unsupported` is the code for a body in another charset (the volunteer protocol's routes have
 * no 415: docs/protocol.md §6).
 */
export async function readJson(
  req: Request,
  limit: number,
  tooLarge = `the body is larger than allowed (at most ${limit} bytes)`,
  unsupported: ApiErrorCode = 'unsupported_media_type',
): Promise<unknown> {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw new ApiError(unsupported, `unsupported charset "${charset}": send JSON as UTF-8`);
  const scan = new NestingScan(MAX_MESSAGE_NESTING);
  const bytes = await readBody(req, {
    limit,
    tooLarge,
    inspect: (piece) => (scan.write(piece) ? undefined : `the body nests deeper than ${MAX_MESSAGE_NESTING} levels`),
  }).catch((e: unknown) => {
    throw e instanceof ApiError && e.code === 'unsupported_media_type' ? new ApiError(unsupported, e.message) : e;
  });
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (e) {
    throw new ApiError('bad_request', `the body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Middleware: `req.body` is the parsed JSON body (left unset when there is no body). */
export function jsonBody(limit: number, unsupported: ApiErrorCode = 'unsupported_media_type') {
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    if (!hasBody(req)) return next();
    if (!req.is('application/json')) throw new ApiError(unsupported, 'send the body as application/json');
    req.body = await readJson(req, limit, undefined, unsupported);
    next();
  };
}
