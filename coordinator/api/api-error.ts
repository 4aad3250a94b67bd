// Errors as the API answers them: a status, a stable code and a message for people. Domain
// errors (accounts, and every DomainError) map onto these at the edge.
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import type { ApiErrorBody, ApiErrorCode } from '../../protocol/api.js';
import { describeIssues } from '../../common/zod-message.js';
import { errorFields, type Logger } from '../../common/log.js';
import { AccountError } from '../accounts/account-service.js';
import { DomainError } from '../domain-error.js';

export type { ApiErrorCode } from '../../protocol/api.js';

const STATUS: Record<ApiErrorCode, number> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  timeout: 408,
  internal: 500,
};

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** For rate_limited: sent as Retry-After. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export function sendError(res: Response, code: ApiErrorCode, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(STATUS[code]).json({ error: { code, message } } satisfies ApiErrorBody);
}

/** Parses with a schema or fails with a 400 that says what was wrong. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ApiError('bad_request', `${what}: ${describeIssues(r.error)}`);
  return r.data;
}

function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof AccountError || err instanceof DomainError) {
    return new ApiError(err.code, err.message);
  }
  if (err instanceof z.ZodError) return new ApiError('bad_request', describeIssues(err));
  // body-parser and friends
  const e = err as { status?: number; type?: string; message?: string };
  if (e.type === 'entity.too.large') return new ApiError('too_large', 'the body is larger than allowed');
  if (e.type === 'entity.parse.failed') return new ApiError('bad_request', `the body is not valid JSON: ${e.message ?? ''}`);
  if (e.status === 415) return new ApiError('unsupported_media_type', e.message ?? 'unsupported content type');
  if (e.status && e.status >= 400 && e.status < 500) return new ApiError('bad_request', e.message ?? 'bad request');
  return undefined;
}

export function apiErrorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    // A body we stopped reading leaves the connection unusable for another request.
    if (!req.complete) res.setHeader('Connection', 'close');
    const e = toApiError(err);
    if (e?.retryAfterS !== undefined && !res.headersSent) res.setHeader('Retry-After', String(e.retryAfterS));
    if (e) return sendError(res, e.code, e.message);
    log.error('api request failed', { method: req.method, path: req.path, ...errorFields(err) });
    sendError(res, 'internal', 'internal error; nothing was changed');
  };
}
